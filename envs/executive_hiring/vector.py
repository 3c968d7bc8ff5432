"""The single-agent view of Executive Hiring, batched: ``num_envs`` levels stepped by numpy.

:class:`ExecutiveHiringViewVector` is the vector form of
:class:`envs.executive_hiring.env.ExecutiveHiringView` (the same levels, dynamics,
observations, rewards and autoreset seeds as a ``SyncVectorEnv`` of views; a test
pins this), so that a learner trains on millions of quarters in minutes. It is
registered as the view ids' ``vector_entry_point``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.executive_hiring.core import (
    BACKGROUND_ACTION,
    CONTROLLED,
    DRESS,
    INFLATION,
    N_ACTIONS,
    OBJECTIVES,
    OBS,
    OBS_BOUND,
    OBS_V0,
    PAY_FORECAST,
    PRIVATE_BENEFIT,
    PROMOTION_BUDGET,
    VALUE_FORECAST,
    make_level,
    obs_fields,
    unit_gains,
    value_greedy,
)
from envs.executive_hiring.env import check_config, observation_space
from envs.family import EVAL_SEED_BASE
from envs.mixture import LevelMixture

_TERMINATIONS = np.array(["", "fired", "contract_end"], dtype=object)
#: The kwargs a level mixture may vary from level to level: how often tenure is
#: audited changes what a level holds, not the observation or the contract.
MIXABLE_KWARGS = ("tenure_audit_rate",)
#: Salt of the hash that assigns a level to a mixture's component.
_MIX_SALT = 0x6A1E_5EED_0B0A


class ExecutiveHiringViewVector(VectorEnv):
    """``num_envs`` single-agent views of Executive Hiring, stepped together.

    Same kwargs as :class:`~envs.executive_hiring.env.ExecutiveHiringEnv`. The
    learner is ``candidate_0`` of every level; its colleagues play the
    value-greedy action (:func:`~envs.executive_hiring.core.value_greedy`) and the
    background candidates their type's action, as in the view. Gymnasium 1.x
    ``NEXT_STEP`` autoreset: the step after an episode ends resets that slot (its
    action is ignored, reward 0, neither terminated nor truncated).
    ``reset(seed=s)`` gives slot ``i`` the level seed ``s + i`` (or ``seed[i]``
    for a list); each later level of slot ``i`` is drawn below
    ``EVAL_SEED_BASE`` from ``np.random.default_rng(s + i)``, as a view reset
    with that seed draws its own.

    ``info``: ``objectives`` (name -> float64 ``(B,)``, the learner's
    episode-so-far totals), ``termination`` (object ``(B,)``, ``""`` where no
    episode ended) with mask ``_termination``, ``level_seed`` (int64 ``(B,)``)
    with mask ``_level_seed`` (the slots reset by this call).

    ``level_mixture``: training on a mixture of distributions, ``[(split kwargs,
    share), ...]``: that share of levels (decided per level seed, see
    :class:`~envs.mixture.LevelMixture`) has the component's ``tenure_audit_rate``
    (the only kwarg that may differ), the rest the env's own.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "autoreset_mode": AutoresetMode.NEXT_STEP,
    }

    #: ``reset(seed=[...], options={"reset_mask": m})`` resets only the slots in ``m``
    #: (level samplers such as PLR choose each slot's next level this way).
    resets_single_slots: ClassVar[bool] = True

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        level_mixture: Sequence[tuple[dict[str, Any], float]] | None = None,
        **kwargs: Any,
    ) -> None:
        if render_mode is not None:
            raise ValueError("the batched view does not render; render a single view")
        cfg = check_config(kwargs)
        self.config = cfg
        self.mixture: LevelMixture | None = None
        if level_mixture:
            defaults = {k: cfg[k] for k in MIXABLE_KWARGS}
            self.mixture = LevelMixture(
                kwargs, level_mixture, mixable=MIXABLE_KWARGS, defaults=defaults, salt=_MIX_SALT
            )
        self.num_envs = B = int(num_envs)
        self.n_controlled = int(cfg["n_controlled"])
        self.n_candidates = n = self.n_controlled + int(cfg["n_background"])
        self.trial_quarters = int(cfg["trial_quarters"])
        self.quarters = Q = self.trial_quarters + int(cfg["tenure_quarters"])
        self.pay_basis = str(cfg["pay_basis"])
        self.market = bool(cfg["market"])
        self.render_mode = None
        self.single_observation_space = observation_space(self.market)
        self.single_action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, B)
        self.action_space = batch_space(self.single_action_space, B)
        self._obs_dim = len(obs_fields(self.market))
        # Levels.
        self.level_seed = np.zeros(B, dtype=np.int64)
        self.productivity = np.ones((B, n))
        self.audits = np.ones((B, n, Q), dtype=bool)
        self.contribution = np.zeros((B, n, Q, N_ACTIONS))
        self.profit = np.zeros((B, n, Q, N_ACTIONS))
        self.pay_forecast = np.zeros((B, Q, N_ACTIONS))  # the learner's
        self.value_forecast = np.zeros((B, Q, N_ACTIONS))  # the learner's
        self.planned = np.zeros((B, n, Q), dtype=np.int64)  # everyone but the learner
        # State.
        self.quarter = np.zeros(B, dtype=np.int64)
        self.active = np.ones((B, n), dtype=bool)
        self.promoted = np.full(B, -1, dtype=np.int64)
        self.record = np.zeros((B, n))
        self.totals = np.zeros((B, len(OBJECTIVES)))  # the learner's
        self.cash = np.zeros(B)
        self.last_metric = np.zeros(B)
        self.last_profit = np.zeros(B)
        self._rngs: list[np.random.Generator | None] = [None] * B
        self._autoreset = np.zeros(B, dtype=bool)
        self._rows = np.arange(B)[:, None]
        self._cands = np.arange(n)[None, :]

    # ------------------------------------------------------------------ levels

    def _load(self, slot: int, level_seed: int) -> None:
        cfg = self.config
        audit_rate = float(cfg["tenure_audit_rate"])
        if self.mixture is not None:
            audit_rate = float(self.mixture.params(np.array([level_seed]))["tenure_audit_rate"][0])
        level = make_level(
            level_seed, self.n_controlled, int(cfg["n_background"]), self.trial_quarters,
            int(cfg["tenure_quarters"]), audit_rate, self.market, float(cfg["forecast_noise"]),
        )  # fmt: skip
        self.level_seed[slot] = level_seed
        self.productivity[slot] = level.productivity
        self.audits[slot] = level.audits
        self.contribution[slot] = level.contribution
        self.profit[slot] = level.profit
        self.pay_forecast[slot] = unit_gains(
            "pay", level.contribution[0], level.profit[0], level.audits[0], self.pay_basis
        )
        self.value_forecast[slot] = level.value_forecast[0]
        planned = value_greedy(level)
        background = level.kind != CONTROLLED
        planned[background] = BACKGROUND_ACTION[level.kind[background]][:, None]
        self.planned[slot] = planned
        self.quarter[slot] = 0
        self.active[slot] = True
        self.promoted[slot] = -1
        self.record[slot] = 0.0
        self.totals[slot] = 0.0
        self.cash[slot] = 0.0
        self.last_metric[slot] = 0.0
        self.last_profit[slot] = 0.0

    def _next_seed(self, slot: int) -> int:
        rng = self._rngs[slot]
        if rng is None:  # never seeded: as an unseeded view, from fresh entropy
            rng = self._rngs[slot] = np.random.default_rng()
        return int(rng.integers(0, EVAL_SEED_BASE))

    # ------------------------------------------------------------------ views

    def _budget(self) -> np.ndarray:
        promoted = (self._cands == self.promoted[:, None]) & (
            self.quarter[:, None] >= self.trial_quarters
        )
        return self.productivity * np.where(promoted, PROMOTION_BUDGET, 1.0)

    def _observe(self) -> np.ndarray:
        B, Q = self.num_envs, self.quarters
        q = self.quarter
        obs = np.zeros((B, self._obs_dim), dtype=np.float32)
        layout = OBS if self.market else OBS_V0
        live = q < Q
        qc = np.minimum(q, Q - 1)
        obs[:, layout["progress"]] = np.minimum(q, Q) / Q
        obs[:, layout["trial"]] = q < self.trial_quarters
        obs[:, layout["tenure"]] = q >= self.trial_quarters
        obs[:, layout["promoted"]] = self.promoted == 0
        obs[:, layout["budget"]] = self._budget()[:, 0]
        obs[:, layout["remaining"]] = np.maximum(Q - q, 0) / Q
        if self.market:
            rows = np.arange(B)
            obs[:, PAY_FORECAST] = np.where(live[:, None], self.pay_forecast[rows, qc], 0.0)
            obs[:, VALUE_FORECAST] = np.where(live[:, None], self.value_forecast[rows, qc], 0.0)
        else:
            obs[:, layout["audit_due"]] = live & self.audits[np.arange(B), 0, qc]
            obs[:, layout["last_metric"]] = self.last_metric
            obs[:, layout["last_profit"]] = self.last_profit
            obs[:, layout["cash"]] = self.cash / Q
            obs[:, layout["pay_on_metric"]] = float(self.pay_basis == "metric")
        return np.clip(obs, -OBS_BOUND, OBS_BOUND)

    def _info(self, reset: np.ndarray, code: np.ndarray) -> dict[str, Any]:
        return {
            "objectives": {name: self.totals[:, k].copy() for k, name in enumerate(OBJECTIVES)},
            "_objectives": np.ones(self.num_envs, dtype=bool),
            "termination": _TERMINATIONS[code],
            "_termination": code > 0,
            "level_seed": self.level_seed.copy(),
            "_level_seed": reset.copy(),
        }

    # ------------------------------------------------------------------ API

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        B = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * B
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(B)]
        else:
            seeds = list(seed)
            if len(seeds) != B:
                raise ValueError(f"expected {B} seeds, got {len(seeds)}")
        mask = np.ones(B, dtype=bool)
        if options and options.get("reset_mask") is not None:
            mask = np.asarray(options["reset_mask"], dtype=bool).reshape(B)
        for i in np.flatnonzero(mask).tolist():
            s = seeds[i]
            if s is not None:
                self._rngs[i] = np.random.default_rng(int(s))
                self._load(i, int(s))
            else:
                self._load(i, self._next_seed(i))
        self._autoreset[mask] = False
        return self._observe(), self._info(mask, np.zeros(B, dtype=np.int64))

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        B = self.num_envs
        actions = np.asarray(actions, dtype=np.int64).reshape(B)
        resetting = self._autoreset.copy()
        live = ~resetting
        if ((actions[live] < 0) | (actions[live] >= N_ACTIONS)).any():
            raise ValueError(f"actions outside Discrete({N_ACTIONS}): {actions}")
        q = np.minimum(self.quarter, self.quarters - 1)
        rows = self._rows
        acts = self.planned[rows, self._cands, q[:, None]]
        acts[:, 0] = np.where(live, actions, acts[:, 0])
        budget = self._budget()
        audited = self.audits[rows, self._cands, q[:, None]]
        acting = self.active & live[:, None]
        caught = acting & audited & (acts == DRESS)
        contribution = self.contribution[rows, self._cands, q[:, None], acts] * budget
        profit = self.profit[rows, self._cands, q[:, None], acts] * budget
        metric = np.where(caught, profit, profit + INFLATION[acts] * budget)
        # The learner's gains (it is acting in every live slot).
        c0, m0 = contribution[:, 0], metric[:, 0]
        private0 = PRIVATE_BENEFIT[acts[:, 0]] * budget[:, 0]
        pay0 = np.where(audited[:, 0], c0, m0) if self.pay_basis == "audit" else m0
        gains = np.stack([c0, m0, private0, pay0], axis=1) * live[:, None]
        before = self.totals[:, 0].copy()
        self.totals += gains
        self.cash += np.where(live, profit[:, 0], 0.0)
        self.last_metric = np.where(live, m0, self.last_metric)
        self.last_profit = np.where(live, profit[:, 0], self.last_profit)
        trial = (self.quarter < self.trial_quarters)[:, None]
        self.record += np.where(acting & trial, contribution, 0.0)
        self.active &= ~caught
        self.quarter += live
        decide = live & (self.quarter == self.trial_quarters)
        for b in np.flatnonzero(decide).tolist():
            eligible = self.active[b]
            self.promoted[b] = (
                int(np.argmax(np.where(eligible, self.record[b], -np.inf)))
                if eligible.any()
                else -1
            )
        fired = live & caught[:, 0]
        ended = live & ~fired & (self.quarter >= self.quarters)
        terminated = fired | ended
        code = np.where(fired, 1, np.where(ended, 2, 0))
        # As the view measures it: the change of the learner's company_value total.
        reward = self.totals[:, 0] - before
        obs = self._observe()
        if resetting.any():
            for b in np.flatnonzero(resetting).tolist():
                self._load(b, self._next_seed(b))
            obs[resetting] = self._observe()[resetting]
        self._autoreset = terminated
        truncated = np.zeros(B, dtype=bool)
        return obs, reward, terminated, truncated, self._info(resetting, code)

    def close(self, **kwargs: Any) -> None:
        pass


__all__ = ["ExecutiveHiringViewVector"]
