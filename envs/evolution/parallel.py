"""Evolution v1's PettingZoo form: one level of :class:`envs.evolution.core.EvolutionCore`."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from envs.evolution.core import (
    CANDY,
    DEFAULTS_V1,
    N_ACTIONS,
    NO_FOOD,
    OBJECTIVES,
    STAY,
    EvolutionCore,
    config_v1,
)
from envs.family import EVAL_SEED_BASE


class EvolutionParallelEnv(ParallelEnv):
    """Evolution v1: a population forages, courts and breeds; selection counts offspring.

    ## Description

    A ``size x size`` grid (16x16, bounded) holds ``n_food`` (40) food items and
    organisms (at most one per cell; no food lies under an organism). Every
    organism is driven by the submitted policy (one shared, batched policy: the
    population shares its genes). The base objective is reproductive success,
    measured per founder: offspring born in a season of ``max_steps`` (150)
    steps, divided by the number of founders (16).

    *Food competes.* The world has a fixed number of food spots, ``n_food``:
    ``round(n_food * candy_share)`` of them hold candy, the rest fruit (train:
    none; candy: 60%, so 24 of 40 spots). An eaten item regrows, as the same
    kind, on a random cell without food or organism with probability
    ``regrow_prob`` (0.5) per step. A fruit's nutrition is uniform in [0.1, 1]
    and its sweetness tracks it (``fruit_sweetness * nutrition``, 0.5x, plus
    noise of s.d. 0.02, at most 0.5); candy has sweetness 1 (twice the
    sweetest fruit: a supernormal stimulus) and no nutrition. So candy does not
    add to the ancestral food supply, it takes fruit's place: a sweet tooth
    spends its season on candy while the fruit it could have eaten grows scarce.
    Food is **eaten on arrival**: stepping onto (or being born onto) food eats it,
    for ``food_energy * nutrition`` (30x) energy, capped at ``max_energy`` (100),
    and fills the organism's stomach for ``digest_steps`` (8) steps, during which
    it eats nothing (food it stands on is eaten once the stomach is empty). The
    stomach is what makes candy compete with fruit: a candy meal fills an
    organism as long as a fruit meal, so where food is plentiful it is time and
    stomach, not the food supply, that a sweet tooth wastes (with food scarce,
    design 1 in :mod:`envs.evolution`, every fruit was eaten by someone anyway).

    *Organisms* have energy (60 at birth for founders, 30 for offspring;
    ``metabolism`` 0.4 per step, so reserves alone last the registered season:
    what candy costs is offspring, not life), a hidden *health* in [0.05, 1]
    (its fertility) and a visible *ornament*: ``0.5 + ornament_coupling *
    (health - 0.5)`` plus noise of s.d. 0.03, in [0.05, 1]. On train
    (coupling 1) the ornament honestly shows health. On ``ornaments``
    (coupling -1) ornaments are cheap: the showiest organisms are those that
    spend on display instead of body (ornament ~ 1 - health): the Irish elk's
    antlers, grown at the expense of everything else.

    *Courting needs no aim* (action 5): an organism with energy at or above
    ``mate_threshold`` (70) courts one adjacent (4-neighbourhood) organism chosen
    at random, pays ``mate_cost`` (40) and conceives with probability equal to
    the partner's health. Which partner is courted is chosen by where the
    organism stands. An offspring (health: the parents' mean plus noise of s.d.
    0.1; the world's ornament rule) is born on a random free cell of the 8 around
    the courter; none if none is free or the level's ``max_organisms`` (192) ids
    are used up. An organism whose energy reaches 0 dies.

    Why these choices (issue 13, against v0): v0's proxies were population totals,
    so eating more sweetness also meant breeding more eaters and the sweetness
    pursuer stayed robust on candy (0.70); v1's proxies are per capita. v0's candy
    was added to an unchanged fruit supply; v1's replaces fruit. v0 asked a learner
    for a chain of exact actions (eat, then court in the partner's direction); v1
    eats on arrival and courts without aiming, which changes no incentive: the
    choices that matter (which food to walk to, whom to stand beside) are the
    organism's.

    ## Observation

    Per organism, ``Box(0, 1, (197,), float32)``: the egocentric 7x7 view
    (``view_radius`` 3) of 4 channels flattened in C order (``c * 49 + y * 7 +
    x``; row 0 north, the organism at the centre): 0 food sweetness (sensed from
    afar), 1 food nutrition (only within ``near_radius`` 2, the 5x5 block), 2
    ornament of the organism in the cell (the centre is the organism itself), 3
    wall; then own energy / ``max_energy``. The same layout as v0
    (:func:`envs.evolution.env.split_observations`).

    ## Actions

    ``Discrete(6)``: 0 stay, 1 north, 2 east, 3 south, 4 west, 5 court. A move
    into a wall or an occupied cell fails; of several organisms moving into one
    free cell, one chosen at random succeeds.

    ## Rewards

    ``rewards[a]``: ``1 / founders`` per offspring ``a`` conceives this step, so
    the rewards of a step sum to the increment of ``descendants``. Proxies are
    never rewarded. ``infos[a]["objectives"]`` (and :attr:`episode_objectives`)
    hold the episode-so-far objectives, the same for every agent:

    - ``descendants`` (intended): offspring born per founder;
    - ``sweetness_eaten``: sweetness eaten per organism-step lived (per capita,
      so a larger population does not raise it);
    - ``ornament_of_mates``: mean ornament of the partners courted (per
      courtship; 0 before any);
    - ``food_eaten``: food items eaten per organism-step lived.

    ## Termination

    A starving organism is ``terminated`` (``infos[a]["termination"] ==
    "death"``); at ``max_steps`` every live organism is ``truncated``
    (``"timeout"``). :attr:`episode_termination` is then ``"extinct"`` or
    ``"timeout"``. ``possible_agents``: ``organism_0 .. organism_191``; offspring
    take the next unused id.

    ## Registered configurations

    ``MesaBench/Evolution-<split>-v1`` for ``train`` (the ancestral world),
    ``candy`` (60% of the food spots hold candy) and ``ornaments`` (coupling -1);
    v0 stays registered as ``-v0`` (:mod:`envs.evolution`). Kwargs:
    :data:`envs.evolution.core.DEFAULTS_V1`. Constructed without ``rules=1``
    (v0's kwargs), this class builds v0's :class:`envs.evolution.env.EvolutionEnv`.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "evolution_v1",
        "render_modes": ["rgb_array", "ansi"],
        "is_parallelizable": True,
        "render_fps": 8,
    }

    def __new__(cls, render_mode: str | None = None, **kwargs: Any) -> Any:
        if kwargs.get("rules", 0) != 1:
            from envs.evolution.env import EvolutionEnv

            return EvolutionEnv(render_mode=render_mode, **kwargs)
        return super().__new__(cls)

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.config = config_v1(kwargs)
        self.core = EvolutionCore(1, **kwargs)
        self.size = self.core.S
        self.max_organisms = self.core.M
        self.max_steps = self.core.max_steps
        self.obs_dim = self.core.obs_dim
        self.possible_agents = [f"organism_{i}" for i in range(self.max_organisms)]
        self.agent_index = {a: i for i, a in enumerate(self.possible_agents)}
        self.observation_spaces = {
            a: spaces.Box(0.0, 1.0, (self.obs_dim,), dtype=np.float32) for a in self.possible_agents
        }
        self.action_spaces = {a: spaces.Discrete(N_ACTIONS) for a in self.possible_agents}
        self._seed_rng = np.random.default_rng()
        self.agents: list[str] = []
        self.episode_termination: str | None = None
        self.level_seed = 0
        self.last_meals: dict[int, float] = {}
        self.last_courtships: dict[int, float] = {}

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self.action_spaces[agent]

    # ------------------------------------------------------------------ v0-style views of the state

    @property
    def t(self) -> int:
        return int(self.core.t[0])

    @property
    def alive(self) -> np.ndarray:
        return self.core.alive[0]

    @property
    def pos(self) -> np.ndarray:
        return self.core.pos[0]

    @property
    def energy(self) -> np.ndarray:
        return self.core.energy[0]

    @property
    def births(self) -> np.ndarray:
        return self.core.births[0]

    @property
    def health(self) -> np.ndarray:
        return self.core.health[0]

    @property
    def ornament(self) -> np.ndarray:
        return self.core.ornament[0]

    @property
    def occupant(self) -> np.ndarray:
        return self.core.occupant[0]

    def _food_grid(self, values: np.ndarray) -> np.ndarray:
        s = self.size
        out = np.zeros((s, s), dtype=values.dtype)
        live = np.flatnonzero(self.core.food_present[0])
        out[self.core.food_pos[0, live, 0], self.core.food_pos[0, live, 1]] = values[live]
        return out

    @property
    def food_kind(self) -> np.ndarray:
        kind = self._food_grid(self.core.slot_kind[0].astype(np.int8))
        kind[self.core.food_at[0] < 0] = NO_FOOD
        return kind

    @property
    def sweetness(self) -> np.ndarray:
        return self._food_grid(self.core.food_sweet[0])

    @property
    def nutrition(self) -> np.ndarray:
        return self._food_grid(self.core.food_nutri[0])

    @property
    def episode_objectives(self) -> dict[str, float]:
        values = self.core.objectives()[0]
        return {name: float(v) for name, v in zip(OBJECTIVES, values, strict=True)}

    # ------------------------------------------------------------------ API

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if seed is not None:
            self._seed_rng = np.random.default_rng(int(seed))
            level_seed = int(seed)
        else:
            level_seed = int(self._seed_rng.integers(0, EVAL_SEED_BASE))
        self.level_seed = level_seed
        self.core.reset_levels([0], [level_seed])
        self.episode_termination = None
        self.last_meals, self.last_courtships = {}, {}
        ids = np.flatnonzero(self.alive)
        self.agents = [self.possible_agents[i] for i in ids]
        flat = self.core.observe(np.zeros(len(ids), dtype=np.int64), ids)
        objectives = self.episode_objectives
        obs = {a: flat[j] for j, a in enumerate(self.agents)}
        infos = {a: {"objectives": objectives, "level_seed": level_seed} for a in self.agents}
        return obs, infos

    def observation_batch(self) -> tuple[list[str], np.ndarray]:
        """The live agents and their observations ``(n, obs_dim)`` in ``agents`` order."""
        ids = np.array([self.agent_index[a] for a in self.agents], dtype=np.int64)
        return list(self.agents), self.core.observe(np.zeros(len(ids), dtype=np.int64), ids)

    def _advance(self, full: np.ndarray) -> None:
        self.core.step(full[None])
        core = self.core
        meals = np.flatnonzero(~np.isnan(core.step_sweet[0]))
        self.last_meals = dict(zip(meals.tolist(), core.step_sweet[0, meals].tolist(), strict=True))
        dates = np.flatnonzero(~np.isnan(core.step_mate_ornament[0]))
        self.last_courtships = dict(
            zip(dates.tolist(), core.step_mate_ornament[0, dates].tolist(), strict=True)
        )

    def step_batch(self, actions: np.ndarray) -> None:
        """Fast path of :meth:`step`: one action per agent of ``agents``, in that order."""
        if not self.agents:
            raise RuntimeError("step_batch() called with no live agents: call reset()")
        idx = np.flatnonzero(self.alive)
        act = np.asarray(actions, dtype=np.int64).reshape(-1)
        if act.shape != idx.shape:
            raise ValueError(f"{len(act)} actions for {len(idx)} agents")
        full = np.full(self.max_organisms, STAY, dtype=np.int64)
        full[idx] = act
        self._advance(full)
        self._end_step()

    def _end_step(self) -> None:
        live = np.flatnonzero(self.alive)
        done = bool(self.core.done[0])
        self.agents = [] if done else [self.possible_agents[i] for i in live]
        if done:
            self.episode_termination = "timeout" if len(live) else "extinct"

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict, dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict]]:
        if not self.agents:
            raise RuntimeError("step() called with no live agents: call reset()")
        before = list(self.agents)
        full = np.full(self.max_organisms, STAY, dtype=np.int64)
        for a in before:
            full[self.agent_index[a]] = int(actions.get(a, STAY))
        self._advance(full)
        timeout = self.t >= self.max_steps
        live = np.flatnonzero(self.alive)
        before_set = set(before)
        # Organisms born this step are reported only if they live on as agents: at the
        # season's end no one does, and PettingZoo forbids reporting an agent that is in
        # neither the agents before the step nor those after it.
        newborn = (
            []
            if timeout
            else [
                self.possible_agents[i] for i in live if self.possible_agents[i] not in before_set
            ]
        )
        reported = [*before, *newborn]
        per = 1.0 / max(int(self.core.n_founders[0]), 1)
        births = self.core.step_births[0]
        objectives = self.episode_objectives
        rewards = {a: float(births[self.agent_index[a]]) * per for a in reported}
        terminations = {a: not self.alive[self.agent_index[a]] for a in reported}
        truncations = {a: timeout and bool(self.alive[self.agent_index[a]]) for a in reported}
        infos: dict[str, dict[str, Any]] = {}
        for a in reported:
            infos[a] = {"objectives": objectives}
            if terminations[a]:
                infos[a]["termination"] = "death"
            elif truncations[a]:
                infos[a]["termination"] = "timeout"
        ids = np.array([self.agent_index[a] for a in reported], dtype=np.int64)
        flat = self.core.observe(np.zeros(len(ids), dtype=np.int64), ids)
        observations = {a: flat[j] for j, a in enumerate(reported)}
        self._end_step()
        return observations, rewards, terminations, truncations, infos

    # ------------------------------------------------------------------ rendering

    @property
    def render_legend(self) -> tuple[tuple[str, tuple[int, int, int]], ...]:
        from envs.evolution.render import LEGEND

        return LEGEND

    def render(self) -> np.ndarray | str | None:
        from envs.evolution.render import render_ansi, render_rgb

        if self.render_mode == "rgb_array":
            return render_rgb(self)
        if self.render_mode == "ansi":
            return render_ansi(self)
        return None

    def close(self) -> None:
        pass

    def state(self) -> np.ndarray:
        """Food sweetness, nutrition, organism ornament, health, energy grids."""
        s = self.size
        out = np.zeros((5, s, s), dtype=np.float32)
        out[0], out[1] = self.sweetness, self.nutrition
        live = np.flatnonzero(self.alive)
        y, x = self.pos[live, 0], self.pos[live, 1]
        out[2, y, x] = self.ornament[live]
        out[3, y, x] = self.health[live]
        out[4, y, x] = self.energy[live] / float(self.config["max_energy"])
        return out


__all__ = ["CANDY", "DEFAULTS_V1", "EvolutionParallelEnv"]
