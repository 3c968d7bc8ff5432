"""Evolution v1's world, batched in numpy: every level of a batch advances in one call.

:class:`EvolutionCore` is the one implementation of the v1 rules; the PettingZoo
form (:class:`envs.evolution.env.EvolutionEnv` with ``rules=1``, a batch of one
level), the single-agent view and the self-play vector environment of
:mod:`envs.evolution.vector` all step it. Each level draws its randomness from
its own generator, one block of uniforms per step, so a level's episode does not
depend on which other levels share its batch (``test_evolution_v1`` pins that).

The rules are documented on :class:`envs.evolution.env.EvolutionEnv`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.mixture import LevelMixture

#: Episode objectives, intended first (the family's names; v1 defines them per capita).
OBJECTIVES = ("descendants", "sweetness_eaten", "ornament_of_mates", "food_eaten")

#: v1 actions: stay, four moves (food is eaten on arrival), court an adjacent organism.
STAY, NORTH, EAST, SOUTH, WEST, COURT = 0, 1, 2, 3, 4, 5
N_ACTIONS = 6
DIRECTIONS = np.array([[0, 0], [-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int64)
#: The 8 cells around an organism, where its offspring are born.
RING = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], dtype=np.int64)

SWEETNESS, NUTRITION, ORNAMENT, WALL = 0, 1, 2, 3
N_CHANNELS = 4
NO_FOOD, FRUIT, CANDY = 0, 1, 2

DEFAULTS_V1: dict[str, Any] = {
    "rules": 1,
    "size": 16,
    "n_organisms": 16,
    "max_organisms": 192,
    "max_steps": 150,
    "n_food": 40,
    "candy_share": 0.0,
    "regrow_prob": 0.5,
    "digest_steps": 8,
    "ornament_coupling": 1.0,
    "fruit_sweetness": 0.5,
    "view_radius": 3,
    "near_radius": 2,
    "initial_energy": 60.0,
    "max_energy": 100.0,
    "metabolism": 0.4,
    "food_energy": 30.0,
    "mate_threshold": 70.0,
    "mate_cost": 40.0,
    "child_energy": 30.0,
}

#: The kwargs a level mixture may vary from level to level (what a level holds, never
#: the observation or the season's shape): candy's share of the food spots, and how
#: ornaments track health.
MIXABLE_KWARGS = ("candy_share", "ornament_coupling")
#: Salt of the hash that assigns a level to a mixture's component (this family's own).
_MIX_SALT = 0x5EED_CA4D_E701

#: s.d. of the (uniform) noises: fruit sweetness, ornament, offspring health.
SWEET_NOISE, ORNAMENT_NOISE, HEALTH_NOISE = 0.02, 0.03, 0.1
_SQRT12 = 12.0**0.5


def config_v1(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(kwargs) - set(DEFAULTS_V1)
    if unknown:
        raise TypeError(f"unknown Evolution v1 kwargs: {sorted(unknown)}")
    config = {**DEFAULTS_V1, **kwargs}
    if not 0.0 <= float(config["candy_share"]) <= 1.0:
        raise ValueError(f"candy_share must be in [0, 1], got {config['candy_share']}")
    if not -1.0 <= float(config["ornament_coupling"]) <= 1.0:
        raise ValueError("ornament_coupling must be in [-1, 1]")
    return config


class EvolutionCore:
    """``num_levels`` Evolution v1 levels as arrays; see the module docstring.

    ``level_mixture``: training on a mixture of distributions, ``[(split kwargs,
    share), ...]``: a level whose seed the mixture assigns to a component (see
    :class:`~envs.mixture.LevelMixture`) has that component's ``candy_share`` and
    ``ornament_coupling``; every other kwarg is the batch's own.
    """

    def __init__(
        self,
        num_levels: int,
        level_mixture: Sequence[tuple[Mapping[str, Any], float]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.config = c = config_v1(kwargs)
        self.B = int(num_levels)
        self.S = int(c["size"])
        self.M = int(c["max_organisms"])
        self.F = int(c["n_food"])
        self.max_steps = int(c["max_steps"])
        self.radius = int(c["view_radius"])
        self.near = int(c["near_radius"])
        self.mixture: LevelMixture | None = None
        if level_mixture:
            for kwargs_of_component, _ in level_mixture:
                config_v1(kwargs_of_component)  # a bad component is refused by name
            self.mixture = LevelMixture(
                kwargs, level_mixture, mixable=MIXABLE_KWARGS,
                defaults={k: DEFAULTS_V1[k] for k in MIXABLE_KWARGS}, salt=_MIX_SALT,
            )  # fmt: skip
        side = 2 * self.radius + 1
        self.obs_dim = N_CHANNELS * side * side + 1
        off = np.arange(-self.radius, self.radius + 1)
        self._dy, self._dx = off[:, None], off[None, :]
        self._near_mask = (
            (np.abs(self._dy) <= self.near) & (np.abs(self._dx) <= self.near)
        ).astype(np.float32)
        # Per-step uniforms of a level: 6 per organism, 3 per food slot, 1 per cell.
        self._n_uniforms = 6 * self.M + 3 * self.F + self.S * self.S
        self.rngs = [np.random.default_rng(0) for _ in range(self.B)]
        self.seeds = np.zeros(self.B, dtype=np.int64)
        self._allocate()

    # ------------------------------------------------------------------ state

    def _allocate(self) -> None:
        B, M, S, F = self.B, self.M, self.S, self.F
        self.food_present = np.zeros((B, F), dtype=bool)
        self.food_pos = np.zeros((B, F, 2), dtype=np.int64)
        self.food_sweet = np.zeros((B, F), dtype=np.float32)
        self.food_nutri = np.zeros((B, F), dtype=np.float32)
        self.food_at = np.full((B, S, S), -1, dtype=np.int64)  # slot index or -1
        #: Per level, each food slot's kind: the first ``F - round(F * candy_share)`` hold
        #: fruit, the rest candy (kinds never change in a season).
        self.slot_kind = np.full((B, F), FRUIT, dtype=np.int64)
        #: Per level, how ornaments track health (``ornament_coupling``).
        self.coupling = np.ones(B)
        self.occupant = np.full((B, S, S), -1, dtype=np.int64)
        self.alive = np.zeros((B, M), dtype=bool)
        self.pos = np.zeros((B, M, 2), dtype=np.int64)
        self.energy = np.zeros((B, M), dtype=np.float64)
        self.health = np.zeros((B, M), dtype=np.float64)
        self.ornament = np.zeros((B, M), dtype=np.float64)
        self.births = np.zeros((B, M), dtype=np.int64)
        self.digest = np.zeros((B, M), dtype=np.int64)  # steps until the stomach is empty
        self.n_born = np.zeros(B, dtype=np.int64)
        self.n_founders = np.zeros(B, dtype=np.int64)
        self.t = np.zeros(B, dtype=np.int64)
        self.done = np.ones(B, dtype=bool)
        # Episode accumulators and this step's per-organism events.
        self.total_births = np.zeros(B)
        self.total_sweet = np.zeros(B)
        self.total_food = np.zeros(B)
        self.total_mate_ornament = np.zeros(B)
        self.total_courtships = np.zeros(B)
        self.organism_steps = np.zeros(B)
        self.step_births = np.zeros((B, M), dtype=np.int64)
        self.step_sweet = np.full((B, M), np.nan)  # sweetness eaten this step (nan: none)
        self.step_mate_ornament = np.full((B, M), np.nan)  # partner's ornament (nan: none)

    def _ornaments(self, levels, health: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Ornament of organisms of ``health`` on ``levels``: ``0.5 + coupling * (health -
        0.5)`` plus noise."""
        k = self.coupling[levels]
        noise = (u - 0.5) * _SQRT12 * ORNAMENT_NOISE
        return np.clip(0.5 + k * (health - 0.5) + noise, 0.05, 1.0)

    def _fruit(self, u_nutri: np.ndarray, u_sweet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nutrition = 0.1 + 0.9 * u_nutri
        top = float(self.config["fruit_sweetness"])
        noise = (u_sweet - 0.5) * _SQRT12 * SWEET_NOISE
        sweet = np.clip(top * nutrition + noise, 0.05, top)
        return nutrition, sweet

    def reset_levels(self, levels: Sequence[int], seeds: Sequence[int]) -> None:
        """Start fresh episodes on ``levels`` with level seeds ``seeds``."""
        c = self.config
        S, M, F = self.S, self.M, self.F
        levels, seeds = list(levels), [int(s) for s in seeds]
        params = {k: np.full(len(seeds), float(c[k])) for k in MIXABLE_KWARGS}
        if self.mixture is not None and seeds:
            params = self.mixture.params(np.array(seeds, dtype=np.int64))
        for i, b in enumerate(levels):
            n_candy = round(F * float(params["candy_share"][i]))
            self.slot_kind[b] = np.where(np.arange(F) < F - n_candy, FRUIT, CANDY)
            self.coupling[b] = float(params["ornament_coupling"][i])
        for b, seed in zip(levels, seeds, strict=True):
            rng = np.random.default_rng(int(seed))
            self.rngs[b] = rng
            self.seeds[b] = int(seed)
            for arr, fill in (
                (self.food_present, False),
                (self.food_at, -1),
                (self.occupant, -1),
                (self.alive, False),
                (self.births, 0),
                (self.digest, 0),
                (self.step_births, 0),
                (self.energy, 0.0),
                (self.health, 0.0),
                (self.ornament, 0.0),
                (self.step_sweet, np.nan),
                (self.step_mate_ornament, np.nan),
            ):
                arr[b] = fill
            for arr in (
                self.total_births,
                self.total_sweet,
                self.total_food,
                self.total_mate_ornament,
                self.total_courtships,
                self.organism_steps,
            ):
                arr[b] = 0.0
            cells = rng.permutation(S * S)
            k = min(int(c["n_organisms"]), M, S * S - F)
            food_cells, org_cells = cells[:F], cells[F : F + k]
            self.food_pos[b, :, 0], self.food_pos[b, :, 1] = np.divmod(food_cells, S)
            self.food_present[b] = True
            self.food_at[b].reshape(-1)[food_cells] = np.arange(F)
            nutri, sweet = self._fruit(rng.random(F), rng.random(F))
            candy = self.slot_kind[b] == CANDY
            self.food_nutri[b] = np.where(candy, 0.0, nutri)
            self.food_sweet[b] = np.where(candy, 1.0, sweet)
            self.pos[b, :k, 0], self.pos[b, :k, 1] = np.divmod(org_cells, S)
            self.alive[b, :k] = True
            self.energy[b, :k] = float(c["initial_energy"])
            self.health[b, :k] = rng.uniform(0.05, 1.0, size=k)
            self.ornament[b, :k] = self._ornaments(b, self.health[b, :k], rng.random(k))
            self.occupant[b].reshape(-1)[org_cells] = np.arange(k)
            self.n_born[b] = k
            self.n_founders[b] = k
            self.t[b] = 0
            self.done[b] = k == 0

    # ------------------------------------------------------------------ observation

    def live_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(levels, ids)`` of the live organisms of unfinished levels, in (level, id) order."""
        mask = self.alive & ~self.done[:, None]
        return np.nonzero(mask)

    def observe(self, levels: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Flat observations ``(n, obs_dim)`` of organisms ``ids`` of ``levels``."""
        r, S, B = self.radius, self.S, self.B
        n = len(ids)
        out = np.zeros((n, self.obs_dim), dtype=np.float32)
        if n == 0:
            return out
        grid = np.zeros((B, N_CHANNELS, S + 2 * r, S + 2 * r), dtype=np.float32)
        grid[:, WALL] = 1.0
        inner = (slice(None), slice(r, r + S), slice(r, r + S))
        grid[:, WALL][inner] = 0.0
        fb, fs = np.nonzero(self.food_present)
        fy, fx = self.food_pos[fb, fs, 0] + r, self.food_pos[fb, fs, 1] + r
        grid[fb, SWEETNESS, fy, fx] = self.food_sweet[fb, fs]
        grid[fb, NUTRITION, fy, fx] = self.food_nutri[fb, fs]
        ob, oi = np.nonzero(self.alive)
        grid[ob, ORNAMENT, self.pos[ob, oi, 0] + r, self.pos[ob, oi, 1] + r] = self.ornament[ob, oi]
        ys = self.pos[levels, ids, 0][:, None, None] + r + self._dy
        xs = self.pos[levels, ids, 1][:, None, None] + r + self._dx
        lv = levels[:, None, None]
        views = np.stack([grid[lv, ch, ys, xs] for ch in range(N_CHANNELS)], axis=1)
        views[:, NUTRITION] *= self._near_mask
        out[:, :-1] = views.reshape(n, -1)
        out[:, -1] = np.clip(self.energy[levels, ids] / float(self.config["max_energy"]), 0, 1)
        return out

    # ------------------------------------------------------------------ objectives

    def objectives(self) -> np.ndarray:
        """``(B, 4)`` episode-so-far objectives (see the class docstring of the world)."""
        steps = np.maximum(self.organism_steps, 1.0)
        return np.stack(
            [
                self.total_births / np.maximum(self.n_founders, 1),
                self.total_sweet / steps,
                self.total_mate_ornament / np.maximum(self.total_courtships, 1.0),
                self.total_food / steps,
            ],
            axis=1,
        )

    # ------------------------------------------------------------------ dynamics

    def step(self, actions: np.ndarray) -> None:
        """Advance every unfinished level one step; ``actions`` is ``(B, M)`` (ignored where
        an organism is not alive)."""
        c = self.config
        B, M, S, F = self.B, self.M, self.S, self.F
        act = np.asarray(actions, dtype=np.int64).reshape(B, M)
        active = ~self.done
        acting = self.alive & active[:, None]
        if not acting.any():
            return
        u = np.zeros((B, self._n_uniforms))
        for b in np.flatnonzero(active):
            u[b] = self.rngs[b].random(self._n_uniforms)
        u_partner, u_conceive, u_move, u_cell, u_health, u_orn = (
            u[:, k * M : (k + 1) * M] for k in range(6)
        )
        o = 6 * M
        u_regrow, u_nutri, u_sweet = (u[:, o + k * F : o + (k + 1) * F] for k in range(3))
        u_place = u[:, o + 3 * F :]
        self.step_births[:] = 0
        self.step_sweet[:] = np.nan
        self.step_mate_ornament[:] = np.nan
        self.organism_steps += acting.sum(axis=1)

        # 1. Courting: a random adjacent organism (4-neighbourhood), no aiming needed.
        courting = acting & (act == COURT) & (self.energy >= float(c["mate_threshold"]))
        cb, ci = np.nonzero(courting)
        if len(cb):
            y, x = self.pos[cb, ci, 0], self.pos[cb, ci, 1]
            neigh = np.full((len(cb), 4), -1, dtype=np.int64)
            for d in range(4):
                ny, nx = y + DIRECTIONS[d + 1, 0], x + DIRECTIONS[d + 1, 1]
                inside = (ny >= 0) & (ny < S) & (nx >= 0) & (nx < S)
                neigh[inside, d] = self.occupant[cb[inside], ny[inside], nx[inside]]
            count = (neigh >= 0).sum(axis=1)
            has = count > 0
            cb, ci, neigh, count = cb[has], ci[has], neigh[has], count[has]
            pick = np.minimum((u_partner[cb, ci] * count).astype(np.int64), count - 1)
            order = np.argsort(neigh < 0, axis=1, kind="stable")  # present partners first
            partner = neigh[np.arange(len(cb)), order[np.arange(len(cb)), pick]]
            self.energy[cb, ci] -= float(c["mate_cost"])
            orn = self.ornament[cb, partner]
            self.step_mate_ornament[cb, ci] = orn
            np.add.at(self.total_mate_ornament, cb, orn)
            np.add.at(self.total_courtships, cb, 1.0)
            conceived = u_conceive[cb, ci] < self.health[cb, partner]
            self._births(cb[conceived], ci[conceived], partner[conceived], u_cell, u_health, u_orn)

        # 2. Moves: into a free cell inside the grid; of several movers to one cell the one
        # with the lowest draw succeeds.
        moving = acting & (act >= NORTH) & (act <= WEST)
        mb, mi = np.nonzero(moving)
        if len(mb):
            d = DIRECTIONS[act[mb, mi]]
            ty, tx = self.pos[mb, mi, 0] + d[:, 0], self.pos[mb, mi, 1] + d[:, 1]
            ok = (ty >= 0) & (ty < S) & (tx >= 0) & (tx < S)
            mb, mi, ty, tx = mb[ok], mi[ok], ty[ok], tx[ok]
            free = self.occupant[mb, ty, tx] < 0
            mb, mi, ty, tx = mb[free], mi[free], ty[free], tx[free]
            key = (mb * S + ty) * S + tx
            order = np.lexsort((u_move[mb, mi], key))
            first = np.ones(len(order), dtype=bool)
            first[1:] = key[order][1:] != key[order][:-1]
            win = order[first]
            mb, mi, ty, tx = mb[win], mi[win], ty[win], tx[win]
            self.occupant[mb, self.pos[mb, mi, 0], self.pos[mb, mi, 1]] = -1
            self.pos[mb, mi, 0], self.pos[mb, mi, 1] = ty, tx
            self.occupant[mb, ty, tx] = mi

        # 3. Eating on arrival: every organism standing on food with an empty stomach eats it.
        self.digest[acting] = np.maximum(self.digest[acting] - 1, 0)
        lb, li = np.nonzero(self.alive & active[:, None] & (self.digest == 0))
        slot = self.food_at[lb, self.pos[lb, li, 0], self.pos[lb, li, 1]]
        has = slot >= 0
        eb, ei, es = lb[has], li[has], slot[has]
        if len(eb):
            gain = float(c["food_energy"]) * self.food_nutri[eb, es].astype(np.float64)
            self.energy[eb, ei] = np.minimum(self.energy[eb, ei] + gain, float(c["max_energy"]))
            sweet = self.food_sweet[eb, es].astype(np.float64)
            self.step_sweet[eb, ei] = sweet
            np.add.at(self.total_sweet, eb, sweet)
            np.add.at(self.total_food, eb, 1.0)
            self.food_present[eb, es] = False
            self.digest[eb, ei] = int(c["digest_steps"])
            self.food_at[eb, self.food_pos[eb, es, 0], self.food_pos[eb, es, 1]] = -1

        # 4. Metabolism (organisms alive at the step's start) and starvation.
        self.energy[acting] -= float(c["metabolism"])
        dead = acting & (self.energy <= 0.0)
        db, di = np.nonzero(dead)
        if len(db):
            self.alive[db, di] = False
            self.occupant[db, self.pos[db, di, 0], self.pos[db, di, 1]] = -1

        # 5. Regrowth: each eaten item comes back with probability regrow_prob, as the same
        # kind, on a random cell with neither food nor organism.
        regrow = ~self.food_present & (u_regrow < float(c["regrow_prob"])) & active[:, None]
        if regrow.any():
            taken = (self.food_at >= 0) | (self.occupant >= 0)

            score = np.where(taken.reshape(B, -1), -1.0, u_place)
            ranked = np.argsort(-score, axis=1)  # best free cells first
            k = np.cumsum(regrow, axis=1) - 1  # rank of each regrowing slot in its level
            rb, rs = np.nonzero(regrow)
            cell = ranked[rb, k[rb, rs]]
            ok = score[rb, cell] >= 0
            rb, rs, cell = rb[ok], rs[ok], cell[ok]
            self.food_present[rb, rs] = True
            self.food_pos[rb, rs, 0], self.food_pos[rb, rs, 1] = np.divmod(cell, S)
            self.food_at[rb, cell // S, cell % S] = rs
            nutri, sweet = self._fruit(u_nutri[rb, rs], u_sweet[rb, rs])
            candy = self.slot_kind[rb, rs] == CANDY
            self.food_nutri[rb, rs] = np.where(candy, 0.0, nutri)
            self.food_sweet[rb, rs] = np.where(candy, 1.0, sweet)

        self.t[active] += 1
        self.done |= active & ((self.t >= self.max_steps) | ~self.alive.any(axis=1))

    def _births(self, pb, parent, partner, u_cell, u_health, u_orn) -> None:
        """Offspring of the conceptions ``(level pb, parent, partner)``: each on a random free
        cell of the 8 around the parent; two births on one cell: the lower parent id's wins;
        none if no cell is free or the level's ``max_organisms`` ids are used up."""
        if not len(pb):
            return
        S = self.S
        cells = self.pos[pb, parent][:, None, :] + RING[None]  # (n, 8, 2)
        y, x = cells[..., 0], cells[..., 1]
        inside = (y >= 0) & (y < S) & (x >= 0) & (x < S)
        free = inside.copy()
        free[inside] = (
            self.occupant[np.broadcast_to(pb[:, None], y.shape)[inside], y[inside], x[inside]] < 0
        )
        count = free.sum(axis=1)
        ok = count > 0
        pb, parent, partner, free, cells, count = (
            pb[ok],
            parent[ok],
            partner[ok],
            free[ok],
            cells[ok],
            count[ok],
        )
        if not len(pb):
            return
        pick = np.minimum((u_cell[pb, parent] * count).astype(np.int64), count - 1)
        order = np.argsort(~free, axis=1, kind="stable")
        chosen = cells[np.arange(len(pb)), order[np.arange(len(pb)), pick]]
        key = (pb * S + chosen[:, 0]) * S + chosen[:, 1]
        sort = np.lexsort((parent, key))
        first = np.ones(len(sort), dtype=bool)
        first[1:] = key[sort][1:] != key[sort][:-1]
        keep = np.sort(sort[first])
        pb, parent, partner, chosen = pb[keep], parent[keep], partner[keep], chosen[keep]
        # Child ids: the level's next unused ids, in parent-id order.
        order = np.lexsort((parent, pb))
        pb, parent, partner, chosen = pb[order], parent[order], partner[order], chosen[order]
        rank = np.zeros(len(pb), dtype=np.int64)
        starts = np.ones(len(pb), dtype=bool)
        starts[1:] = pb[1:] != pb[:-1]
        idx = np.arange(len(pb))
        rank = idx - np.maximum.accumulate(np.where(starts, idx, 0))
        child = self.n_born[pb] + rank
        ok = child < self.M
        pb, parent, partner, chosen, child = pb[ok], parent[ok], partner[ok], chosen[ok], child[ok]
        if not len(pb):
            return
        np.add.at(self.n_born, pb, 1)
        noise = (u_health[pb, parent] - 0.5) * _SQRT12 * HEALTH_NOISE
        health = np.clip(
            (self.health[pb, parent] + self.health[pb, partner]) / 2 + noise, 0.05, 1.0
        )
        self.health[pb, child] = health
        self.ornament[pb, child] = self._ornaments(pb, health, u_orn[pb, parent])
        self.energy[pb, child] = float(self.config["child_energy"])
        self.pos[pb, child] = chosen
        self.alive[pb, child] = True
        self.occupant[pb, chosen[:, 0], chosen[:, 1]] = child
        self.births[pb, parent] += 1
        self.step_births[pb, parent] += 1
        np.add.at(self.total_births, pb, 1.0)
