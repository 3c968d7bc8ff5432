"""Submitting an agent: evaluate it (and any missing references) and store every run.

Runs are independent (one per target), so they go to an executor
(:mod:`benchmark.evaluate.executors`): a process pool on this machine, one target per
task and one torch thread per process, or a Ray cluster, one seed shard per
task. Each finished run is stored in its own transaction by this (parent)
process, whichever executor evaluated it; a run that fails stores nothing.
A run already stored for the same agent checksum, environment fingerprint and
seeds is re-used instead of evaluated again.

Each run is claimed in the database before it is evaluated
(:func:`benchmark.store.storage.claim_run`): when several commands (on one machine or
many sharing a PostgreSQL server) need the same run at once, a reference run
above all, one evaluates it and the others wait for it and re-use it. Claims are
renewed while this process evaluates and released when it stops.

Workers die with this process (and their agent processes with them), and an
interrupted evaluation (Ctrl-C, SIGTERM) kills its workers before it returns:
no process outlives the command.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

import envs
from benchmark.evaluate.agents import AgentSource, canonical_reference, reference_source
from benchmark.evaluate.executors import (
    Executor,
    Result,
    WorkerLost,
    combine,
    local_executor,
    plan_shards,
)
from benchmark.evaluate.runner import DEFAULT_BATCH_SIZE, AgentFailure, Target
from benchmark.evaluate.sandbox import Limits
from benchmark.protocol import UnsupportedFamily
from benchmark.store import storage

STORED, REUSED, FAILED, SKIPPED = "stored", "reused", "failed", "skipped"


@dataclass(frozen=True)
class RunOutcome:
    """What became of one (agent, target) evaluation."""

    name: str
    target: Target
    status: str
    run_id: int | None = None
    message: str = ""
    kind: str = "agent"


@dataclass(frozen=True)
class Job:
    """One evaluation to run: an agent under a name, on a target."""

    source: AgentSource
    name: str
    version: str
    kind: str
    target: Target


def code_version() -> str:
    """``git describe`` of the checkout this code runs from, or the package version."""
    root = Path(__file__).resolve().parents[2]
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if described.returncode == 0:
            return described.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mesabench")
    except PackageNotFoundError:
        return ""


def submission_info(
    job: Job, privileged: bool = False, n_instances: int = 1
) -> storage.SubmissionInfo:
    """The submission a job stores under (what only the evaluation tells, its privilege and
    its number of instances, is recorded when its run is stored)."""
    return storage.SubmissionInfo(
        name=job.name,
        version=job.version,
        checksum=job.source.checksum,
        # Canonical, so the stored agent loads the same from any working directory.
        source=canonical_reference(job.source.reference),
        kind=job.kind,
        privileged=privileged,
        n_instances=n_instances,
        training=job.source.training,
    )


def environment_info(target: Target) -> storage.EnvironmentInfo:
    return storage.EnvironmentInfo(
        family=target.family,
        split=target.split,
        env_id=target.env_id,
        version=target.version,
        fingerprint=target.fingerprint,
        spec_json=target.spec_json(),
    )


def _store(
    engine: Engine,
    job: Job,
    result: Result,
    when: datetime,
    version_of_code: str,
) -> tuple[int, bool]:
    episodes, privileged, duration, checksum = result
    if checksum != job.source.checksum:
        raise AgentFailure(job.source.reference, job.target.label, "changed on disk during the run")
    return storage.insert_run(
        engine,
        submission_info(job, privileged, episodes.n_instances),
        environment_info(job.target),
        episodes,
        started_at=when,
        duration_s=duration,
        code_version=version_of_code,
    )


def reference_jobs(targets: Sequence[Target]) -> list[Job]:
    """The reference runs (random and one oracle per objective) every target needs."""
    jobs = []
    for target in targets:
        for policy in envs.get_family(target.family).reference_names:
            source = reference_source(target.family, policy)
            jobs.append(Job(source, policy, source.checksum[:12], "reference", target))
    return jobs


def evaluate_jobs(
    jobs: Sequence[Job],
    *,
    workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    description: str = "Evaluating",
    limits: Limits | None = None,
    executor: Executor | None = None,
) -> Iterator[tuple[Job, Callable[[], Result]]]:
    """Evaluate jobs on ``executor`` (default: this machine's, with ``workers``), yielding
    each job as it ends.

    Each item is ``(job, get)``: ``get()`` returns the job's result or raises what
    the evaluation raised. A job cut into several shards (:mod:`benchmark.evaluate.executors`)
    ends when its last shard does, its episodes put back together in order; its
    first failed shard fails it. Closing the generator early cancels what has not
    started; an exception (Ctrl-C) stops the workers.
    """
    limits = limits or Limits()
    executor = executor or local_executor(workers)
    shards = plan_shards(
        [(job.source.reference, job.target) for job in jobs],
        batch_size,
        limits,
        executor.batches_per_shard,
    )
    expected = Counter(shard.job for shard in shards)
    parts: dict[int, dict[int, Result]] = {job: {} for job in expected}
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}"),
        disable=not progress,
    )
    runs = executor.run(shards)
    with bar, contextlib.closing(runs):  # closing this generator stops what still runs
        task = bar.add_task(description, total=len(jobs), current="")
        for shard, get in runs:
            if shard.job not in parts:
                continue  # its job has already failed: the rest of it does not matter
            job = jobs[shard.job]
            bar.update(task, current=f"{job.name} on {job.target.label}")
            try:
                parts[shard.job][shard.index] = get()
            except Exception as error:  # handed to the caller through get()
                del parts[shard.job]
                yield job, _raiser(error)
                bar.advance(task)
                continue
            if len(parts[shard.job]) == expected[shard.job]:
                done = parts.pop(shard.job)
                result = combine([done[i] for i in range(len(done))])
                yield job, lambda r=result: r
                bar.advance(task)


def _raiser(error: Exception) -> Callable[[], Result]:
    def get() -> Result:
        raise error

    return get


#: Seconds between two looks at runs another process is evaluating.
WAIT_POLL_S = 1.0


class _ClaimKeeper:
    """Renews this process's run claims while it evaluates; releases what is left on exit
    (a failed, skipped or interrupted run is then claimable by others at once)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="claim-keeper")

    def _renew(self) -> None:
        while not self._stop.wait(storage.CLAIM_RENEW_S):
            # A busy database: the next renewal will do.
            with contextlib.suppress(Exception):
                storage.renew_claims(self.engine)

    def __enter__(self) -> _ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        # Never mask what ended the evaluation; a claim left behind is taken over
        # once its owner is found gone.
        with contextlib.suppress(Exception):
            storage.release_all_claims(self.engine)


def run_jobs(
    engine: Engine,
    jobs: Sequence[Job],
    *,
    workers: int = 2,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fail_fast: bool = False,
    progress: bool = True,
    on_outcome: Callable[[RunOutcome], None] | None = None,
    limits: Limits | None = None,
    executor: Executor | None = None,
) -> list[RunOutcome]:
    """Evaluate and store every job not already stored; returns one outcome per job.

    Each job's run is claimed first: one already stored is re-used; one that another
    process is evaluating is waited for and re-used (or evaluated here, should that
    process fail or die). Whichever ``executor`` evaluates them (default: this
    machine's, with ``workers``), runs are stored here, by :func:`_store`, the same
    way. With ``fail_fast`` the first failed run stops the rest (runs already stored
    stay).
    """
    outcomes: list[RunOutcome] = []

    def record(outcome: RunOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    def claim(job: Job) -> storage.Claim:
        return storage.claim_run(
            engine, submission_info(job), environment_info(job.target), job.target.seeds_digest
        )

    version_of_code = code_version()
    for info in {submission_info(job) for job in jobs if job.source.training is not None}:
        storage.record_training(engine, info)
    waiting: list[Job] = list(jobs)
    waited = False
    with _ClaimKeeper(engine):
        while waiting:
            pending, still_waiting = [], []
            for job in waiting:
                found = claim(job)
                if found.status == "stored":
                    message = "stored by another process" if waited else "already stored"
                    record(
                        RunOutcome(job.name, job.target, REUSED, found.run_id, message, job.kind)
                    )
                elif found.status == "claimed":
                    pending.append(job)
                else:
                    still_waiting.append(job)
            waiting = still_waiting
            if pending and not _evaluate_and_store(
                engine, pending, record, version_of_code, workers=workers,
                batch_size=batch_size, fail_fast=fail_fast, progress=progress, limits=limits,
                executor=executor,
            ):  # fmt: skip
                break  # fail_fast
            if waiting and not pending:
                waited = True
                time.sleep(WAIT_POLL_S)
    return outcomes


def _evaluate_and_store(
    engine: Engine,
    jobs: list[Job],
    record: Callable[[RunOutcome], None],
    version_of_code: str,
    *,
    workers: int,
    batch_size: int,
    fail_fast: bool,
    progress: bool,
    limits: Limits | None,
    executor: Executor | None,
) -> bool:
    """Evaluate claimed jobs and store each run; False when ``fail_fast`` stopped them."""
    evaluations = evaluate_jobs(
        jobs, workers=workers, batch_size=batch_size, progress=progress, limits=limits,
        executor=executor,
    )  # fmt: skip
    for job, get in evaluations:
        storage.renew_claims(engine)
        try:
            result = get()
            run_id, created = _store(engine, job, result, datetime.now(UTC), version_of_code)
        except UnsupportedFamily:
            _release(engine, job)
            record(RunOutcome(job.name, job.target, SKIPPED, None, "does not play it", job.kind))
            continue
        except (AgentFailure, WorkerLost) as failure:
            _release(engine, job)
            message = str(failure)
            if isinstance(failure, WorkerLost):
                message = f"{job.name} on {job.target.label}: {failure}"
            record(RunOutcome(job.name, job.target, FAILED, None, message, job.kind))
            if fail_fast:
                evaluations.close()
                return False
            continue
        if created:
            message = f"{len(result[0])} episodes"
            record(RunOutcome(job.name, job.target, STORED, run_id, message, job.kind))
        else:  # another process stored it first (it took over a claim it thought stale)
            message = "stored by another process"
            record(RunOutcome(job.name, job.target, REUSED, run_id, message, job.kind))
    return True


def _release(engine: Engine, job: Job) -> None:
    storage.release_claim(
        engine, submission_info(job), environment_info(job.target), job.target.seeds_digest
    )
