"""Numpy-only rendering of an :class:`~envs.evolution.env.EvolutionEnv`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from envs.evolution.env import EvolutionEnv

TILE = 14
_GROUND = np.array([30, 34, 30], dtype=np.float32)


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
    colour = np.stack(
        [60 + 195 * env.sweetness, 40 + 215 * env.nutrition, 40 + 120 * (env.food_kind == 2)],
        axis=-1,
    ).astype(np.float32)
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
        cell[halo] = (220, 60, 220)
        cell[body] = (40 + 40 * e, 60 + 120 * e, 90 + 165 * e)
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
