"""Numpy-only rendering of one slot of a :class:`~envs.keys_chests.core.KeysChestsCore`."""

from __future__ import annotations

import numpy as np

from envs.keys_chests.core import CHEST, KEY, OPEN, WALL, KeysChestsCore

TILE = 16
_FLOOR = np.array([24, 24, 28], dtype=np.float32)
_WALL = np.array([120, 120, 128], dtype=np.float32)
_KEY = np.array([250, 205, 40], dtype=np.float32)
_CHEST = np.array([160, 90, 30], dtype=np.float32)
_OPEN = np.array([90, 60, 40], dtype=np.float32)
_PILE = np.array([110, 90, 30], dtype=np.float32)
_AGENT = np.array([230, 50, 50], dtype=np.float32)


#: What the ``rgb_array`` frame's colours mean: (label, RGB) pairs.
LEGEND: tuple[tuple[str, tuple[int, int, int]], ...] = tuple(
    (label, (int(rgb[0]), int(rgb[1]), int(rgb[2])))
    for label, rgb in (
        ("agent", _AGENT),
        ("key", _KEY),
        ("pile (key spot that restocks)", _PILE),
        ("closed chest", _CHEST),
        ("open chest", _OPEN),
        ("wall", _WALL),
    )
)


def _masks(t: int) -> dict[str, np.ndarray]:
    y, x = np.mgrid[0:t, 0:t] + 0.5
    c = t / 2
    disc = (y - c) ** 2 + (x - c) ** 2 <= (0.34 * t) ** 2
    ring = (y - 0.38 * t) ** 2 + (x - 0.3 * t) ** 2
    key = (ring <= (0.2 * t) ** 2) & (ring >= (0.09 * t) ** 2)
    key |= (np.abs(y - 0.38 * t) <= 0.07 * t) & (x >= 0.45 * t) & (x <= 0.85 * t)
    key |= (x >= 0.7 * t) & (x <= 0.8 * t) & (y >= 0.38 * t) & (y <= 0.6 * t)
    box = (y >= 0.3 * t) & (y <= 0.8 * t) & (x >= 0.15 * t) & (x <= 0.85 * t)
    inner = (y >= 0.4 * t) & (y <= 0.7 * t) & (x >= 0.25 * t) & (x <= 0.75 * t)
    lock = (np.abs(x - c) <= 0.08 * t) & (y >= 0.45 * t) & (y <= 0.6 * t)
    return {"agent": disc, "key": key, "chest": box & ~lock, "open": box & ~inner}


_MASKS = _masks(TILE)


def render_rgb(core: KeysChestsCore, slot: int = 0, tile: int = TILE) -> np.ndarray:
    """The full grid as an ``(S * tile, S * tile, 3)`` uint8 image.

    Walls grey, keys yellow, closed chests brown, open chests as brown outlines,
    the agent a red disc; a pile (a key spot that restocks) has a dark gold floor,
    stocked or not; the cells the agent observes are lightened.
    """
    masks = _MASKS if tile == TILE else _masks(tile)
    codes = core.codes_of(slot)
    S = core.size
    img = np.empty((S, S, tile, tile, 3), dtype=np.float32)
    floor = np.where(core.piles_of(slot)[..., None], _PILE, _FLOOR)
    img[:] = np.where((codes & WALL).astype(bool)[..., None], _WALL, floor)[:, :, None, None, :]
    r0, c0, r1, c1 = core.view_box(slot)
    view = img[max(r0, 0) : r1, max(c0, 0) : c1]
    view += (255.0 - view) * 0.18
    for bit, name, colour in ((KEY, "key", _KEY), (CHEST, "chest", _CHEST), (OPEN, "open", _OPEN)):
        rows, cols = np.nonzero(codes & bit)
        img[rows, cols] = np.where(masks[name][..., None], colour, img[rows, cols])
    ar, ac = core.agent_of(slot)
    img[ar, ac] = np.where(masks["agent"][..., None], _AGENT, img[ar, ac])
    img[:, :, 0, :, :] *= 0.7
    img[:, :, :, 0, :] *= 0.7
    return img.transpose(0, 2, 1, 3, 4).reshape(S * tile, S * tile, 3).astype(np.uint8)


def render_ansi(core: KeysChestsCore, slot: int = 0) -> str:
    """A text grid (``#`` wall, ``k`` key, ``K`` stocked pile, ``_`` empty pile, ``C`` closed
    chest, ``c`` open chest, ``@`` agent) and a line with inventory, objectives and steps."""
    codes = core.codes_of(slot)
    chars = np.full(codes.shape, " ", dtype="<U1")
    chars[(codes & WALL).astype(bool)] = "#"
    piles = core.piles_of(slot)
    chars[piles] = "_"
    chars[(codes & KEY).astype(bool)] = "k"
    chars[(codes & KEY).astype(bool) & piles] = "K"
    chars[(codes & CHEST).astype(bool)] = "C"
    chars[(codes & OPEN).astype(bool)] = "c"
    chars[core.agent_of(slot)] = "@"
    lines = ["".join(row) for row in chars]
    lines.append(
        f"inventory={int(core.inventory[slot])} chests_opened={int(core.chests_opened[slot])} "
        f"keys_collected={int(core.keys_collected[slot])} "
        f"steps={int(core.steps[slot])}/{core.max_steps}"
    )
    return "\n".join(lines) + "\n"
