"""Regression check: re-evaluate a stored agent with the current code, compare, decide.

For every split the agent has a stored run on, the agent is loaded again from
the reference it was submitted from and evaluated on the same seeds with the
code as it is now. Both the stored and the new episodes are normalised by the
*stored* references of that environment (one fixed yardstick), and every
objective's normalised score is compared with a paired bootstrap over the same
seeds and instances. A score has regressed when it fell by more than the
tolerance *and* the 95% interval of the difference lies below zero.

The verdict is one of three (:attr:`CheckReport.status`), each with its exit
code, so CI can gate on it: ``pass`` (0), ``regression`` (1), ``error`` (3:
something could not be evaluated, or nothing was left to compare; never a pass).
Usage errors (2) are raised before anything is evaluated. Comparisons come in a
stable order: family, split (the family's declared order, then shift points),
objective (intended first).
"""

from __future__ import annotations

import dataclasses
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine

import envs
from benchmark.evaluate.agents import AgentLoadError, resolve_stored
from benchmark.evaluate.executors import Executor
from benchmark.evaluate.runner import DEFAULT_BATCH_SIZE
from benchmark.evaluate.sandbox import Limits
from benchmark.evaluate.submission import Job, evaluate_jobs
from benchmark.score.results import NotStoredError, Scorer, stored_agent
from benchmark.score.scoring import ScoringError, normalised_matrices
from benchmark.score.stats import Estimate, iqm, paired_difference
from benchmark.score.sweep import parse_shift, target_for
from benchmark.store import storage
from envs.family import UnknownNameError

#: Default largest fall of a normalised score that is not called a regression.
DEFAULT_TOLERANCE = 0.05

PASS, REGRESSION, ERROR = "pass", "regression", "error"
#: The exit code of each verdict (2, bad usage, never reaches a report).
EXIT_CODES = {PASS: 0, REGRESSION: 1, ERROR: 3}


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
    seconds: float = 0.0  # this objective's share of the split's evaluation time


@dataclass(frozen=True)
class Unchecked:
    """A split (or, with ``split`` None, the whole agent) that was not compared, and why."""

    family: str | None
    split: str | None
    reason: str
    objectives: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.family}/{self.split}" if self.family and self.split else ""

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}" if self.label else self.reason


@dataclass
class CheckReport:
    """What a check found. ``failures`` could not be evaluated (exit 3); ``skipped`` splits
    have no stored run comparable with the current environment (a note, not a failure,
    as long as something else was compared); ``details`` only matter when asked
    (``--verbose``): runs on superseded environment versions."""

    agent: str
    tolerance: float
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[Unchecked] = field(default_factory=list)
    skipped: list[Unchecked] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    seconds: float = 0.0

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

    @property
    def status(self) -> str:
        if self.regressions:
            return REGRESSION
        return PASS if self.complete else ERROR

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def sort(self) -> None:
        """Put comparisons and unchecked splits in the stable order (see the module doc)."""
        self.comparisons.sort(key=lambda c: order_key(c.family, c.split, c.objective))
        for found in (self.failures, self.skipped):
            found.sort(key=lambda u: order_key(u.family or "", u.split or "", ""))


def order_key(family: str, split: str, objective: str) -> tuple:
    """Family by name; split in the family's declared order, then shift points by shift;
    objective intended first, then as the family declares them."""
    try:
        declared = envs.get_family(family)
    except UnknownNameError:
        return (family, 2, 0.0, split, 0, objective)
    splits = [s.name for s in declared.splits]
    shift = parse_shift(split)
    where = (0, float(splits.index(split)), "") if split in splits else (
        (1, shift, "") if shift is not None else (2, 0.0, split)
    )  # fmt: skip
    objectives = list(declared.objective_names)
    rank = objectives.index(objective) if objective in objectives else len(objectives)
    return (family, *where, rank, objective)


def select_runs(
    engine: Engine,
    record: storage.SubmissionRecord,
    families: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
) -> list[storage.RunRecord]:
    """The agent's latest runs on the chosen families and splits.

    Unknown family or split names raise :class:`UnknownNameError` with the nearest
    registered name; a choice the agent has no stored run on raises
    :class:`NotStoredError`.
    """
    chosen = [envs.get_family(name).name for name in families or []]
    if splits:
        pool = [envs.get_family(n) for n in chosen] if chosen else list(envs.FAMILIES.values())
        known = sorted({s.name for f in pool for s in f.splits})
        for name in splits:
            if name not in known and parse_shift(name) is None:
                raise UnknownNameError("split", name, known)
    runs = [
        r
        for r in storage.latest_runs(engine, name=record.name)
        if r.submission_id == record.id
        and (not chosen or r.family in chosen)
        and (not splits or r.split in splits)
    ]
    if not runs:
        where = ""
        if chosen or splits:
            where = " on " + ", ".join([*chosen, *(splits or [])])
        raise NotStoredError(f"{record.label} has no stored runs{where} to check against")
    return runs


def check(
    engine: Engine,
    name: str,
    version: str | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    families: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    limits: Limits | None = None,
    executor: Executor | None = None,
) -> CheckReport:
    """Re-evaluate the stored agent ``name`` (newest version by default) and compare.

    Raises :class:`UnknownNameError` or :class:`NotStoredError` (bad usage) before
    evaluating anything; whatever goes wrong after that is in the report.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    record = stored_agent(engine, name, version)
    runs = select_runs(engine, record, families, splits)
    report = CheckReport(agent=record.label, tolerance=tolerance)
    started = datetime.now(UTC)
    try:
        _compare(engine, record, runs, report, workers, batch_size, progress, limits, executor)
    except Exception as error:  # a crash is "could not evaluate", never a regression's 1
        report.failures.append(Unchecked(None, None, f"the check itself failed: {error!r}"))
    report.seconds = (datetime.now(UTC) - started).total_seconds()
    report.sort()
    return report


def _compare(
    engine: Engine,
    record: storage.SubmissionRecord,
    runs: list[storage.RunRecord],
    report: CheckReport,
    workers: int,
    batch_size: int,
    progress: bool,
    limits: Limits | None,
    executor: Executor | None,
) -> None:
    def objectives_of(family: str) -> tuple[str, ...]:
        try:
            return tuple(envs.get_family(family).objective_names)
        except UnknownNameError:
            return ()

    try:
        source = resolve_stored(record.source)
    except AgentLoadError as error:
        for label in dict.fromkeys((r.family, r.split) for r in runs):
            report.failures.append(
                Unchecked(
                    *label,
                    f"cannot load {record.label} from {record.source!r}: {error}",
                    objectives_of(label[0]),
                )
            )
        return
    if source.checksum != record.checksum:
        report.notes.append(
            f"{record.source} changed since it was stored (checksum "
            f"{record.checksum[:12]} -> {source.checksum[:12]}): checking the agent as it is now"
        )

    scorer = Scorer(engine)
    comparable: dict[tuple[str, str], list] = {}
    stale: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        key = (run.family, run.split)
        try:
            # A registered split or a point of the shift knob (a sweep), on the seeds played.
            target = target_for(envs.get_family(run.family), run.split)
        except (UnknownNameError, ValueError):
            stale.setdefault(key, []).append(f"{run.env_id}: no longer registered")
            continue
        try:
            played = np.unique(scorer.episodes(run.run_id).seed)
        except ScoringError as error:  # a corrupt stored run: nothing to compare with
            report.failures.append(Unchecked(*key, str(error), objectives_of(run.family)))
            continue
        target = dataclasses.replace(target, seeds=tuple(int(s) for s in played))
        if target.fingerprint != run.fingerprint:
            stale.setdefault(key, []).append(
                f"stored on {run.env_id} (fingerprint {run.fingerprint[:12]}), now "
                f"{target.env_id} ({target.fingerprint[:12]})"
            )
            continue
        comparable.setdefault(key, []).append((target, run))
    for key, why in stale.items():
        if key in comparable:  # superseded by a run on the current environment
            report.details.append(
                f"{key[0]}/{key[1]}: an older run is superseded ({'; '.join(why)})"
            )
        else:
            report.skipped.append(
                Unchecked(
                    *key,
                    "the environment changed since the stored run ("
                    + "; ".join(why)
                    + "): scores are not comparable",
                    objectives_of(key[0]),
                )
            )
            report.notes.append(str(report.skipped[-1]))

    jobs, stored_runs = [], {}
    for pairs in comparable.values():
        for target, run in pairs:
            jobs.append(Job(source, record.name, record.version, record.kind, target))
            stored_runs[id(jobs[-1])] = run

    for job, get in evaluate_jobs(
        jobs,
        workers=workers,
        batch_size=batch_size,
        progress=progress,
        description="Checking",
        limits=limits,
        executor=executor,
    ):
        family = envs.get_family(job.target.family)
        try:
            episodes, _, seconds, _ = get()
        except Exception as error:  # the agent failed, the worker died, ...: not evaluated
            report.failures.append(
                Unchecked(family.name, job.target.split, str(error), family.objective_names)
            )
            continue
        run = stored_runs[id(job)]
        try:
            old = scorer.matrices(job.target, run.run_id)
            new = normalised_matrices(episodes, scorer.normaliser(job.target))
        except ScoringError as error:  # a reference missing or corrupt: no yardstick
            report.failures.append(
                Unchecked(family.name, job.target.split, str(error), family.objective_names)
            )
            continue
        mismatched = [o for o in family.objective_names if new[o].shape != old[o].shape]
        if mismatched:
            shape = mismatched[0]
            report.failures.append(
                Unchecked(
                    family.name,
                    job.target.split,
                    f"played {new[shape].shape} (instances, seeds), stored {old[shape].shape}",
                    family.objective_names,
                )
            )
            continue
        for objective in family.objective_names:
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
                    regressed=difference.point < -report.tolerance and difference.high < 0,
                    seconds=seconds / len(family.objective_names),
                )
            )


# --------------------------------------------------------------------------- output


def report_json(report: CheckReport) -> dict[str, Any]:
    """The report for scripts (``check --json``): the verdict, its exit code, every row."""

    def unchecked(u: Unchecked) -> dict[str, Any]:
        return {"family": u.family, "split": u.split, "reason": u.reason}

    return {
        "agent": report.agent,
        "tolerance": report.tolerance,
        "status": report.status,
        "exit_code": report.exit_code,
        "comparisons": [
            {
                "family": c.family,
                "split": c.split,
                "objective": c.objective,
                "intended": c.intended,
                "stored": c.stored,
                "current": c.current,
                "difference": c.difference.point,
                "difference_ci": [c.difference.low, c.difference.high],
                "regressed": c.regressed,
            }
            for c in report.comparisons
        ],
        "errors": [unchecked(u) for u in report.failures],
        "skipped": [unchecked(u) for u in report.skipped],
        "notes": report.notes,
    }


def report_junit(report: CheckReport) -> ET.ElementTree:
    """The report as JUnit XML, as GitHub Actions' reporters and Jenkins read it.

    One ``testcase`` per (agent, split, objective): a ``failure`` for a regression,
    an ``error`` for one that could not be evaluated (every objective of the
    split, or of every split when the agent itself could not be loaded), a
    ``skipped`` for a split with no comparable stored run. The agent is the suite.
    """

    def classname(family: str | None, split: str | None) -> str:
        # Dots separate packages in Jenkins: a shift point's "0.40" must not split.
        return f"{family or 'agent'}.{(split or 'all').replace('.', '_')}"

    cases: list[ET.Element] = []
    for c in report.comparisons:
        case = ET.Element("testcase", name=c.objective, classname=classname(c.family, c.split),
                          time=f"{c.seconds:.3f}")  # fmt: skip
        if c.regressed:
            message = (f"{c.family}/{c.split} {c.objective} fell by {-c.difference.point:.3f} "
                       f"(from {c.stored:.3f} to {c.current:.3f})")  # fmt: skip
            failure = ET.SubElement(case, "failure", message=message, type="regression")
            failure.text = (
                f"{message}; 95% CI of the difference [{c.difference.low:+.3f}, "
                f"{c.difference.high:+.3f}], tolerance {report.tolerance}"
            )
        cases.append(case)
    for kind, found in (("error", report.failures), ("skipped", report.skipped)):
        for u in found:
            for objective in u.objectives or ("all objectives",):
                case = ET.Element("testcase", name=objective,
                                  classname=classname(u.family, u.split), time="0")  # fmt: skip
                element = ET.SubElement(case, kind, message=str(u))
                if kind == "error":
                    element.set("type", "could-not-evaluate")
                    element.text = str(u)
                cases.append(case)

    counts = {
        "tests": str(len(cases)),
        "failures": str(len(report.regressions)),
        "errors": str(sum(len(u.objectives) or 1 for u in report.failures)),
        "skipped": str(sum(len(u.objectives) or 1 for u in report.skipped)),
        "time": f"{report.seconds:.3f}",
    }
    # The attributes both common schemas (Jenkins' junit-10.xsd, Ant's JUnit.xsd) know;
    # the root has no "skipped" in Jenkins', and Ant's suites need an id and a package.
    root = ET.Element("testsuites", name="mesabench check",
                      **{k: v for k, v in counts.items() if k != "skipped"})  # fmt: skip
    suite = ET.SubElement(
        root, "testsuite", name=f"mesabench check {report.agent}", **counts, id="0",
        package="mesabench", timestamp=report.started_at.strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname() or "localhost",
    )  # fmt: skip
    properties = ET.SubElement(suite, "properties")
    facts = {"agent": report.agent, "tolerance": str(report.tolerance),
             "status": report.status, "exit_code": str(report.exit_code)}  # fmt: skip
    for key, value in facts.items():
        ET.SubElement(properties, "property", name=key, value=value)
    suite.extend(cases)
    if report.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(report.notes)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree
