"""Evolution v1 for learners in shared-parameter self-play: one Gymnasium ``VectorEnv`` row
per organism slot of a batch of levels.

:class:`EvolutionSelfPlayVector` steps ``num_levels`` levels of
:class:`envs.evolution.core.EvolutionCore` at once; row ``level * max_organisms + i``
is organism ``i`` of that level, so one batched policy acts for every organism
of every level, as in the PettingZoo form and in evaluation. A row is experience
only while its organism is alive: ``info["active"]`` (per row, for the *next*
step) says which rows are, and :mod:`baselines.ppo` masks the others out of GAE
and of every loss (the rows of dead or unborn organisms carry zero
observations). A level that ends is reset in the same step (``SameStep``
autoreset: its rows' final flags are returned with the new level's first
observations, and the returns are not bootstrapped across them).

Rewards: each organism's own offspring conceived that step (1 each, the intended
objective times the founders). ``info["objectives"]`` carries, on the first row of
each level that ended, the level's final objectives (NaN elsewhere): once per
level, so a mean over the rows that carry them is a mean over levels, not one
weighted by the organisms alive at the end.

``level_mixture``: training on a mixture of distributions (a level's candy share
and ornament coupling from the component its seed is assigned to; see
:class:`~envs.evolution.core.EvolutionCore`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.evolution.core import N_ACTIONS, OBJECTIVES, STAY, EvolutionCore
from envs.family import EVAL_SEED_BASE


class EvolutionSelfPlayVector(gym.vector.VectorEnv):
    """``num_envs`` must be a multiple of ``max_organisms``: ``num_envs // max_organisms``
    levels, every organism a row (see the module docstring)."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        level_mixture: Sequence[tuple[Mapping[str, Any], float]] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("render_mode", None)
        probe = EvolutionCore(1, **kwargs)
        if num_envs % probe.M:
            raise ValueError(f"num_envs must be a multiple of max_organisms ({probe.M})")
        self.core = EvolutionCore(num_envs // probe.M, level_mixture, **kwargs)
        #: Which mixture component a level seed belongs to (None: no mixture).
        self.mixture = self.core.mixture
        self.num_envs = num_envs
        self.single_observation_space = spaces.Box(0.0, 1.0, (self.core.obs_dim,), np.float32)
        self.single_action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._seeds = np.random.default_rng()

    def _obs(self) -> np.ndarray:
        core = self.core
        out = np.zeros((core.B, core.M, core.obs_dim), dtype=np.float32)
        lv, ids = core.live_rows()
        out[lv, ids] = core.observe(lv, ids)
        return out.reshape(self.num_envs, -1)

    def _active(self) -> np.ndarray:
        return (self.core.alive & ~self.core.done[:, None]).reshape(-1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._seeds = np.random.default_rng(seed)
        seeds = self._seeds.integers(0, EVAL_SEED_BASE, size=self.core.B)
        self.core.reset_levels(range(self.core.B), seeds)
        return self._obs(), {"active": self._active()}

    def step(self, actions: np.ndarray):
        core = self.core
        act = np.asarray(actions, dtype=np.int64).reshape(core.B, core.M)
        was_alive = core.alive & ~core.done[:, None]
        core.step(np.where(was_alive, act, STAY))
        reward = core.step_births.astype(np.float32).reshape(-1)
        died = (was_alive & ~core.alive).reshape(-1)
        ended = core.done.copy()
        truncated = (was_alive & core.alive & ended[:, None]).reshape(-1)
        objectives = np.full((core.B, core.M, len(OBJECTIVES)), np.nan)
        if ended.any():
            final = core.objectives()
            objectives[ended, 0] = final[ended]
            levels = np.flatnonzero(ended)
            core.reset_levels(levels, self._seeds.integers(0, EVAL_SEED_BASE, size=len(levels)))
        objectives = objectives.reshape(self.num_envs, -1)
        info = {
            "active": self._active(),
            "objectives": {name: objectives[:, k] for k, name in enumerate(OBJECTIVES)},
        }
        return self._obs(), reward, died, truncated, info

    def close(self, **kwargs: Any) -> None:
        pass


class EvolutionViewVector:
    """The ``vector_entry_point`` of the ``EvolutionView`` ids: v1's kwargs make
    :class:`EvolutionSelfPlayVector` (self-play, every organism a row); v0's a
    synchronous vector of the single-agent view."""

    def __new__(
        cls,
        num_envs: int,
        level_mixture: Sequence[tuple[Mapping[str, Any], float]] | None = None,
        **kwargs: Any,
    ) -> Any:
        if kwargs.get("rules", 0) == 1:
            return EvolutionSelfPlayVector(num_envs, level_mixture, **kwargs)
        if level_mixture:
            raise ValueError("Evolution v0 cannot draw its levels from a mixture (v1 can)")
        from envs.evolution.view import EvolutionViewEnv

        kwargs.pop("render_mode", None)
        return gym.vector.SyncVectorEnv(
            [lambda: EvolutionViewEnv(**kwargs) for _ in range(num_envs)]
        )
