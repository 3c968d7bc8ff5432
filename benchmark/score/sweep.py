"""Generalisation curves: evaluate a stored agent along its family's ``shift`` knob.

A sweep point is a :class:`~benchmark.evaluate.runner.Target` made by
:func:`~benchmark.evaluate.runner.shift_target` (split name ``shift=0.40``), evaluated on
the canonical shift's seeds. Each point's runs are stored like any other run,
together with that point's own reference runs, so every point is normalised by
references measured on exactly its environment. Stored sweep points are found
again by recomputing each point's fingerprint with the current code: points of
an older environment version never mix with current ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import Engine

from benchmark.evaluate.agents import AgentLoadError, resolve_stored
from benchmark.evaluate.executors import Executor
from benchmark.evaluate.runner import DEFAULT_BATCH_SIZE, Target, shift_target, split_target
from benchmark.evaluate.submission import Job, RunOutcome, reference_jobs, run_jobs
from benchmark.score.results import NotStoredError, Scorer
from benchmark.score.scoring import Score, ScoringError
from benchmark.store import storage
from envs.family import Family

#: The default number of points of a sweep (0 = train ... 1 = canonical shift).
DEFAULT_POINTS = 6

_SHIFT_SPLIT = re.compile(r"^shift=(\d+(?:\.\d+)?)$")


def sweep_points(n: int = DEFAULT_POINTS) -> list[float]:
    """``n`` evenly spaced shifts from 0 (train) to 1 (canonical shift), to 2 decimals."""
    if n < 2:
        raise ValueError(f"a sweep needs at least 2 points, got {n}")
    return [round(float(x), 2) for x in np.linspace(0.0, 1.0, n)]


def parse_shift(split: str) -> float | None:
    """The shift of a sweep point's split name (``"shift=0.40"`` -> 0.4), else None."""
    match = _SHIFT_SPLIT.match(split)
    if match is None:
        return None
    value = float(match.group(1))
    return value if 0.0 <= value <= 1.0 else None


def target_for(family: Family, split: str) -> Target:
    """The target of a registered split, or of a shift point written ``shift=0.40``."""
    shift = parse_shift(split)
    if shift is not None:
        return shift_target(family, shift)
    if split.startswith("shift="):
        raise ValueError(f"bad shift point {split!r}: expected shift=X with X in [0, 1]")
    return split_target(family, split)


def point_target(family: Family, shift: float, n_seeds: int | None = None) -> Target:
    """The sweep point ``shift``, on the first ``n_seeds`` of the canonical shift's seeds
    (all of them by default; fewer seeds make another environment fingerprint, so quick
    sweeps and full ones are stored and drawn apart)."""
    target = shift_target(family, shift)
    if n_seeds is None or n_seeds >= len(target.seeds):
        return target
    if n_seeds < 1:
        raise ValueError(f"a sweep needs at least 1 seed per point, got {n_seeds}")
    return replace(target, seeds=target.seeds[:n_seeds])


def sweep_targets(
    family: Family, points: Sequence[float], n_seeds: int | None = None
) -> list[Target]:
    return [point_target(family, p, n_seeds) for p in points]


def run_sweep(
    engine: Engine,
    record: storage.SubmissionRecord,
    family: Family,
    points: Sequence[float],
    *,
    workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    n_seeds: int | None = None,
    executor: Executor | None = None,
) -> list[RunOutcome]:
    """Evaluate (and store) the agent and every point's references; re-uses stored runs.

    The agent is loaded again from its stored ``source``; if that changed since it was
    stored (another checksum) a :class:`NotStoredError` says so, since its runs would
    no longer be the stored version's.
    """
    try:
        source = resolve_stored(record.source)
    except AgentLoadError as error:
        raise NotStoredError(
            f"cannot load {record.label} from {record.source!r}: {error}"
        ) from None
    if source.checksum != record.checksum:
        raise NotStoredError(
            f"{record.source} changed since {record.label} was stored (checksum "
            f"{record.checksum[:12]} -> {source.checksum[:12]}): submit it as a new version "
            "before sweeping it"
        )
    targets = sweep_targets(family, points, n_seeds)
    jobs = reference_jobs(targets) + [
        Job(source, record.name, record.version, record.kind, t) for t in targets
    ]
    return run_jobs(
        engine, jobs, workers=workers, batch_size=batch_size, progress=progress, executor=executor
    )


@dataclass(frozen=True)
class SweepPoint:
    """One scored point of a curve."""

    shift: float
    split: str
    run_id: int
    score: Score


@dataclass(frozen=True)
class Curve:
    """One agent's generalisation curve on one family."""

    agent: str  # name@version
    family: str
    points: list[SweepPoint]
    problems: list[str] = field(default_factory=list)


def stored_points(
    engine: Engine, record: storage.SubmissionRecord, family: Family, n_seeds: int | None = None
) -> dict[float, storage.RunRecord]:
    """The agent's stored sweep runs on the current definition of ``family``, by shift."""
    found: dict[float, storage.RunRecord] = {}
    for run in storage.latest_runs(engine, family=family.name, name=record.name):
        shift = parse_shift(run.split)
        if run.submission_id != record.id or shift is None:
            continue
        if run.fingerprint != point_target(family, shift, n_seeds).fingerprint:
            continue  # an older environment version: never mixed with current points
        if shift not in found or run.run_id > found[shift].run_id:
            found[shift] = run
    return dict(sorted(found.items()))


def load_curve(
    engine: Engine,
    record: storage.SubmissionRecord,
    family: Family,
    *,
    scorer: Scorer | None = None,
    n_seeds: int | None = None,
) -> Curve:
    """Score every stored sweep point of the agent; points without references are noted.

    Every point is scored as a shift (its label depends on the agent's outcome on
    the registered ``train`` split, even at shift 0, which uses other seeds).
    """
    scorer = scorer or Scorer(engine)
    points, problems = [], []
    try:
        train = scorer.train_outcome(record, family)
    except ScoringError as error:
        train = None
        problems.append(str(error))
    for shift, run in stored_points(engine, record, family, n_seeds).items():
        target = point_target(family, shift, n_seeds)
        try:
            score = scorer.score([(target, run.run_id)], on_train=False, train=train)
        except ScoringError as error:
            problems.append(str(error))
            continue
        points.append(SweepPoint(shift, run.split, run.run_id, score))
    return Curve(record.label, family.name, points, problems)
