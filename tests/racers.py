"""Processes that race each other on one database (tests/test_concurrency.py).

Each function runs in a process of its own (multiprocessing, spawn), waits at a
barrier so that all start at once, calls the real storage and submission
functions, and puts what it saw on a queue.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmark.evaluate.episodes import Episodes
from benchmark.store import storage


def submission(name: str, checksum: str, version: str = "1") -> storage.SubmissionInfo:
    return storage.SubmissionInfo(name, version, checksum, f"{name}.py:factory")


ENVIRONMENT = storage.EnvironmentInfo(
    "keys_chests", "train", "MesaBench/KeysChests-train-v1", 1, "f" * 64, "{}"
)


def episodes(seeds, objectives=("chests", "keys")) -> Episodes:
    n = len(seeds)
    return Episodes(
        instance=np.zeros(n, dtype=int),
        seed=np.asarray(seeds),
        length=np.ones(n, dtype=int),
        termination=np.array(["goal"] * n),
        objectives={k: np.zeros(n) for k in objectives},
    )


def store_the_same_run(url, barrier, out, index) -> None:
    """Store one and the same run (what two identical submits store)."""
    engine = storage.make_engine(url)
    barrier.wait()
    run_id, created = storage.insert_run(
        engine, submission("twin", "a" * 64), ENVIRONMENT, episodes(range(50)),
        datetime.now(UTC), 1.0,
    )  # fmt: skip
    out.put((run_id, created))


def submit_another_agent_under_one_name(url, barrier, out, index) -> None:
    """As ``submit --name shared`` without ``--version`` does: claim a version, evaluate,
    store. Each process has another agent (checksum)."""
    engine = storage.make_engine(url)
    checksum = f"{index}" * 64
    barrier.wait()
    try:
        version, _ = storage.claim_submission(engine, submission("shared", checksum), None)
    except storage.SubmissionConflictError:
        out.put("conflict before evaluating")
        return
    time.sleep(0.3)  # evaluating
    try:
        storage.store_run(
            engine, submission("shared", checksum, version), ENVIRONMENT,
            episodes(range(50)), datetime.now(UTC), 1.0,
        )  # fmt: skip
    except storage.SubmissionConflictError:
        out.put("conflict after evaluating")
        return
    finally:
        storage.release_all_claims(engine)
    out.put(version)


def submit_needing_the_same_references(url, barrier, out, index, log: str) -> None:
    """``run_jobs`` on the reference runs of one split, as every submit of an agent on an
    empty database does. The evaluation is replaced by one that notes each run it
    evaluates (in ``log``) and takes half a second."""
    import envs
    from benchmark.evaluate import submission as submitting
    from benchmark.evaluate.runner import split_target

    engine = storage.make_engine(url)
    family = envs.get_family("keys_chests")
    target = split_target(family, "train")

    def evaluate_jobs(jobs, **_options):
        for job in jobs:
            with Path(log).open("a") as f:
                f.write(f"{job.name}\n")
            time.sleep(0.5)
            result = (episodes(target.seeds, family.objective_names), False, 0.5,
                      job.source.checksum)  # fmt: skip
            yield job, (lambda r=result: r)

    submitting.evaluate_jobs = evaluate_jobs
    jobs = submitting.reference_jobs([target])
    barrier.wait()
    outcomes = submitting.run_jobs(engine, jobs, workers=1, progress=False)
    out.put(sorted((o.name, o.status, o.run_id) for o in outcomes))
