"""The batched numpy core of Keys and Chests: state arrays of shape ``(B, ...)``.

Both :class:`~envs.keys_chests.env.KeysChestsEnv` (B = 1) and
:class:`~envs.keys_chests.env.KeysChestsVectorEnv` are thin wrappers of
:class:`KeysChestsCore`; the dynamics are written once, here.

Layout. A level is a square maze of ``maze_size x maze_size`` cells, drawn on a
grid of side ``S = 2 * maze_size + 1`` (walls on even rows/columns). Each slot
stores the grid padded by ``pad`` wall cells on every side (so the egocentric
view is one gather from precomputed offsets) as a flat ``uint8`` array of cell
codes: bit 0 wall, bit 1 key, bit 2 closed chest, bit 3 open chest.

Levels. A level is a deterministic function of its level seed and the
generation kwargs. Its random numbers come from a counter-based hash
(SplitMix64 of the level seed and an index), so the levels of any number of
resetting slots are built together with vectorised numpy, without a Python
loop or a Generator per level: a binary-tree maze, extra walls removed with
probability ``loop_prob`` (so there are loops; at 1, an open room with
pillars), one of the 8 symmetries of the
square (so the binary tree's bias has no preferred direction), the item count
``N`` uniform in ``n_items``, ``floor(key_fraction * N + u)`` keys (stochastic
rounding, clipped to [1, N - 1]) and the rest chests, placed by the argsort of
random keys on dead ends first (then on other free cells when a maze has fewer
dead ends than items; an open room has none), so that in a maze an item is a
destination of its own and seldom lies on the way to another; the agent starts
on a random free cell without an item.

Version 2 adds piles: with ``restock > 0`` (0 by default, so v0 and v1 levels
and dynamics are unchanged) each key spot is, with that probability, a *pile*
whose key is back as soon as the agent steps off it, so keys never run out.
Piles are drawn from a hash stream of their own, so the walls, items and start
of a level do not depend on ``restock``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from envs.hashing import level_uniforms

WALL, KEY, CHEST, OPEN = 1, 2, 4, 8
#: Action index -> (d_row, d_col): up, right, down, left.
ACTION_DELTAS = ((-1, 0), (0, 1), (1, 0), (0, -1))
ACTION_NAMES = ("up", "right", "down", "left")
#: Termination codes; index into TERMINATIONS.
NONE, GOAL, NO_KEYS, TIMEOUT = 0, 1, 2, 3
TERMINATIONS = ("", "goal", "no_keys", "timeout")
OBJECTIVES = ("chests_opened", "keys_collected")
#: Cap of the observed inventory (the true count is unbounded).
INVENTORY_CAP = 15

#: Cell code of each observed channel: wall, key, closed chest.
_CHANNEL_CODES = (WALL, KEY, CHEST)


def _one_hot(codes: np.ndarray, view: np.ndarray) -> None:
    """Write channels wall, key, closed chest of ``codes (m, n)`` into ``view (m, >=3, n)``.

    Cell codes are exclusive (one of empty, wall, key, chest, open chest), so each
    channel is one comparison.
    """
    channels = view.view(bool)
    for channel, code in enumerate(_CHANNEL_CODES):
        np.equal(codes, code, out=channels[:, channel])


#: Salt of the pile draws' hash stream (kept apart from the level's other uniforms).
_PILE_SALT = 0x5EED_0F_9115


@dataclass(frozen=True)
class LevelState:
    """The true state of one slot, for privileged planners, tests and rendering.

    Positions are ``(row, col)`` in the unpadded ``S x S`` grid. ``piles`` are
    the key spots that restock (whether stocked now or not: a pile the agent
    stands on is empty, and stocked again once it steps off); ``keys`` are the
    keys on the map now, piles included.
    """

    walls: np.ndarray  # (S, S) bool
    agent: tuple[int, int]
    keys: np.ndarray  # (K, 2) int: keys still on the map
    chests: np.ndarray  # (C, 2) int: closed chests
    open_chests: np.ndarray  # (O, 2) int
    inventory: int
    steps: int
    max_steps: int
    level_seed: int
    chests_opened: int
    keys_collected: int
    piles: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def steps_left(self) -> int:
        return self.max_steps - self.steps


class KeysChestsCore:
    """Batched Keys and Chests dynamics for ``num_envs`` slots.

    Read-only state for privileged planners: :meth:`state_of` (one slot as a
    :class:`LevelState`), and the arrays :attr:`steps`, :attr:`episode_id`
    (incremented at every reset of a slot), :attr:`level_seed`,
    :attr:`inventory`, :attr:`chests_opened`, :attr:`keys_collected`.
    Only the core itself writes to them.
    """

    def __init__(
        self,
        num_envs: int,
        *,
        maze_size: int = 5,
        n_items: tuple[int, int] = (6, 9),
        key_fraction: float = 1 / 3,
        max_steps: int = 100,
        loop_prob: float = 0.15,
        view_size: int | None = 5,
        restock: float = 0.0,
    ) -> None:
        if maze_size < 2:
            raise ValueError("maze_size must be at least 2")
        lo, hi = int(n_items[0]), int(n_items[1])
        if not 2 <= lo <= hi:
            raise ValueError(f"n_items must be a range (lo, hi) with 2 <= lo <= hi, got {n_items}")
        if hi + 1 > maze_size * maze_size:
            raise ValueError("too many items for the maze")
        if not 0.0 <= key_fraction <= 1.0:
            raise ValueError("key_fraction must be in [0, 1]")
        if view_size is not None and (view_size < 1 or view_size % 2 == 0):
            raise ValueError("view_size must be a positive odd integer or None")
        if not 0.0 <= restock <= 1.0:
            raise ValueError(f"restock must be in [0, 1], got {restock}")
        self.num_envs = B = int(num_envs)
        self.maze_size = n = int(maze_size)
        self.n_items = (lo, hi)
        self.key_fraction = float(key_fraction)
        self.max_steps = int(max_steps)
        self.loop_prob = float(loop_prob)
        self.view_size = view_size
        self.restock = float(restock)
        self.size = S = 2 * n + 1
        self.pad = pad = 0 if view_size is None else view_size // 2
        self.padded_size = P = S + 2 * pad
        self._cells = P * P

        # Level-generation tables.
        rr, cc = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        self._cell_rc = (2 * rr + 1, 2 * cc + 1)  # cell centres
        self._north = ((2 * rr).ravel(), (2 * cc + 1).ravel())
        self._east = ((2 * rr + 1).ravel(), (2 * cc + 2).ravel())
        self._top = (rr == 0).ravel()
        self._right = (cc == n - 1).ravel()
        vr, vc = np.meshgrid(np.arange(n), np.arange(n - 1), indexing="ij")
        hr, hc = np.meshgrid(np.arange(n - 1), np.arange(n), indexing="ij")
        inner_r = np.concatenate([(2 * vr + 1).ravel(), (2 * hr + 2).ravel()])
        inner_c = np.concatenate([(2 * vc + 2).ravel(), (2 * hc + 1).ravel()])
        self._inner = inner_r * S + inner_c
        grid_idx = np.arange(S * S).reshape(S, S)
        self._symmetries = np.stack(
            [np.rot90(grid_idx, k).ravel() for k in range(4)]
            + [np.rot90(grid_idx.T, k).ravel() for k in range(4)]
        )
        gr, gc = np.divmod(np.arange(S * S), S)
        self._to_padded = (gr + pad) * P + (gc + pad)
        self._open_room = np.ones((S, S), dtype=bool)
        self._open_room[1:-1, 1:-1] = False
        self._open_room[2:-1:2, 2:-1:2] = True  # pillars
        self._open_room = self._open_room.ravel()
        self._open_room_free = np.flatnonzero(~self._open_room)
        self._n_maze = n * n
        self._n_inner = len(self._inner)
        self._n_uniforms = self._n_maze + self._n_inner + 3 + 2 * S * S

        # Observation tables.
        self._deltas = np.array([dr * P + dc for dr, dc in ACTION_DELTAS], dtype=np.int64)
        self._full_view_cells = self._to_padded.astype(np.int64)  # the egocentric view: _windows
        self._row_base = np.arange(B, dtype=np.int64) * self._cells

        # State.
        self.grid = np.full((B, self._cells), WALL, dtype=np.uint8)
        if view_size is not None:
            # Every window of every slot's padded grid, as a strided view of ``grid``
            # (no copy; ``grid`` is only ever written in place): a slot's observation
            # is one basic gather, without an index array per cell.
            self._windows = np.lib.stride_tricks.sliding_window_view(
                self.grid.reshape(B, P, P), (view_size, view_size), axis=(1, 2)
            )
        self.pos = np.zeros(B, dtype=np.int64)
        self.inventory = np.zeros(B, dtype=np.int32)
        self.chests_opened = np.zeros(B, dtype=np.int32)
        self.keys_collected = np.zeros(B, dtype=np.int32)
        self.keys_left = np.zeros(B, dtype=np.int32)  # single keys (piles never run out)
        self.pile = np.zeros((B, self._cells), dtype=bool)
        self.n_piles = np.zeros(B, dtype=np.int32)
        self.chests_left = np.zeros(B, dtype=np.int32)
        self.steps = np.zeros(B, dtype=np.int32)
        self.level_seed = np.zeros(B, dtype=np.int64)
        self.episode_id = np.zeros(B, dtype=np.int64)

    # ------------------------------------------------------------------ levels
    def generate(
        self, level_seeds: np.ndarray, key_fraction: np.ndarray | None = None
    ) -> tuple[np.ndarray, ...]:
        """Build levels: ``(walls (R, S*S) bool, agent (R,), keys mask, chests mask)``.

        Positions are flat indices in the unpadded ``S x S`` grid. ``key_fraction``
        (one per level) overrides the core's, for levels drawn from a mixture.
        """
        seeds = np.asarray(level_seeds, dtype=np.int64)
        R, S = len(seeds), self.size
        u = level_uniforms(seeds, self._n_uniforms)
        i0, i1 = self._n_maze, self._n_maze + self._n_inner
        u_maze, u_loop, u_misc, u_place = u[:, :i0], u[:, i0:i1], u[:, i1 : i1 + 3], u[:, i1 + 3 :]

        walls = self._walls(u_maze, u_loop, u_misc[:, 0])

        lo, hi = self.n_items
        n_total = lo + np.minimum((u_misc[:, 1] * (hi - lo + 1)).astype(np.int64), hi - lo)
        fraction = self.key_fraction if key_fraction is None else np.asarray(key_fraction)
        n_keys = np.floor(fraction * n_total + u_misc[:, 2]).astype(np.int64)
        n_keys = np.clip(n_keys, 1, n_total - 1)
        items = self._item_cells(u_place[:, : S * S], walls)
        j = np.arange(1, hi + 1)[None, :]
        # The agent starts on a uniformly random free cell without an item.
        taken = walls.copy()
        np.put_along_axis(taken, items, j <= n_total[:, None], axis=1)
        agent = np.argmin(np.where(taken, 2.0, u_place[:, S * S :]), axis=1)
        is_key = j <= n_keys[:, None]
        is_chest = ~is_key & (j <= n_total[:, None])
        keys = np.zeros((R, S * S), dtype=bool)
        chests = np.zeros((R, S * S), dtype=bool)
        np.put_along_axis(keys, items, is_key, axis=1)
        np.put_along_axis(chests, items, is_chest, axis=1)
        return walls, agent, keys, chests

    def generate_piles(
        self, level_seeds: np.ndarray, keys: np.ndarray, restock: np.ndarray | None = None
    ) -> np.ndarray:
        """``(R, S*S)`` bool: the key spots of ``keys`` that are piles (each with
        probability ``restock``: the core's, or one per level for a mixture)."""
        share = np.full(len(keys), self.restock) if restock is None else np.asarray(restock)
        if not (share > 0.0).any():
            return np.zeros_like(keys)
        seeds = np.asarray(level_seeds, dtype=np.int64) ^ np.int64(_PILE_SALT)
        u = level_uniforms(seeds, keys.shape[1])
        return keys & (u < share[:, None])

    def _walls(
        self, u_maze: np.ndarray, u_loop: np.ndarray, u_sym: np.ndarray, shortcut: bool = True
    ) -> np.ndarray:
        """The ``(R, S*S)`` wall masks: binary-tree maze, loops, one of 8 symmetries."""
        R, S = len(u_maze), self.size
        if shortcut and self.loop_prob >= 1.0:
            # Every wall between cells goes (uniforms are < 1), leaving the same open
            # room for every seed, unchanged by the symmetries: carving is skipped.
            # Resets are the batched env's main cost when episodes are short.
            return np.broadcast_to(self._open_room, (R, S * S)).copy()
        walls = np.ones((R, S, S), dtype=bool)
        walls[:, self._cell_rc[0], self._cell_rc[1]] = False
        # Binary tree: every cell but the top-right one carves north or east.
        north = (u_maze < 0.5) & ~self._top | self._right
        north &= ~(self._top & self._right)
        east = ~north & ~self._right
        rows = np.arange(R)[:, None]
        nr, nc = self._north
        er, ec = self._east
        walls[rows, nr[None, :], nc[None, :]] &= ~north
        walls[rows, er[None, :], ec[None, :]] &= ~east
        walls = walls.reshape(R, S * S)
        walls[:, self._inner] &= u_loop >= self.loop_prob
        sym = np.minimum((u_sym * 8).astype(np.int64), 7)
        return np.take_along_axis(walls, self._symmetries[sym], axis=1)

    def _item_cells(
        self, u_cells: np.ndarray, walls: np.ndarray, shortcut: bool = True
    ) -> np.ndarray:
        """``(R, hi)``: the cells items go to, in order (the first ``n_keys`` get keys).

        Dead ends (free cells with walls on three sides) first, then the other free
        cells, each group in the order of the level's uniforms ``u_cells``.
        """
        hi = self.n_items[1]
        if shortcut and self.loop_prob >= 1.0:
            # An open room has no dead ends and the same free cells in every level,
            # so only those are ranked: the same cells as ranking every cell, cheaper.
            free = self._open_room_free
            chosen = free[np.argpartition(u_cells[:, free], hi - 1, axis=1)[:, :hi]]
            priority = u_cells
        else:
            R, S = len(walls), self.size
            w2 = walls.reshape(R, S, S)
            around = np.zeros((R, S, S), dtype=np.int8)
            up, down = w2[:, :-2, 1:-1].astype(np.int8), w2[:, 2:, 1:-1]
            around[:, 1:-1, 1:-1] = up + down + w2[:, 1:-1, :-2] + w2[:, 1:-1, 2:]
            dead = (around == 3).reshape(R, S * S) & ~walls
            priority = u_cells + np.where(dead, 0.0, 1.0) + np.where(walls, 4.0, 0.0)
            chosen = np.argpartition(priority, hi - 1, axis=1)[:, :hi]
        order = np.argsort(np.take_along_axis(priority, chosen, axis=1), axis=1)
        return np.take_along_axis(chosen, order, axis=1)

    def reset_slots(
        self,
        slots: np.ndarray,
        level_seeds: np.ndarray,
        key_fraction: np.ndarray | None = None,
        restock: np.ndarray | None = None,
    ) -> None:
        """Start a new episode in ``slots`` on the levels of ``level_seeds`` (with the
        per-level ``key_fraction`` and ``restock`` of a mixture, if given)."""
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return
        walls, agent, keys, chests = self.generate(level_seeds, key_fraction)
        piles = self.generate_piles(level_seeds, keys, restock)
        codes = walls * np.uint8(WALL) | keys * np.uint8(KEY) | chests * np.uint8(CHEST)
        grid = np.full((len(slots), self._cells), WALL, dtype=np.uint8)
        grid[:, self._to_padded] = codes
        self.grid[slots] = grid
        self.pos[slots] = self._to_padded[agent]
        self.inventory[slots] = 0
        self.chests_opened[slots] = 0
        self.keys_collected[slots] = 0
        self.keys_left[slots] = (keys & ~piles).sum(axis=1)
        pile = np.zeros((len(slots), self._cells), dtype=bool)
        pile[:, self._to_padded] = piles
        self.pile[slots] = pile
        self.n_piles[slots] = piles.sum(axis=1)
        self.chests_left[slots] = chests.sum(axis=1)
        self.steps[slots] = 0
        self.level_seed[slots] = level_seeds
        self.episode_id[slots] += 1

    # --------------------------------------------------------------- dynamics
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every slot. Returns ``(reward float64, terminated, truncated, code int8)``."""
        flat = self.grid.reshape(-1)
        base = self._row_base
        prev = self.pos
        nxt = prev + self._deltas[np.asarray(actions, dtype=np.int64)]
        blocked = (flat[base + nxt] & WALL).astype(bool)
        pos = np.where(blocked, prev, nxt)
        self.pos = pos
        at = base + pos
        cell = flat[at]
        key = (cell & KEY) >> 1
        chest = ((cell & CHEST) >> 2) & (self.inventory > 0)
        flat[at] = cell - (key << 1) + (chest << 2)  # key -> empty, chest -> open
        if self.n_piles.any():
            # A pile's key is back once the agent has stepped off it.
            left = (pos != prev) & self.pile[np.arange(self.num_envs), prev]
            flat[(base + prev)[left]] = KEY
            single = key.astype(bool) & ~self.pile[np.arange(self.num_envs), pos]
        else:
            single = key.astype(bool)
        key = key.astype(np.int32)
        chest = chest.astype(np.int32)
        self.inventory += key - chest
        self.keys_collected += key
        self.chests_opened += chest
        self.keys_left -= single
        self.chests_left -= chest
        self.steps += 1
        goal = self.chests_left == 0
        no_keys = ~goal & (self.keys_left == 0) & (self.n_piles == 0) & (self.inventory == 0)
        terminated = goal | no_keys
        truncated = ~terminated & (self.steps >= self.max_steps)
        code = goal * np.int8(GOAL) + no_keys * np.int8(NO_KEYS) + truncated * np.int8(TIMEOUT)
        return chest.astype(np.float64), terminated, truncated, code

    # ------------------------------------------------------------ observation
    @property
    def view_shape(self) -> tuple[int, int, int]:
        if self.view_size is None:
            return (4, self.size, self.size)
        return (3, self.view_size, self.view_size)

    def observe(self, slots: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The observation of every slot (or of ``slots``)."""
        if slots is None:
            pos, base = self.pos, self._row_base
        else:
            pos, base = self.pos[slots], np.asarray(slots, dtype=np.int64) * self._cells
        m = len(pos)
        if self.view_size is None:
            codes = self.grid.reshape(-1)[base[:, None] + self._full_view_cells[None, :]]
            view = np.zeros((m, 4, self.size * self.size), dtype=np.uint8)
            _one_hot(codes, view)
            r, c = np.divmod(pos, self.padded_size)
            view[np.arange(m), 3, (r - self.pad) * self.size + (c - self.pad)] = 1
        else:
            rows = np.arange(self.num_envs) if slots is None else np.asarray(slots, dtype=np.int64)
            r, c = np.divmod(pos, self.padded_size)
            codes = self._windows[rows, r - self.pad, c - self.pad].reshape(m, -1)
            view = np.empty((m, 3, codes.shape[1]), dtype=np.uint8)
            _one_hot(codes, view)
        held = self.inventory if slots is None else self.inventory[slots]
        inventory = np.minimum(held, INVENTORY_CAP)
        return {
            "view": view.reshape((m, *self.view_shape)),
            "inventory": inventory.astype(np.int64)[:, None],
        }

    def objectives(self) -> dict[str, np.ndarray]:
        return {
            "chests_opened": self.chests_opened.astype(np.float64),
            "keys_collected": self.keys_collected.astype(np.float64),
        }

    # ------------------------------------------------------------ privileged
    def codes_of(self, slot: int) -> np.ndarray:
        """The ``(S, S)`` cell codes of one slot (a copy)."""
        return self.grid[slot, self._to_padded].reshape(self.size, self.size).copy()

    def piles_of(self, slot: int) -> np.ndarray:
        """The ``(S, S)`` bool mask of one slot's piles (key spots that restock)."""
        return self.pile[slot, self._to_padded].reshape(self.size, self.size).copy()

    def agent_of(self, slot: int) -> tuple[int, int]:
        r, c = divmod(int(self.pos[slot]), self.padded_size)
        return r - self.pad, c - self.pad

    def state_of(self, slot: int) -> LevelState:
        """The true state of one slot (copies; changing them changes nothing)."""
        codes = self.codes_of(slot)
        return LevelState(
            walls=(codes & WALL).astype(bool),
            agent=self.agent_of(slot),
            keys=np.argwhere(codes & KEY),
            chests=np.argwhere(codes & CHEST),
            open_chests=np.argwhere(codes & OPEN),
            inventory=int(self.inventory[slot]),
            steps=int(self.steps[slot]),
            max_steps=self.max_steps,
            level_seed=int(self.level_seed[slot]),
            chests_opened=int(self.chests_opened[slot]),
            keys_collected=int(self.keys_collected[slot]),
            piles=np.argwhere(self.piles_of(slot)),
        )

    def set_state(self, slot: int, state: LevelState) -> None:
        """Overwrite one slot with a hand-built state (for tests and tools)."""
        S = self.size
        if state.walls.shape != (S, S):
            raise ValueError(f"walls must be {(S, S)}")
        codes = state.walls.astype(np.uint8) * WALL
        for arr, bit in ((state.keys, KEY), (state.chests, CHEST), (state.open_chests, OPEN)):
            arr = np.asarray(arr, dtype=np.int64).reshape(-1, 2)
            codes[arr[:, 0], arr[:, 1]] |= bit
        self.grid[slot] = WALL
        self.grid[slot, self._to_padded] = codes.ravel()
        r, c = state.agent
        self.pos[slot] = (r + self.pad) * self.padded_size + (c + self.pad)
        self.inventory[slot] = state.inventory
        self.chests_opened[slot] = state.chests_opened
        self.keys_collected[slot] = state.keys_collected
        piles = np.asarray(state.piles, dtype=np.int64).reshape(-1, 2)
        pile = np.zeros((S, S), dtype=bool)
        pile[piles[:, 0], piles[:, 1]] = True
        self.pile[slot] = False
        self.pile[slot, self._to_padded] = pile.ravel()
        self.n_piles[slot] = len(piles)
        keys = np.asarray(state.keys, dtype=np.int64).reshape(-1, 2)
        self.keys_left[slot] = int((~pile[keys[:, 0], keys[:, 1]]).sum())
        self.chests_left[slot] = len(np.asarray(state.chests).reshape(-1, 2))
        self.steps[slot] = state.steps
        self.level_seed[slot] = state.level_seed
        self.episode_id[slot] += 1

    # -------------------------------------------------------------- rendering
    def view_box(self, slot: int) -> tuple[int, int, int, int]:
        """``(r0, c0, r1, c1)`` of the egocentric view in the unpadded grid (exclusive end)."""
        r, c = self.agent_of(slot)
        if self.view_size is None:
            return 0, 0, self.size, self.size
        h = self.view_size // 2
        return r - h, c - h, r + h + 1, c + h + 1
