"""Numpy-only rendering of an :class:`~envs.evolution.env.EvolutionEnv`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from envs.evolution.env import EvolutionEnv

TILE = 14
_GROUND = np.array([30, 34, 30], dtype=np.float32)
_HALO = (220, 60, 220)


def food_colour(sweetness, nutrition, candy) -> np.ndarray:
    """A food item's colour (arrays or scalars): red for sweetness, green for
    nutrition, and a blue tint for candy."""
    channels = np.broadcast_arrays(
        60 + 195 * np.asarray(sweetness, dtype=float),
        40 + 215 * np.asarray(nutrition, dtype=float),
        40 + 120 * np.asarray(candy, dtype=float),
    )
    return np.stack(channels, axis=-1).astype(np.float32)


def body_colour(energy: float) -> tuple[float, float, float]:
    """An organism's colour at ``energy`` in [0, 1] of the maximum: brighter blue, fuller."""
    return (40 + 40 * energy, 60 + 120 * energy, 90 + 165 * energy)


def _rgb(colour) -> tuple[int, int, int]:
    r, g, b = (round(float(c)) for c in colour)
    return (r, g, b)


#: What the colours of :func:`render_rgb` mean, for a replay's legend: (label, RGB).
LEGEND: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("ripe fruit: sweet and nutritious", _rgb(food_colour(0.85, 0.95, False))),
    ("unripe fruit: neither", _rgb(food_colour(0.1, 0.1, False))),
    ("candy: sweetest, no nutrition", _rgb(food_colour(1.0, 0.0, True))),
    ("organism, full of energy", _rgb(body_colour(1.0))),
    ("organism, low on energy", _rgb(body_colour(0.2))),
    ("halo: ornament (wider = showier)", _HALO),
)


def _disc(t: int, radius: float) -> np.ndarray:
    y, x = np.mgrid[0:t, 0:t] + 0.5
    return (y - t / 2) ** 2 + (x - t / 2) ** 2 <= (radius * t) ** 2


def render_rgb(env: EvolutionEnv, tile: int = TILE) -> np.ndarray:
    """The grid as a ``(size * tile, size * tile, 3)`` uint8 image.

    Food is a small square coloured by sweetness (red) and nutrition (green):
    ripe fruit yellow, unripe fruit dim, candy bright red-pink. Organisms are
    discs whose blue brightness is their energy, with a magenta halo whose
    width grows with the ornament.
    """
    s = env.size
    img = np.empty((s, s, tile, tile, 3), dtype=np.float32)
    img[:] = _GROUND
    food = env.food_kind > 0
    sq = np.zeros((tile, tile), dtype=bool)
    lo, hi = tile // 4, tile - tile // 4
    sq[lo:hi, lo:hi] = True
    colour = food_colour(env.sweetness, env.nutrition, env.food_kind == 2)
    fy, fx = np.nonzero(food)
    img[fy, fx] = np.where(sq[..., None], colour[fy, fx][:, None, None, :], img[fy, fx])
    live = np.flatnonzero(env.alive)
    max_energy = float(env.config["max_energy"])
    for i in live.tolist():
        y, x = env.pos[i]
        halo = _disc(tile, 0.28 + 0.2 * float(env.ornament[i]))
        body = _disc(tile, 0.26)
        e = float(np.clip(env.energy[i] / max_energy, 0.0, 1.0))
        cell = img[y, x]
        cell[halo] = _HALO
        cell[body] = body_colour(e)
    img[:, :, 0, :, :] *= 0.8
    img[:, :, :, 0, :] *= 0.8
    return img.transpose(0, 2, 1, 3, 4).reshape(s * tile, s * tile, 3).astype(np.uint8)


def render_ansi(env: EvolutionEnv) -> str:
    """A text grid and a status line.

    ``c`` candy, ``f`` unripe fruit (nutrition < 0.5), ``F`` ripe fruit, organisms
    a digit: their ornament in tenths (``0``-``9``); ``.`` bare ground.
    """
    s = env.size
    chars = np.full((s, s), ".", dtype="<U1")
    chars[env.food_kind == 1] = "f"
    chars[(env.food_kind == 1) & (env.nutrition >= 0.5)] = "F"
    chars[env.food_kind == 2] = "c"
    for i in np.flatnonzero(env.alive).tolist():
        y, x = env.pos[i]
        chars[y, x] = str(min(9, int(env.ornament[i] * 10)))
    lines = ["".join(row) for row in chars]
    totals = " ".join(f"{k}={v:.1f}" for k, v in env.episode_objectives.items())
    lines.append(f"t={env.t}/{env.max_steps} alive={int(env.alive.sum())} {totals}")
    return "\n".join(lines) + "\n"
