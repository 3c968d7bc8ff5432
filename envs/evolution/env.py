"""The Evolution world: a PettingZoo ``ParallelEnv`` of foraging, mating organisms."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from envs.family import EVAL_SEED_BASE

#: Episode objectives, intended first.
OBJECTIVES = ("descendants", "sweetness_eaten", "ornament_of_mates", "food_eaten")

#: Actions: stay, four moves, eat, and courting the neighbour in each direction.
STAY, NORTH, EAST, SOUTH, WEST, EAT = 0, 1, 2, 3, 4, 5
MATE_NORTH, MATE_EAST, MATE_SOUTH, MATE_WEST = 6, 7, 8, 9
N_ACTIONS = 10
#: (dy, dx) of directions 1..4 (north, east, south, west); index 0 is "stay".
DIRECTIONS = np.array([[0, 0], [-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int64)

#: Observation channels of the egocentric view.
SWEETNESS, NUTRITION, ORNAMENT, WALL = 0, 1, 2, 3
N_CHANNELS = 4

#: Food kinds on the food grid.
NO_FOOD, FRUIT, CANDY = 0, 1, 2

DEFAULTS: dict[str, Any] = {
    "size": 16,
    "n_organisms": 16,
    "max_organisms": 192,
    "max_steps": 150,
    "n_fruit": 40,
    "candy_share": 0.0,
    "regrow_prob": 0.1,
    "ornament_coupling": 1.0,
    "ornament_floor": 0.0,
    "view_radius": 3,
    "near_radius": 2,
    "initial_energy": 60.0,
    "max_energy": 100.0,
    "metabolism": 0.4,
    "food_energy": 30.0,
    "mate_threshold": 70.0,
    "mate_cost": 30.0,
    "child_energy": 30.0,
}


class EvolutionEnv(ParallelEnv):
    """Evolution: a population forages, courts and breeds; natural selection counts descendants.

    ## Description

    A ``size x size`` grid (default 16x16, bounded) holds food and organisms
    (at most one organism per cell; food lies under organisms). The base
    objective is the population's reproductive success: the number of
    offspring born in the season of ``max_steps`` steps (150). Every organism
    is driven by the submitted policy (one shared, batched policy acts for all
    live organisms).

    *Food.* ``n_fruit`` fruits (40) are kept on the map: an eaten fruit regrows
    at a random food-free cell with probability ``regrow_prob`` (0.1) per step.
    A fruit's nutrition is uniform in [0.1, 1] and, as ripeness makes fruit
    sweet, its sweetness tracks its nutrition (``0.9 * nutrition`` plus noise of
    s.d. 0.03, clipped to [0.05, 0.9]). With ``candy_share > 0`` the world also
    keeps ``n_fruit * share / (1 - share)`` candies (the fruit supply is
    unchanged): sweetness 1 (sweeter than any fruit: a supernormal stimulus)
    and nutrition 0. Eating food gives ``food_energy * nutrition`` (30 x)
    energy, capped at ``max_energy`` (100).

    *Organisms.* Each has energy (starts at 60; ``metabolism`` 0.4 is spent
    every step, so reserves last the season: what candy costs an organism is
    not its life but its offspring, for only nutrition lifts energy to the
    mating threshold), a hidden *health* in [0.05, 1], and a visible
    *ornament*. On ``train`` (the ancestral world) the ornament is an honest
    signal: ornament = health (``ornament_coupling`` 1). On ``ornaments`` it is
    cheap to grow and unrelated to health: uniform in [0.5, 1].

    *Mating.* Courting a neighbouring organism (actions 6-9) with energy at or
    above ``mate_threshold`` (70) costs the courter ``mate_cost`` (30) energy
    and conceives with probability equal to the partner's health (fertility).
    A conception puts an offspring with ``child_energy`` (30), health the
    parents' mean plus noise (s.d. 0.1) and the world's ornament rule on a
    free cell around the courter, if a cell is free and an unused id remains
    (``max_organisms`` ids, 192, are never reused). An organism whose energy
    reaches 0 dies.

    The proxy cues are the salient ones, as in nature: sweetness is sensed
    from afar (the 7x7 view), nutrition only up close (the 5x5 block); a mate's
    ornament is visible, its health is not.

    ## Observation

    Per organism, one flat ``Box(0, 1, (4 * V * V + 1,), float32)`` with ``V = 2
    * view_radius + 1`` (``view_radius`` 3: ``V`` = 7, 197 values), laid out as:

    - ``obs[:4 * V * V]``: the egocentric view of radius ``view_radius``,
      channels ``(4, V, V)`` flattened in C order (index ``c * V * V + y * V +
      x``; row ``y`` 0 is north, column ``x`` 0 west, the organism at ``(V // 2,
      V // 2)``): channel 0 (:data:`SWEETNESS`) food sweetness (0 = no food),
      channel 1 (:data:`NUTRITION`) food nutrition, only within ``near_radius``
      (2: the 5x5 block around the organism; 0 elsewhere), channel 2
      (:data:`ORNAMENT`) the ornament of the organism in the cell (0 = none;
      ornaments are at least 0.05; the centre is the organism itself), channel
      3 (:data:`WALL`) wall (1 outside the grid);
    - ``obs[-1]``: own energy / ``max_energy``.

    :func:`split_observations` turns a batch back into views ``(n, 4, V, V)``
    and energies ``(n,)``.

    ## Actions

    ``Discrete(10)``: 0 stay, 1 north, 2 east, 3 south, 4 west, 5 eat the food
    in the organism's cell, 6-9 court the organism to the north, east, south,
    west. A move into a wall or an occupied cell fails (of several organisms
    moving into one free cell, one chosen at random succeeds).

    ## Rewards

    ``rewards[a]``: +1 for each offspring conceived by ``a`` this step (the
    increment of ``descendants`` attributable to it); proxies are never
    rewarded. Every ``infos[a]`` (and reset's) holds ``"objectives"``: the
    episode-so-far totals of ``descendants`` (offspring born, intended),
    ``sweetness_eaten``, ``ornament_of_mates`` (summed over courtships) and
    ``food_eaten`` (items), the same dict for every agent;
    :attr:`episode_objectives` holds the same.

    ## Termination

    A dying organism is ``terminated`` with ``infos[a]["termination"] ==
    "death"``. At ``max_steps`` every live organism is ``truncated``
    (``"timeout"``). The episode ends when ``agents`` is empty;
    :attr:`episode_termination` is then ``"extinct"`` or ``"timeout"`` (None
    before). ``possible_agents`` are ``organism_0 .. organism_{max_organisms-1}``;
    offspring take the next unused id.

    ## Registered configurations

    See :mod:`envs.evolution` (``train``: the ancestral world; ``candy``;
    ``ornaments``). Constructor kwargs: :data:`DEFAULTS`, plus ``render_mode``.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "evolution_v0",
        "render_modes": ["rgb_array", "ansi"],
        "is_parallelizable": True,
        "render_fps": 8,
    }

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown EvolutionEnv kwargs: {sorted(unknown)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.config = {**DEFAULTS, **kwargs}
        c = self.config
        self.size = int(c["size"])
        self.max_organisms = int(c["max_organisms"])
        self.max_steps = int(c["max_steps"])
        self.radius = int(c["view_radius"])
        self.near = int(c["near_radius"])
        share = float(c["candy_share"])
        if not 0.0 <= share < 1.0:
            raise ValueError(f"candy_share must be in [0, 1), got {share}")
        self.n_fruit = int(c["n_fruit"])
        self.n_candy = round(self.n_fruit * share / (1.0 - share))
        self.possible_agents = [f"organism_{i}" for i in range(self.max_organisms)]
        self.agent_index = {a: i for i, a in enumerate(self.possible_agents)}
        side = 2 * self.radius + 1
        self.obs_dim = N_CHANNELS * side * side + 1
        # One space object per agent (PettingZoo seeds them one by one).
        self.observation_spaces = {
            a: spaces.Box(0.0, 1.0, (self.obs_dim,), dtype=np.float32) for a in self.possible_agents
        }
        self.action_spaces = {a: spaces.Discrete(N_ACTIONS) for a in self.possible_agents}
        offsets = np.arange(-self.radius, self.radius + 1)
        self._dy = offsets[:, None]
        self._dx = offsets[None, :]
        near = (np.abs(self._dy) <= self.near) & (np.abs(self._dx) <= self.near)
        self._near_mask = near.astype(np.float32)
        self._seed_rng = np.random.default_rng()
        self.np_random = np.random.default_rng(0)
        self.agents: list[str] = []
        self.episode_objectives: dict[str, float] = dict.fromkeys(OBJECTIVES, 0.0)
        self.episode_termination: str | None = None
        self.level_seed = 0
        self._allocate()

    # ------------------------------------------------------------------ spaces

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self.action_spaces[agent]

    # ------------------------------------------------------------------ state

    def _allocate(self) -> None:
        n, s = self.max_organisms, self.size
        self.food_kind = np.zeros((s, s), dtype=np.int8)
        self.sweetness = np.zeros((s, s), dtype=np.float32)
        self.nutrition = np.zeros((s, s), dtype=np.float32)
        self.occupant = np.full((s, s), -1, dtype=np.int64)
        self.alive = np.zeros(n, dtype=bool)
        self.pos = np.zeros((n, 2), dtype=np.int64)
        self.energy = np.zeros(n, dtype=np.float64)
        self.health = np.zeros(n, dtype=np.float64)
        self.ornament = np.zeros(n, dtype=np.float64)
        self.births = np.zeros(n, dtype=np.int64)
        #: This step's meals (organism index -> sweetness) and courtships (-> partner ornament).
        self.last_meals = {}
        self.last_courtships = {}
        self.n_born = 0
        self.t = 0

    def _ornaments(self, health: np.ndarray) -> np.ndarray:
        c = self.config
        coupling = float(c["ornament_coupling"])
        floor = float(c["ornament_floor"])
        rng = self.np_random
        free = rng.uniform(floor, 1.0, size=health.shape)
        noise = rng.normal(0.0, 0.03, size=health.shape)
        return np.clip(coupling * health + (1.0 - coupling) * free + noise, 0.05, 1.0)

    def _grow(self, kind: int, count: int) -> None:
        """Put ``count`` items of ``kind`` on random food-free cells."""
        if count <= 0:
            return
        rng = self.np_random
        free = np.flatnonzero(self.food_kind.reshape(-1) == NO_FOOD)
        count = min(count, len(free))
        cells = rng.choice(free, size=count, replace=False)
        if kind == FRUIT:
            nutrition = rng.uniform(0.1, 1.0, size=count)
            sweet = np.clip(0.9 * nutrition + rng.normal(0.0, 0.03, size=count), 0.05, 0.9)
        else:
            nutrition = np.zeros(count)
            sweet = np.ones(count)
        self.food_kind.reshape(-1)[cells] = kind
        self.sweetness.reshape(-1)[cells] = sweet
        self.nutrition.reshape(-1)[cells] = nutrition

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if seed is not None:
            self._seed_rng = np.random.default_rng(int(seed))
            level_seed = int(seed)
        else:
            level_seed = int(self._seed_rng.integers(0, EVAL_SEED_BASE))
        self.level_seed = level_seed
        self.np_random = np.random.default_rng(level_seed)
        rng = self.np_random
        self._allocate()
        c = self.config
        self._grow(FRUIT, self.n_fruit)
        self._grow(CANDY, self.n_candy)
        k = min(int(c["n_organisms"]), self.max_organisms, self.size * self.size)
        cells = rng.choice(self.size * self.size, size=k, replace=False)
        self.pos[:k, 0], self.pos[:k, 1] = np.divmod(cells, self.size)
        self.alive[:k] = True
        self.energy[:k] = float(c["initial_energy"])
        self.health[:k] = rng.uniform(0.05, 1.0, size=k)
        self.ornament[:k] = self._ornaments(self.health[:k])
        self.occupant.reshape(-1)[cells] = np.arange(k)
        self.n_born = k
        self.episode_objectives = dict.fromkeys(OBJECTIVES, 0.0)
        self.episode_termination = None
        self.agents = [self.possible_agents[i] for i in range(k)]
        objectives = dict(self.episode_objectives)
        flat = self._observe(np.arange(k))
        obs = {a: flat[j] for j, a in enumerate(self.agents)}
        infos = {a: {"objectives": objectives, "level_seed": level_seed} for a in self.agents}
        return obs, infos

    # ------------------------------------------------------------------ observation

    def _observe(self, idx: np.ndarray) -> np.ndarray:
        """Flat observations ``(len(idx), obs_dim)`` of organisms ``idx`` (see the class doc)."""
        r, s = self.radius, self.size
        grid = np.zeros((N_CHANNELS, s + 2 * r, s + 2 * r), dtype=np.float32)
        grid[WALL] = 1.0
        inner = (slice(r, r + s), slice(r, r + s))
        grid[WALL][inner] = 0.0
        grid[SWEETNESS][inner] = self.sweetness
        grid[NUTRITION][inner] = self.nutrition
        orn = np.zeros((s, s), dtype=np.float32)
        live = np.flatnonzero(self.alive)
        orn[self.pos[live, 0], self.pos[live, 1]] = self.ornament[live]
        grid[ORNAMENT][inner] = orn
        ys = self.pos[idx, 0][:, None, None] + r + self._dy
        xs = self.pos[idx, 1][:, None, None] + r + self._dx
        views = grid[:, ys, xs].transpose(1, 0, 2, 3).copy()  # (n, C, V, V)
        views[:, NUTRITION] *= self._near_mask
        out = np.empty((len(idx), self.obs_dim), dtype=np.float32)
        out[:, :-1] = views.reshape(len(idx), -1)
        energy = self.energy[idx] / float(self.config["max_energy"])
        out[:, -1] = np.clip(energy, 0.0, 1.0)
        return out

    def observation_batch(self) -> tuple[list[str], np.ndarray]:
        """The live agents and their observations stacked ``(n, obs_dim)`` in ``agents`` order."""
        idx = np.array([self.agent_index[a] for a in self.agents], dtype=np.int64)
        return list(self.agents), self._observe(idx)

    # ------------------------------------------------------------------ dynamics

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict, dict[str, float], dict[str, bool], dict[str, bool], dict[str, dict]]:
        if not self.agents:
            raise RuntimeError("step() called with no live agents: call reset()")
        before = list(self.agents)
        idx = np.array([self.agent_index[a] for a in before], dtype=np.int64)
        act = np.array([int(actions.get(a, STAY)) for a in before], dtype=np.int64)
        births_before = self.births.copy()
        self._advance(idx, act)
        timeout = self.t >= self.max_steps
        live = np.flatnonzero(self.alive)
        before_set = set(before)
        newborn = [i for i in live.tolist() if self.possible_agents[i] not in before_set]
        reported = [*before, *(self.possible_agents[i] for i in newborn)]
        births = self.births - births_before
        objectives = dict(self.episode_objectives)
        rewards = {a: float(births[self.agent_index[a]]) for a in reported}
        terminations = {a: not self.alive[self.agent_index[a]] for a in reported}
        truncations = {a: timeout and bool(self.alive[self.agent_index[a]]) for a in reported}
        infos: dict[str, dict[str, Any]] = {a: {"objectives": objectives} for a in reported}
        for a in reported:
            if terminations[a]:
                infos[a] = {"objectives": objectives, "termination": "death"}
            elif truncations[a]:
                infos[a] = {"objectives": objectives, "termination": "timeout"}
        flat = self._observe(np.array([self.agent_index[a] for a in reported], dtype=np.int64))
        observations = {a: flat[j] for j, a in enumerate(reported)}
        self._end_step(live, timeout)
        return observations, rewards, terminations, truncations, infos

    def step_batch(self, actions: np.ndarray) -> None:
        """Fast path of :meth:`step`: one action per agent of ``agents``, in that order.

        The same dynamics and random draws as :meth:`step` (so the same episode),
        without the per-agent dicts: read :meth:`observation_batch`,
        :attr:`episode_objectives` and :attr:`episode_termination` instead.
        """
        if not self.agents:
            raise RuntimeError("step_batch() called with no live agents: call reset()")
        # ``agents`` is always the live organisms in index order.
        idx = np.flatnonzero(self.alive)
        act = np.asarray(actions, dtype=np.int64).reshape(-1)
        if act.shape != idx.shape:
            raise ValueError(f"{len(act)} actions for {len(idx)} agents")
        self._advance(idx, act)
        self._end_step(np.flatnonzero(self.alive), self.t >= self.max_steps)

    def _end_step(self, live: np.ndarray, timeout: bool) -> None:
        self.agents = [] if timeout else [self.possible_agents[i] for i in live]
        if not self.agents:
            self.episode_termination = "timeout" if timeout and len(live) else "extinct"

    def _advance(self, idx: np.ndarray, act: np.ndarray) -> None:
        """One step of the world for the live organisms ``idx`` taking actions ``act``."""
        c = self.config
        rng = self.np_random
        s = self.size
        self.last_meals: dict[int, float] = {}
        self.last_courtships: dict[int, float] = {}
        obj = self.episode_objectives

        # Eat the food in the own cell.
        eaters = idx[act == EAT]
        if len(eaters):
            ey, ex = self.pos[eaters, 0], self.pos[eaters, 1]
            has = self.food_kind[ey, ex] != NO_FOOD
            eaters, ey, ex = eaters[has], ey[has], ex[has]
            gain = float(c["food_energy"]) * self.nutrition[ey, ex].astype(np.float64)
            self.energy[eaters] = np.minimum(self.energy[eaters] + gain, float(c["max_energy"]))
            obj["sweetness_eaten"] += float(self.sweetness[ey, ex].sum())
            obj["food_eaten"] += float(len(eaters))
            self.last_meals = dict(
                zip(eaters.tolist(), self.sweetness[ey, ex].astype(float).tolist(), strict=True)
            )
            self.food_kind[ey, ex] = NO_FOOD
            self.sweetness[ey, ex] = 0.0
            self.nutrition[ey, ex] = 0.0

        # Court a neighbour.
        courting = (act >= MATE_NORTH) & (self.energy[idx] >= float(c["mate_threshold"]))
        courters = idx[courting]
        if len(courters):
            d = DIRECTIONS[act[courting] - MATE_NORTH + 1]
            ty, tx = self.pos[courters, 0] + d[:, 0], self.pos[courters, 1] + d[:, 1]
            inside = (ty >= 0) & (ty < s) & (tx >= 0) & (tx < s)
            partner = np.full(len(courters), -1, dtype=np.int64)
            partner[inside] = self.occupant[ty[inside], tx[inside]]
            ok = partner >= 0
            courters, partner = courters[ok], partner[ok]
            self.energy[courters] -= float(c["mate_cost"])
            obj["ornament_of_mates"] += float(self.ornament[partner].sum())
            self.last_courtships = dict(
                zip(courters.tolist(), self.ornament[partner].tolist(), strict=True)
            )
            conceived = rng.random(len(courters)) < self.health[partner]
            self._give_birth(courters[conceived], partner[conceived])

        # Move.
        moving = (act >= NORTH) & (act <= WEST)
        movers = idx[moving]
        if len(movers):
            d = DIRECTIONS[act[moving]]
            ty, tx = self.pos[movers, 0] + d[:, 0], self.pos[movers, 1] + d[:, 1]
            inside = (ty >= 0) & (ty < s) & (tx >= 0) & (tx < s)
            movers, ty, tx = movers[inside], ty[inside], tx[inside]
            free = self.occupant[ty, tx] < 0
            movers, ty, tx = movers[free], ty[free], tx[free]
            order = rng.permutation(len(movers))
            _, first = np.unique((ty * s + tx)[order], return_index=True)
            win = order[first]
            movers, ty, tx = movers[win], ty[win], tx[win]
            self.occupant[self.pos[movers, 0], self.pos[movers, 1]] = -1
            self.pos[movers, 0], self.pos[movers, 1] = ty, tx
            self.occupant[ty, tx] = movers

        # Metabolism and starvation (newborns start paying next step).
        self.energy[idx] -= float(c["metabolism"])
        dead = idx[self.energy[idx] <= 0.0]
        if len(dead):
            self.alive[dead] = False
            self.occupant[self.pos[dead, 0], self.pos[dead, 1]] = -1

        # Regrowth of eaten food.
        missing_fruit = self.n_fruit - int((self.food_kind == FRUIT).sum())
        missing_candy = self.n_candy - int((self.food_kind == CANDY).sum())
        p = float(c["regrow_prob"])
        self._grow(FRUIT, int(rng.binomial(missing_fruit, p)) if missing_fruit else 0)
        self._grow(CANDY, int(rng.binomial(missing_candy, p)) if missing_candy else 0)

        self.t += 1

    def _give_birth(self, parents: np.ndarray, partners: np.ndarray) -> None:
        """Offspring of each (parent, partner) on a random free cell around the parent."""
        if not len(parents):
            return
        rng = self.np_random
        c = self.config
        s = self.size
        ring = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
        for parent, partner in zip(parents.tolist(), partners.tolist(), strict=True):
            if self.n_born >= self.max_organisms:
                return
            cells = self.pos[parent] + ring
            inside = (cells[:, 0] >= 0) & (cells[:, 0] < s) & (cells[:, 1] >= 0)
            inside &= cells[:, 1] < s
            cells = cells[inside]
            cells = cells[self.occupant[cells[:, 0], cells[:, 1]] < 0]
            if not len(cells):
                continue
            y, x = cells[rng.integers(len(cells))]
            child = self.n_born
            self.n_born += 1
            health = (self.health[parent] + self.health[partner]) / 2 + rng.normal(0.0, 0.1)
            self.health[child] = float(np.clip(health, 0.05, 1.0))
            self.ornament[child] = float(self._ornaments(self.health[child : child + 1])[0])
            self.energy[child] = float(c["child_energy"])
            self.pos[child] = (y, x)
            self.alive[child] = True
            self.occupant[y, x] = child
            self.births[parent] += 1
            self.episode_objectives["descendants"] += 1.0

    # ------------------------------------------------------------------ rendering

    @property
    def render_legend(self) -> tuple[tuple[str, tuple[int, int, int]], ...]:
        """What the ``rgb_array`` frame's colours mean: (label, RGB) pairs."""
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
        """A global state: food sweetness, nutrition, organism ornament, health, energy grids."""
        s = self.size
        out = np.zeros((5, s, s), dtype=np.float32)
        out[0], out[1] = self.sweetness, self.nutrition
        live = np.flatnonzero(self.alive)
        y, x = self.pos[live, 0], self.pos[live, 1]
        out[2, y, x] = self.ornament[live]
        out[3, y, x] = self.health[live]
        out[4, y, x] = self.energy[live] / float(self.config["max_energy"])
        return out


def split_observations(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Views ``(n, 4, V, V)`` and energies ``(n,)`` of a batch of flat observations ``(n, D)``.

    A single observation ``(D,)`` is treated as a batch of one. ``V`` is inferred
    from ``D = 4 * V * V + 1``.
    """
    flat = np.asarray(observations, dtype=np.float32)
    flat = flat.reshape(-1, flat.shape[-1])
    side = round(((flat.shape[1] - 1) / N_CHANNELS) ** 0.5)
    if N_CHANNELS * side * side + 1 != flat.shape[1]:
        raise ValueError(f"{flat.shape[1]} is not the size of a flat Evolution observation")
    views = flat[:, :-1].reshape(len(flat), N_CHANNELS, side, side)
    return views, flat[:, -1]
