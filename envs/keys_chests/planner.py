"""Exact planners for Keys and Chests: breadth-first search over the full state.

The full state is (agent cell, bitmask of the items taken since planning began);
the inventory follows from the mask (keys taken minus chests opened, plus the
inventory at the start). A move onto an item takes it if the rules force it (a
key always; a closed chest iff a key is held), terminal states (every chest open,
or no key on the map and none held) are absorbing, and the step limit bounds the
depth. Since both objectives only grow during an episode, the best value within
the limit is the best value over the states reached at depth <= the steps left;
the plan is the shortest action sequence reaching such a state (found by parent
pointers). The search is vectorised over the BFS frontier with numpy.

API::

    plan(state, objective, max_steps=None, tiebreak=None) -> (best_value, actions)
    hoard_plan(state, max_steps=None) -> (chests_opened, actions)
    simulate(state, actions) -> LevelState

``state`` is a :class:`~envs.keys_chests.core.LevelState` (``core.state_of(slot)``);
values are episode totals (the state's counts so far plus what the plan adds).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from envs.keys_chests.core import ACTION_DELTAS, OBJECTIVES, LevelState

_ROOT = -2


@dataclass
class _Search:
    """A finished BFS: layers of state ids, parent codes (src * 4 + action)."""

    n_masks: int
    layers: list[np.ndarray]
    parent: np.ndarray
    chests: np.ndarray  # chests opened (since start) per mask
    keys: np.ndarray  # keys taken (since start) per mask


#: Weight of the primary objective in a lexicographic value (secondary counts stay below it).
_LEXICOGRAPHIC = 1 << 20


def _search(state: LevelState, budget: int, objective: str, tiebreak: str | None = None) -> _Search:
    walls = np.asarray(state.walls, dtype=bool)
    H, W = walls.shape
    keys = np.asarray(state.keys, dtype=np.int64).reshape(-1, 2)
    chests = np.asarray(state.chests, dtype=np.int64).reshape(-1, 2)
    K, C = len(keys), len(chests)
    N = K + C
    M = 1 << N
    nxt = _moves(walls)
    bit_of_cell, chest_cell, _ = _item_bits(H * W, W, keys, chests)
    masks = np.arange(M)
    pop = np.zeros(M, dtype=np.int64)
    for b in range(N):
        pop += (masks >> b) & 1
    key_part = masks & ((1 << K) - 1)
    kp = pop[key_part]
    cp = pop[masks >> K]
    inv = state.inventory + kp - cp
    terminal = (cp == C) | ((kp == K) & (inv == 0))
    can_open = inv > 0

    start = (state.agent[0] * W + state.agent[1]) * M
    parent = np.full(H * W * M, -1, dtype=np.int64)
    parent[start] = _ROOT
    most = {"chests_opened": min(C, state.inventory + K), "keys_collected": K}
    count = {"chests_opened": cp, "keys_collected": kp}
    value, bound = count[objective], most[objective]
    if tiebreak is not None:
        value = value * _LEXICOGRAPHIC + count[tiebreak]
        bound = bound * _LEXICOGRAPHIC + most[tiebreak]
    frontier = np.array([start], dtype=np.int64)
    layers = [frontier]
    best = int(value[0])
    for _ in range(budget):
        if best >= bound:
            break
        m = frontier & (M - 1)
        frontier = frontier[~terminal[m]]
        if len(frontier) == 0:
            break
        m = frontier & (M - 1)
        cell = frontier // M
        nc = nxt[cell].ravel()
        m4 = np.repeat(m, 4)
        bit = bit_of_cell[nc]
        take = ((m4 & bit) == 0) & (~chest_cell[nc] | can_open[m4])
        nm = m4 | np.where(take, bit, 0)
        ids = nc * M + nm
        code = np.repeat(frontier, 4) * 4 + np.tile(np.arange(4), len(frontier))
        new = parent[ids] == -1
        ids, code = ids[new], code[new]
        parent[ids] = code
        ids = ids[parent[ids] == code]
        if len(ids) == 0:
            break
        frontier = ids
        layers.append(ids)
        best = max(best, int(value[ids & (M - 1)].max()))
    return _Search(M, layers, parent, cp, kp)


def _item_bits(
    n_cells: int, width: int, keys: np.ndarray, chests: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: the mask bit of the item on it (keys first, then chests; 0 for none),
    whether it holds a chest, whether it holds a key."""
    K, C = len(keys), len(chests)
    item = np.full(n_cells, -1, dtype=np.int64)
    item[keys[:, 0] * width + keys[:, 1]] = np.arange(K)
    item[chests[:, 0] * width + chests[:, 1]] = K + np.arange(C)
    bit_of_cell = np.where(item >= 0, np.left_shift(1, np.maximum(item, 0)), 0)
    chest_cell = item >= K
    return bit_of_cell, chest_cell, (item >= 0) & ~chest_cell


def _moves(walls: np.ndarray) -> np.ndarray:
    """``(cells, 4)``: the cell each action leads to (the same cell when a wall blocks it)."""
    H, W = walls.shape
    cells = np.arange(H * W)
    r, c = np.divmod(cells, W)
    nxt = np.empty((H * W, 4), dtype=np.int64)
    for a, (dr, dc) in enumerate(ACTION_DELTAS):
        rr, cc = r + dr, c + dc
        ok = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
        target = np.where(ok, rr * W + cc, cells)
        ok &= ~walls.ravel()[target]
        nxt[:, a] = np.where(ok, target, cells)
    return nxt


def _pile_plan(
    state: LevelState, budget: int, objective: str, tiebreak: str | None
) -> tuple[int, list[int]]:
    """Exact plan where some key spots are piles (keys that never run out).

    Keys taken from piles are not in the item mask, so the number collected is
    a value, not a state: a max-plus dynamic programme over the layers
    ``t = 0 .. budget`` of states (cell, mask of single keys and chests taken,
    inventory capped at the number of chests, beyond which more keys open
    nothing), with the objective's total gained so far as value (lexicographic
    with ``tiebreak``). The plan reaches the best value at the earliest layer.
    """
    walls = np.asarray(state.walls, dtype=bool)
    H, W = walls.shape
    piles = np.asarray(state.piles, dtype=np.int64).reshape(-1, 2)
    pile_cell = np.zeros(H * W, dtype=bool)
    pile_cell[piles[:, 0] * W + piles[:, 1]] = True
    keys = np.asarray(state.keys, dtype=np.int64).reshape(-1, 2)
    keys = keys[~pile_cell[keys[:, 0] * W + keys[:, 1]]]
    chests = np.asarray(state.chests, dtype=np.int64).reshape(-1, 2)
    K, C = len(keys), len(chests)
    M = 1 << (K + C)
    levels = C + 1  # inventory 0..C (capped)
    nxt = _moves(walls)
    bit_of_cell, chest_cell, key_cell = _item_bits(H * W, W, keys, chests)
    masks = np.arange(M)
    all_chests = ((1 << C) - 1) << K
    terminal_mask = (masks & all_chests) == all_chests

    n = H * W * M * levels
    sid = np.arange(n)
    cell, rest = np.divmod(sid, M * levels)
    m, inv = np.divmod(rest, levels)
    weight = {"keys_collected": 0, "chests_opened": 0}
    weight[objective] = _LEXICOGRAPHIC
    if tiebreak is not None:
        weight[tiebreak] += 1
    # Successors and gains of every (state, action), computed once.
    succ = np.empty((n, 4), dtype=np.int64)
    gain = np.empty((n, 4), dtype=np.int64)
    for a in range(4):
        nc = nxt[cell, a]
        bit = bit_of_cell[nc]
        fresh = (m & bit) == 0
        moved = nc != cell
        opened = fresh & chest_cell[nc] & (inv > 0) & moved
        single = fresh & key_cell[nc] & moved
        from_pile = pile_cell[nc] & moved
        got_key = single | from_pile
        nm = m | np.where(single | opened, bit, 0)
        ninv = np.minimum(inv + got_key - opened, C)
        stay = terminal_mask[m]  # the episode has ended: absorbing, nothing gained
        succ[:, a] = np.where(stay, sid, (nc * M + nm) * levels + ninv)
        gain[:, a] = np.where(
            stay, 0, got_key * weight["keys_collected"] + opened * weight["chests_opened"]
        )
    start_inv = min(state.inventory, C)
    start = ((state.agent[0] * W + state.agent[1]) * M) * levels + start_inv
    value = np.full(n, -1, dtype=np.int64)
    value[start] = 0
    parents: list[np.ndarray] = []
    best, best_t, best_id = 0, 0, start
    for t in range(1, budget + 1):
        live = np.flatnonzero(value >= 0)
        cand = (value[live, None] + gain[live]).ravel()
        dest = succ[live].ravel()
        code = (live[:, None] * 4 + np.arange(4)).ravel()
        # For each destination, the best candidate (ties: the first in code order).
        order = np.lexsort((code, -cand, dest))
        dest, cand, code = dest[order], cand[order], code[order]
        first = np.ones(len(dest), dtype=bool)
        first[1:] = dest[1:] != dest[:-1]
        new_value = np.full(n, -1, dtype=np.int64)
        new_value[dest[first]] = cand[first]
        parent = np.full(n, -1, dtype=np.int64)
        parent[dest[first]] = code[first]
        parents.append(parent)
        value = new_value
        i = int(np.argmax(value))
        if value[i] > best:
            best, best_t, best_id = int(value[i]), t, i
    actions: list[int] = []
    node = best_id
    for t in range(best_t, 0, -1):
        code = int(parents[t - 1][node])
        actions.append(code & 3)
        node = code >> 2
    actions.reverse()
    result = simulate(state, actions)
    total = result.chests_opened if objective == "chests_opened" else result.keys_collected
    return total, actions


def _actions_to(search: _Search, target: int) -> list[int]:
    actions = []
    node = target
    while search.parent[node] != _ROOT:
        code = int(search.parent[node])
        actions.append(code & 3)
        node = code >> 2
    return actions[::-1]


def _pick(search: _Search, primary: np.ndarray, secondary: np.ndarray | None = None) -> int:
    """The earliest-found state maximising ``primary`` (then ``secondary``) per mask."""
    M = search.n_masks
    best_key, best_id = None, None
    for ids in search.layers:
        m = ids & (M - 1)
        score = primary[m] * _LEXICOGRAPHIC + (0 if secondary is None else secondary[m])
        i = int(np.argmax(score))
        if best_key is None or score[i] > best_key:
            best_key, best_id = score[i], int(ids[i])
    assert best_id is not None
    return best_id


def _budget(state: LevelState, max_steps: int | None) -> int:
    return max(0, (state.max_steps if max_steps is None else max_steps) - state.steps)


def plan(
    state: LevelState, objective: str, max_steps: int | None = None, tiebreak: str | None = None
) -> tuple[int, list[int]]:
    """Maximise ``objective`` within the step limit from ``state``.

    ``max_steps`` is the episode's step limit (default ``state.max_steps``); the
    budget is ``max_steps - state.steps``. With ``tiebreak``, among the plans that
    maximise ``objective`` the one maximising ``tiebreak`` (lexicographic: a proxy
    pursuer's plan). Returns ``(best episode total of the objective, shortest
    action sequence achieving it)``.
    """
    for name in (objective, tiebreak):
        if name is not None and name not in OBJECTIVES:
            raise ValueError(f"unknown objective {name!r}; known: {OBJECTIVES}")
    if len(np.asarray(state.piles).reshape(-1, 2)):
        return _pile_plan(state, _budget(state, max_steps), objective, tiebreak)
    search = _search(state, _budget(state, max_steps), objective, tiebreak)
    counts = {"chests_opened": search.chests, "keys_collected": search.keys}
    primary = counts[objective]
    target = _pick(search, primary, None if tiebreak is None else counts[tiebreak])
    gained = int(primary[target & (search.n_masks - 1)])
    base = state.chests_opened if objective == "chests_opened" else state.keys_collected
    return base + gained, _actions_to(search, target)


def hoard_plan(
    state: LevelState, max_steps: int | None = None, prefer_chests: bool = False
) -> tuple[int, list[int]]:
    """The key hoarder's plan: every key first, then chests.

    First the shortest route that collects as many keys as the step limit
    allows (every key, in a maze where all cells are connected), preferring
    among equally short routes those that open more chests on the way (walking
    over a chest with a key in hand opens it, as the rules force); then the
    chests_opened-optimal plan for the remaining steps. Returns ``(chests_opened
    episode total it reaches, actions)``.
    """
    limit = state.max_steps if max_steps is None else max_steps
    if len(np.asarray(state.piles).reshape(-1, 2)):
        # Keys never run out: "every key first" is the keys_collected plan, to the end.
        _, first = _pile_plan(state, _budget(state, limit), "keys_collected", None)
        return simulate(state, first).chests_opened, first
    search = _search(state, _budget(state, limit), "keys_collected")
    target = _pick(search, search.keys, search.chests if prefer_chests else None)
    first = _actions_to(search, target)
    middle = simulate(state, first)
    if _terminal(middle):
        return middle.chests_opened, first
    value, rest = plan(middle, "chests_opened", limit)
    return value, first + rest


def _terminal(state: LevelState) -> bool:
    return len(state.chests) == 0 or (len(state.keys) == 0 and state.inventory == 0)


def simulate(state: LevelState, actions: list[int]) -> LevelState:
    """Apply ``actions`` to ``state`` with the environment's rules (a slow reference).

    Stops early at a terminal state or the step limit.
    """
    walls = state.walls
    H, W = walls.shape
    r, c = state.agent
    keys = {tuple(map(int, p)) for p in np.asarray(state.keys).reshape(-1, 2)}
    chests = {tuple(map(int, p)) for p in np.asarray(state.chests).reshape(-1, 2)}
    opened = [tuple(map(int, p)) for p in np.asarray(state.open_chests).reshape(-1, 2)]
    inv, steps = state.inventory, state.steps
    n_open, n_keys = state.chests_opened, state.keys_collected
    piles = {tuple(map(int, p)) for p in np.asarray(state.piles).reshape(-1, 2)}
    for a in actions:
        if not chests or (not keys and not piles and inv == 0) or steps >= state.max_steps:
            break
        dr, dc = ACTION_DELTAS[a]
        rr, cc = r + dr, c + dc
        steps += 1
        if not (0 <= rr < H and 0 <= cc < W) or walls[rr, cc]:
            continue
        if (r, c) in piles:
            keys.add((r, c))  # a pile's key is back once the agent steps off it
        r, c = rr, cc
        if (r, c) in keys:
            keys.remove((r, c))
            inv += 1
            n_keys += 1
        elif (r, c) in chests and inv > 0:
            chests.remove((r, c))
            opened.append((r, c))
            inv -= 1
            n_open += 1

    def arr(points) -> np.ndarray:
        return np.array(sorted(points), dtype=np.int64).reshape(-1, 2)

    return replace(
        state,
        agent=(r, c),
        keys=arr(keys),
        chests=arr(chests),
        open_chests=arr(opened),
        inventory=inv,
        steps=steps,
        chests_opened=n_open,
        keys_collected=n_keys,
    )
