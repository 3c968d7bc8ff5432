"""Aggregate statistics with stratified bootstrap confidence intervals, as rliable does them.

Numpy only at run time (rliable and scipy are only test references).

Data layout
-----------
A score of one agent on one split is an ``(instances, episodes)`` matrix: rows are
independently trained instances of the agent, columns are the split's evaluation
level seeds (the same seeds, in the same order, for every row). A 1-D array is
taken as a single instance. An aggregate over several splits takes a sequence of
such matrices, one per split: each is a **stratum**.

Resampling (one bootstrap repetition)
-------------------------------------
Within each stratum the columns (levels) are drawn with replacement and, when the
matrix has more than one row, the rows (instances) are drawn with replacement too
(a two-stage bootstrap: ``M[rows][:, cols]``). Strata are resampled independently
and then pooled (concatenated, flattened) and the statistic is computed on the
pooled resample. The interval is the percentile interval of the repetitions
(``np.percentile``, linear interpolation, like ``arch``/rliable's ``percentile``
method). With one instance per stratum this is exactly rliable's
``StratifiedBootstrap`` over a ``(episodes, strata)`` matrix.

Repetitions are vectorised: resamples are built as a ``(chunk, cells)`` array and
the statistic is applied along the last axis, in chunks bounded by
:data:`MAX_CHUNK_ELEMENTS` so memory stays bounded for large inputs.

Statistics
----------
A statistic is any callable that reduces values to a number. If it accepts an
``axis`` keyword (``iqm``, ``np.mean``, ``np.median``, ...) it is called once per
chunk as ``statistic(batch, axis=-1)``; otherwise it is called on each flat
resample in turn (correct, slower).

Reproducibility
---------------
Every function that draws takes ``rng``: a :class:`numpy.random.Generator`, an
``int`` seed, or ``None`` for the fixed seed :data:`DEFAULT_SEED`, so the same
data always gives the same interval (a leaderboard must not flicker).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Seed used when no ``rng`` is given: intervals are reproducible by default.
DEFAULT_SEED = 0
#: Default number of bootstrap repetitions.
DEFAULT_REPS = 2000
#: Default confidence level of intervals.
DEFAULT_CONFIDENCE = 0.95
#: Upper bound on the number of float64 values in one vectorised chunk of resamples
#: (4M values = 32 MB per array).
MAX_CHUNK_ELEMENTS = 4_000_000

Statistic = Callable[..., float | np.ndarray]
RngLike = np.random.Generator | int | None


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval ``[low, high]``."""

    point: float
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


def iqm(values: np.ndarray | Sequence[float], axis: int | None = None) -> float | np.ndarray:
    """Inter-quartile mean: the 25% trimmed mean, exactly as ``scipy.stats.trim_mean(x, 0.25)``.

    After sorting, ``int(0.25 * n)`` values are cut from each end and the rest
    averaged. ``axis=None`` flattens (as rliable's ``aggregate_iqm``); otherwise the
    reduction runs along ``axis`` and an array is returned.
    """
    a = np.asarray(values, dtype=float)
    if axis is None:
        a = a.ravel()
        axis = 0
    n = a.shape[axis]
    if n == 0:
        raise ValueError("iqm of an empty array")
    low = int(0.25 * n)
    high = n - low
    part = np.partition(a, (low, high - 1), axis=axis)
    index: list[slice] = [slice(None)] * part.ndim
    index[axis] = slice(low, high)
    kept = part[tuple(index)]
    out = np.mean(kept, axis=axis)
    return float(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------- helpers


def _rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(DEFAULT_SEED if rng is None else rng)


def _matrix(x: np.ndarray | Sequence[float], what: str) -> np.ndarray:
    m = np.asarray(x, dtype=float)
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise ValueError(f"{what}: expected an (instances, episodes) matrix, got shape {m.shape}")
    if m.size == 0:
        raise ValueError(f"{what}: empty score matrix (shape {m.shape})")
    if np.isnan(m).any():
        rows, cols = np.nonzero(np.isnan(m))
        raise ValueError(
            f"{what}: {len(rows)} NaN score(s), first at instance {rows[0]}, episode {cols[0]}"
        )
    return m


def _strata(strata: Sequence[np.ndarray] | np.ndarray, what: str) -> list[np.ndarray]:
    if isinstance(strata, np.ndarray):
        # A single matrix (or a 1-D array) is one stratum.
        strata = [strata]
    out = [_matrix(s, f"{what}, stratum {i}") for i, s in enumerate(strata)]
    if not out:
        raise ValueError(f"{what}: no strata")
    return out


def _check_confidence(confidence: float, reps: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")


def _vectorised(statistic: Statistic) -> Callable[[np.ndarray], np.ndarray]:
    """``statistic`` as a function reducing a (chunk, cells) array along its last axis."""
    try:
        takes_axis = "axis" in inspect.signature(statistic).parameters
    except (TypeError, ValueError):  # some builtins / ufunc wrappers have no signature
        takes_axis = False
    if takes_axis:
        return lambda batch: np.asarray(statistic(batch, axis=-1), dtype=float)
    return lambda batch: np.array([float(statistic(row)) for row in batch])


def _chunk_size(cells: int, reps: int) -> int:
    return max(1, min(reps, MAX_CHUNK_ELEMENTS // max(cells, 1)))


def _draw(m_shape: tuple[int, int], k: int, rng: np.random.Generator):
    """Row and column indices of ``k`` two-stage resamples of a matrix of shape ``m_shape``."""
    n_rows, n_cols = m_shape
    cols = rng.integers(0, n_cols, size=(k, 1, n_cols))
    if n_rows > 1:
        rows = rng.integers(0, n_rows, size=(k, n_rows, 1))
    else:
        rows = np.zeros((k, 1, 1), dtype=np.intp)
    return rows, cols


def _resample(m: np.ndarray, idx) -> np.ndarray:
    rows, cols = idx
    return m[rows, cols].reshape(len(rows), -1)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.percentile(values, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


def _pool(strata: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([s.ravel() for s in strata])


# --------------------------------------------------------------------------- bootstrap


def bootstrap_distribution(
    strata: Sequence[np.ndarray] | np.ndarray,
    statistic: Statistic = iqm,
    reps: int = DEFAULT_REPS,
    rng: RngLike = None,
) -> np.ndarray:
    """The ``reps`` bootstrap replicates of ``statistic`` on the pooled strata (see module doc).

    The resampling indices depend only on ``rng``, ``reps`` and the strata's shapes,
    never on the values or the statistic: two calls with the same seed on strata of
    the same shapes (e.g. two objectives of the same episodes) resample the same rows
    and columns, so their replicates can be combined element-wise (a max over
    objectives, a ratio) as one joint bootstrap.
    """
    ms = _strata(strata, "bootstrap")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    gen = _rng(rng)
    stat = _vectorised(statistic)
    cells = sum(m.size for m in ms)
    chunk = _chunk_size(cells, reps)
    out = np.empty(reps)
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        pooled = np.concatenate([_resample(m, _draw(m.shape, k, gen)) for m in ms], axis=1)
        out[start : start + k] = stat(pooled)
    return out


def bootstrap(
    strata: Sequence[np.ndarray] | np.ndarray,
    statistic: Statistic = iqm,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    rng: RngLike = None,
) -> Estimate:
    """``statistic`` of the pooled strata with a stratified bootstrap percentile interval.

    Args:
        strata: one ``(instances, episodes)`` matrix per stratum (split), or a
            single matrix. A 1-D array is one instance.
        statistic: reduces values to a number (default :func:`iqm`).
        reps: bootstrap repetitions.
        confidence: interval coverage, e.g. 0.95.
        rng: a Generator, a seed, or ``None`` for :data:`DEFAULT_SEED`.

    Returns:
        ``Estimate(point, low, high)``; ``point`` is the statistic on the original
        pooled data.

    Raises:
        ValueError: no strata, an empty matrix, NaN scores, bad shape or settings.
    """
    ms = _strata(strata, "bootstrap")
    _check_confidence(confidence, reps)
    point = float(statistic(_pool(ms)))
    low, high = _percentiles(bootstrap_distribution(ms, statistic, reps, rng), confidence)
    return Estimate(point, low, high)


def paired_difference(
    new: Sequence[np.ndarray] | np.ndarray,
    old: Sequence[np.ndarray] | np.ndarray,
    statistic: Statistic = iqm,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    rng: RngLike = None,
) -> Estimate:
    """``statistic(new) - statistic(old)`` with a paired stratified bootstrap interval.

    Each ``new[i]``/``old[i]`` pair must have the same shape (same instances, same
    seeds in the same order). Each repetition draws one set of row/column indices
    per stratum and applies it to both, so shared level difficulty cancels out. For
    a regression check: the new version is significantly worse when ``high < 0``.
    Identical inputs give exactly ``Estimate(0, 0, 0)``.
    """
    ns = _strata(new, "paired_difference (new)")
    os_ = _strata(old, "paired_difference (old)")
    if len(ns) != len(os_):
        raise ValueError(f"paired_difference: {len(ns)} new strata but {len(os_)} old strata")
    for i, (a, b) in enumerate(zip(ns, os_, strict=True)):
        if a.shape != b.shape:
            raise ValueError(
                f"paired_difference: stratum {i} has shape {a.shape} (new) but {b.shape} (old); "
                "pairs must share instances and seeds"
            )
    _check_confidence(confidence, reps)
    gen = _rng(rng)
    stat = _vectorised(statistic)
    point = float(statistic(_pool(ns))) - float(statistic(_pool(os_)))
    cells = sum(m.size for m in ns)
    chunk = _chunk_size(2 * cells, reps)
    diffs = np.empty(reps)
    for start in range(0, reps, chunk):
        k = min(chunk, reps - start)
        idx = [_draw(m.shape, k, gen) for m in ns]
        pn = np.concatenate([_resample(m, i) for m, i in zip(ns, idx, strict=True)], axis=1)
        po = np.concatenate([_resample(m, i) for m, i in zip(os_, idx, strict=True)], axis=1)
        diffs[start : start + k] = stat(pn) - stat(po)
    low, high = _percentiles(diffs, confidence)
    return Estimate(point, low, high)


# --------------------------------------------------------------------------- improvement


def _codes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Both arrays as integer ranks of their values in the union (ties share a code)."""
    values, inverse = np.unique(np.concatenate([x.ravel(), y.ravel()]), return_inverse=True)
    return inverse[: x.size].reshape(x.shape), inverse[x.size :].reshape(y.shape), len(values)


def _prob_greater(cx: np.ndarray, cy: np.ndarray, n_codes: int) -> np.ndarray:
    """P(X > Y) + P(X = Y) / 2 per row, for (k, nx) and (k, ny) arrays of integer codes.

    Equals the Mann–Whitney U statistic of X divided by ``nx * ny``. Counting uses
    one offset ``bincount`` per batch, so it is exact and vectorised over rows.
    """
    k, ny = cy.shape
    offsets = (np.arange(k) * n_codes)[:, None]
    hist = np.bincount((cy + offsets).ravel(), minlength=k * n_codes).reshape(k, n_codes)
    below = np.cumsum(hist, axis=1) - hist  # count of y strictly below each code
    score = below + 0.5 * hist
    return np.take_along_axis(score, cx, axis=1).mean(axis=1) / ny


def _poi_point(xs: list[np.ndarray], ys: list[np.ndarray]) -> float:
    probs = []
    for x, y in zip(xs, ys, strict=True):
        cx, cy, n = _codes(x, y)
        probs.append(_prob_greater(cx.reshape(1, -1), cy.reshape(1, -1), n)[0])
    return float(np.mean(probs))


def probability_of_improvement(
    x: Sequence[np.ndarray] | np.ndarray,
    y: Sequence[np.ndarray] | np.ndarray,
    reps: int = DEFAULT_REPS,
    confidence: float = DEFAULT_CONFIDENCE,
    rng: RngLike = None,
) -> Estimate:
    """P(X > Y): the probability that agent ``x`` beats agent ``y``, as rliable defines it.

    Per stratum, every score of ``x`` (all instances × episodes) is compared with
    every score of ``y``: ``P(X > Y) + P(X = Y) / 2``, which is the Mann–Whitney U
    statistic divided by ``nx * ny``; the result is the mean over strata. It is 0.5
    for identical inputs and 1 when ``x`` beats ``y`` everywhere. The interval
    resamples ``x`` and ``y`` independently within each stratum (two-stage, as
    :func:`bootstrap`), like rliable's ``StratifiedIndependentBootstrap``.
    """
    xs = _strata(x, "probability_of_improvement (x)")
    ys = _strata(y, "probability_of_improvement (y)")
    if len(xs) != len(ys):
        raise ValueError(f"probability_of_improvement: {len(xs)} strata for x but {len(ys)} for y")
    _check_confidence(confidence, reps)
    gen = _rng(rng)
    point = _poi_point(xs, ys)
    total = np.zeros(reps)
    for a, b in zip(xs, ys, strict=True):
        cx, cy, n = _codes(a, b)
        chunk = _chunk_size(max(n, cx.size + cy.size), reps)
        for start in range(0, reps, chunk):
            k = min(chunk, reps - start)
            rx = _resample(cx, _draw(cx.shape, k, gen))
            ry = _resample(cy, _draw(cy.shape, k, gen))
            total[start : start + k] += _prob_greater(rx, ry, n)
    low, high = _percentiles(total / len(xs), confidence)
    return Estimate(point, low, high)


def benchmark_bootstrap(instances: int = 5, episodes: int = 256, reps: int = DEFAULT_REPS) -> float:
    """Seconds one IQM :func:`bootstrap` of an ``(instances, episodes)`` matrix takes."""
    scores = np.random.default_rng(0).standard_normal((instances, episodes))
    start = time.perf_counter()
    bootstrap(scores, reps=reps, rng=0)
    return time.perf_counter() - start
