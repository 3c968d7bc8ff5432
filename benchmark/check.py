"""Regression check: re-evaluate a stored agent with the current code, compare, decide.

For every split the agent has a stored run on, the agent is loaded again from
the reference it was submitted from and evaluated on the same seeds with the
code as it is now. Both the stored and the new episodes are normalised by the
*stored* references of that environment (one fixed yardstick), and every
objective's normalised score is compared with a paired bootstrap over the same
seeds and instances. A score has regressed when it fell by more than the
tolerance *and* the 95% interval of the difference lies below zero.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine

import envs
from benchmark import storage
from benchmark.agents import AgentLoadError, resolve
from benchmark.protocol import UnsupportedFamily
from benchmark.results import NotStoredError, Scorer, stored_agent
from benchmark.runner import DEFAULT_BATCH_SIZE, AgentFailure
from benchmark.sandbox import Limits
from benchmark.scoring import ScoringError, normalised_matrices
from benchmark.stats import Estimate, iqm, paired_difference
from benchmark.submission import Job, evaluate_jobs
from benchmark.sweep import target_for
from envs.family import UnknownNameError

#: Default largest fall of a normalised score that is not called a regression.
DEFAULT_TOLERANCE = 0.05


@dataclass(frozen=True)
class Comparison:
    """One objective of one split: the stored score, the current one, their difference."""

    family: str
    split: str
    objective: str
    intended: bool
    stored: float
    current: float
    difference: Estimate
    regressed: bool


@dataclass
class CheckReport:
    agent: str
    tolerance: float
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.regressed]

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.failures

    @property
    def complete(self) -> bool:
        """Whether every stored split was re-evaluated and compared (something was checked)."""
        return not self.failures and bool(self.comparisons)


def check(
    engine: Engine,
    name: str,
    version: str | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    limits: Limits | None = None,
) -> CheckReport:
    """Re-evaluate the stored agent ``name`` (newest version by default) and compare."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    record = stored_agent(engine, name, version)
    runs = [r for r in storage.latest_runs(engine, name=name) if r.submission_id == record.id]
    if not runs:
        raise NotStoredError(f"{record.label} has no stored runs to check against")
    report = CheckReport(agent=record.label, tolerance=tolerance)
    try:
        source = resolve(record.source)
    except AgentLoadError as error:
        report.failures.append(f"cannot load {record.label} from {record.source!r}: {error}")
        return report
    if source.checksum != record.checksum:
        report.notes.append(
            f"{record.source} changed since it was stored (checksum "
            f"{record.checksum[:12]} -> {source.checksum[:12]}): checking the agent as it is now"
        )

    scorer = Scorer(engine)
    jobs, stored_runs = [], {}
    for run in runs:
        try:
            # A registered split or a point of the shift knob (a sweep), on the seeds played.
            target = target_for(envs.get_family(run.family), run.split)
        except (UnknownNameError, ValueError):
            report.notes.append(f"{run.family}/{run.split} is no longer registered: skipped")
            continue
        try:
            played = np.unique(scorer.episodes(run.run_id).seed)
        except ScoringError as error:  # a corrupt stored run: nothing to compare with
            report.failures.append(str(error))  # it names the run, family and split
            continue
        target = dataclasses.replace(target, seeds=tuple(int(s) for s in played))
        if target.fingerprint != run.fingerprint:
            report.notes.append(
                f"{target.label}: the environment changed since the stored run "
                f"({run.env_id} -> {target.env_id}, fingerprint {run.fingerprint[:12]} -> "
                f"{target.fingerprint[:12]}): scores are not comparable, skipped"
            )
            continue
        jobs.append(Job(source, record.name, record.version, record.kind, target))
        stored_runs[target.label] = run

    for job, get in evaluate_jobs(
        jobs,
        workers=workers,
        batch_size=batch_size,
        progress=progress,
        description="Checking",
        limits=limits,
    ):
        try:
            episodes = get()[0]
        except (AgentFailure, UnsupportedFamily, BrokenProcessPool) as error:
            report.failures.append(f"{job.target.label}: {error}")
            continue
        family = envs.get_family(job.target.family)
        run = stored_runs[job.target.label]
        try:
            old = scorer.matrices(job.target, run.run_id)
            new = normalised_matrices(episodes, scorer.normaliser(job.target))
        except ScoringError as error:  # a reference missing or corrupt: no yardstick
            report.failures.append(str(error))  # it names the split (and the run)
            continue
        for objective in family.objective_names:
            if new[objective].shape != old[objective].shape:
                report.failures.append(
                    f"{job.target.label}: played {new[objective].shape} (instances, seeds), "
                    f"stored {old[objective].shape}"
                )
                break
            difference = paired_difference([new[objective]], [old[objective]])
            report.comparisons.append(
                Comparison(
                    family=family.name,
                    split=job.target.split,
                    objective=objective,
                    intended=objective == family.intended.name,
                    stored=iqm(old[objective]),
                    current=iqm(new[objective]),
                    difference=difference,
                    regressed=difference.point < -tolerance and difference.high < 0,
                )
            )
    return report
