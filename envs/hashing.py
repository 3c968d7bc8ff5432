"""Level hashes: uniforms that are a deterministic function of a level seed.

Levels are generated from hashes of their seed rather than from a generator's
stream, so a batch of levels is one numpy call and a level seed always gives the
same level whatever else is in the batch. Level mixtures (:mod:`envs.mixture`)
use the same hash, salted, to assign each level to a component.
"""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser of a uint64 array (wrapping arithmetic).

    In place on one temporary: level generation at every reset is the batched
    env's main cost when episodes are short.
    """
    z = x + _GOLDEN
    shifted = z >> _U64(30)
    z ^= shifted
    z *= _MIX1
    np.right_shift(z, _U64(27), out=shifted)
    z ^= shifted
    z *= _MIX2
    np.right_shift(z, _U64(31), out=shifted)
    z ^= shifted
    return z


def level_uniforms(level_seeds: np.ndarray, n: int) -> np.ndarray:
    """``(len(level_seeds), n)`` uniforms in [0, 1), a deterministic function of each seed.

    Uniform ``k < ceil(n/2)`` is the low 32 bits of the ``k``-th hash of the seed,
    and the rest are the high 32 bits of the hashes in the same order.
    """
    seeds = np.asarray(level_seeds, dtype=np.int64).astype(_U64)
    base = _splitmix(seeds)[:, None]
    half = (n + 1) // 2
    counter = (np.arange(1, half + 1, dtype=_U64) * _GOLDEN)[None, :]
    bits = _splitmix(base ^ counter)  # two 32-bit uniforms from each 64-bit hash
    words = np.empty((len(seeds), 2 * half), dtype=np.float64)
    np.bitwise_and(bits, _U64(0xFFFFFFFF), out=words[:, :half], casting="unsafe")
    np.right_shift(bits, _U64(32), out=words[:, half:], casting="unsafe")
    words *= 1.0 / (1 << 32)
    return words[:, :n]


__all__ = ["level_uniforms"]
