"""Four processes submitting to one database at once, on SQLite and on PostgreSQL:
no duplicate, no lost row, no race on versions, references evaluated once.

Measured against the code before the database enforced these (issue 15): four
identical stores kept 4 runs (200 episode rows for 50); of four agents submitted
under one name, 3 exited 2 after evaluating; four submitters needing the same 4
reference runs evaluated and stored 16. The same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
import racers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from benchmark.store import storage
from benchmark.store.storage import Episode, Run, Submission

N = 4


def race(url: str, racer, *extra) -> list:
    """Run ``racer`` in N processes started together; what each put on the queue."""
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(N), context.Queue()
    processes = [
        context.Process(target=racer, args=(url, barrier, out, index, *extra)) for index in range(N)
    ]
    for process in processes:
        process.start()
    try:
        return [out.get(timeout=240) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
        assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]


def count(engine, table) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(table))


@pytest.fixture
def engine(db_url):
    engine = storage.make_engine(db_url)  # the schema exists before the race
    yield engine
    engine.dispose()


def test_the_same_run_stored_at_once_is_stored_once(engine, db_url):
    results = race(db_url, racers.store_the_same_run)
    assert len({run_id for run_id, _ in results}) == 1  # every process got the stored run
    assert sorted(created for _, created in results) == [False] * (N - 1) + [True]
    assert count(engine, Run) == 1
    assert count(engine, Episode) == 50
    assert count(engine, Submission) == 1


def test_agents_submitted_under_one_name_at_once_get_distinct_versions(engine, db_url):
    versions = race(db_url, racers.submit_another_agent_under_one_name)
    assert sorted(versions) == [str(v) for v in range(1, N + 1)]  # nobody refused
    assert count(engine, Submission) == N
    assert count(engine, Run) == N  # no lost run


def test_references_needed_by_concurrent_submitters_are_evaluated_once(
    engine, db_url, tmp_path: Path
):
    log = tmp_path / "evaluated"
    log.touch()
    outcomes = race(db_url, racers.submit_needing_the_same_references, str(log))
    evaluated = log.read_text().split()
    assert len(evaluated) == len(set(evaluated)) >= 3  # each reference run once
    assert count(engine, Run) == len(evaluated)
    # Every submitter ends with the same runs, stored by itself or re-used.
    assert len({tuple((name, run_id) for name, _, run_id in o) for o in outcomes}) == 1
    statuses = [status for o in outcomes for _, status, _ in o]
    assert statuses.count("stored") == len(evaluated)
    assert with_no_claims_left(engine)


def with_no_claims_left(engine) -> bool:
    return count(engine, storage.RunClaim) == 0
