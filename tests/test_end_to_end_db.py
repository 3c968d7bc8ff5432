"""The command line end to end on SQLite and on PostgreSQL: submitting (twice at once),
reading, copying, and what every table does with a corrupt or reference-less run.

A corrupt run is never used and never crashes a command: ``leaderboard``,
``show`` and ``export`` name it in a warning on stderr and leave it out (its
split is marked missing); ``check`` and ``validity`` exit 3 naming it, since
they could not do their job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from benchmark.store import storage
from benchmark.store.storage import Episode, Run, Submission

REPO = Path(__file__).resolve().parent.parent
TRAIN_ONLY = ("--family", "keys_chests", "--split", "train", "--workers", "1")


def mesabench(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "MESABENCH_DB": url}
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def start(*args: str, url: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200", "MESABENCH_DB": url}
    return subprocess.Popen(
        [sys.executable, "-m", "benchmark", *args], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def new_database(request, tmp_path_factory):
    """Makes new, empty databases of one backend (a context manager giving each URL)."""
    if request.param == "sqlite":
        directory = tmp_path_factory.mktemp("e2e")
        counter = iter(range(1000))

        @contextmanager
        def sqlite() -> Iterator[str]:
            yield f"sqlite:///{directory / f'db{next(counter)}.db'}"

        return sqlite
    return request.getfixturevalue("postgresql_server").database


@pytest.fixture(scope="module")
def board(new_database):
    """A database holding random and the aligned oracle on keys_chests/train, the two
    submitted at once (they need the same references)."""
    with new_database() as url:
        submits = [
            start("submit", reference, "--name", name, *TRAIN_ONLY, url=url)
            for reference, name in [
                ("baselines/random_agent.py:factory", "random"),
                ("baselines/keys_chests.py:aligned_oracle", "aligned_oracle"),
            ]
        ]
        for submit in submits:
            _, err = submit.communicate(timeout=600)
            assert submit.returncode == 0, err
        yield url


@contextmanager
def copy_of(board: str, new_database) -> Iterator[tuple[str, object]]:
    """A new database holding what ``board`` holds (by ``db copy``), and its engine."""
    with new_database() as url:
        done = mesabench("db", "copy", board, url, url=url)
        assert done.returncode == 0, done.stderr
        engine = storage.make_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()


def run_of(engine, name: str) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.max(Run.id)).join(Submission).where(Submission.name == name))


def test_references_raced_by_two_submits_were_evaluated_once(board):
    engine = storage.make_engine(board, create=False)
    with Session(engine) as s:
        per_key = s.execute(
            select(func.count()).select_from(Run)
            .group_by(Run.submission_id, Run.environment_id, Run.seeds_digest)
        ).scalars().all()  # fmt: skip
        references = s.scalar(
            select(func.count()).select_from(Submission).where(Submission.kind == "reference")
        )
    assert set(per_key) == {1} and len(per_key) == references + 2
    engine.dispose()


def test_two_identical_submits_at_once_store_one_run(new_database):
    with new_database() as url:
        submits = [start("submit", "baselines/random_agent.py:factory", "--name", "twin",
                         *TRAIN_ONLY, url=url) for _ in range(2)]  # fmt: skip
        outs = [s.communicate(timeout=600)[0] for s in submits]
        assert [s.returncode for s in submits] == [0, 0]
        assert sum("twin@1: stored 1 new runs" in out for out in outs) == 1, outs
        engine = storage.make_engine(url, create=False)
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(Submission)
                            .where(Submission.name == "twin")) == 1  # fmt: skip
            runs = select(func.count()).select_from(Run).join(Submission)
            assert s.scalar(runs.where(Submission.name == "twin")) == 1
        engine.dispose()


def test_the_leaderboard_reads_the_board_and_a_copy_reads_the_same(board, new_database):
    done = mesabench("leaderboard", "--json", url=board)
    assert done.returncode == 0, done.stderr
    rows = {r["agent"]: r for r in json.loads(done.stdout)}
    assert rows["aligned_oracle"]["outcome"] == "aligned"
    with copy_of(board, new_database) as (url, _):
        assert mesabench("leaderboard", "--json", url=url).stdout == done.stdout


@pytest.mark.parametrize("damage", ["deleted episode", "malformed objectives", "NaN"])
def test_a_corrupt_agent_run_is_named_and_left_out(board, new_database, damage):
    with copy_of(board, new_database) as (url, engine):
        run_id = run_of(engine, "aligned_oracle")
        with Session(engine) as s, s.begin():
            first = s.scalar(select(func.min(Episode.id)).where(Episode.run_id == run_id))
            if damage == "deleted episode":
                s.execute(delete(Episode).where(Episode.id == first))
            else:
                text = '{"chests_opened":' if damage == "malformed objectives" else (
                    '{"chests_opened":NaN,"keys_collected":1}')  # fmt: skip
                s.execute(update(Episode).where(Episode.id == first).values(objectives=text))
        named = f"stored run {run_id} (aligned_oracle@1 on keys_chests/train) is corrupt"

        board_json = mesabench("leaderboard", "--json", url=url)
        assert board_json.returncode == 0, board_json.stderr
        assert named in " ".join(board_json.stderr.split())
        assert "aligned_oracle" not in {r["agent"] for r in json.loads(board_json.stdout)}
        table = mesabench("leaderboard", url=url)
        assert table.returncode == 0 and named in " ".join(table.stderr.split())
        shown = mesabench("show", "aligned_oracle", url=url)
        assert named in " ".join(shown.stderr.split())
        exported = mesabench("export", url=url)
        assert exported.returncode == 0 and named in " ".join(exported.stderr.split())
        runs = {r["run_id"]: r for r in json.loads(exported.stdout)["runs"]}
        assert runs[run_id]["scores"] is None and named in runs[run_id]["score_problem"]
        checked = mesabench("check", "aligned_oracle", "--workers", "1", url=url)
        assert checked.returncode == 3, checked.stdout + checked.stderr
        assert named in " ".join(checked.stderr.split())


def test_a_missing_or_corrupt_reference_is_named_everywhere(board, new_database):
    with copy_of(board, new_database) as (url, engine):
        random_reference = run_of(engine, "random")  # the agent; the reference is kind reference
        with Session(engine) as s, s.begin():
            reference = s.scalar(
                select(func.max(Run.id)).join(Submission)
                .where(Submission.kind == "reference", Submission.name == "random")
            )  # fmt: skip
            assert reference != random_reference
            s.execute(delete(Episode).where(Episode.run_id == reference))
            s.execute(delete(Run).where(Run.id == reference))
        board_json = mesabench("leaderboard", "--json", url=url)
        assert board_json.returncode == 0
        assert "no random reference results" in board_json.stderr
        assert json.loads(board_json.stdout) == []
        checked = mesabench("check", "aligned_oracle", "--workers", "1", url=url)
        assert checked.returncode == 3
        assert "no random reference results" in " ".join(checked.stderr.split())
        validity = mesabench("validity", "--stored", "--family", "keys_chests", url=url)
        assert validity.returncode == 3


def test_reading_an_older_schema_says_to_upgrade(board, new_database):
    from alembic import command
    from sqlalchemy import text

    with copy_of(board, new_database) as (url, engine):
        with engine.begin() as connection:  # back to the schema before revisions
            command.downgrade(storage._alembic_config(connection), storage.BASELINE_REVISION)
            connection.execute(text("DROP TABLE alembic_version"))
        done = mesabench("leaderboard", url=url)
        assert done.returncode == 2 and "mesabench db upgrade" in done.stderr
        upgraded = mesabench("db", "upgrade", url=url)
        head = storage.head_revision()
        assert upgraded.returncode == 0 and f"upgraded schema 0001 -> {head}" in upgraded.stdout
        assert mesabench("leaderboard", url=url).returncode == 0
