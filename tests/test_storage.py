"""Tests of benchmark.store.storage, each on its own new database: a SQLite file, and a
database of a PostgreSQL server the tests start (``db_url`` in conftest.py; those
skip, saying why, where no server can be started).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from benchmark.evaluate.episodes import Episodes
from benchmark.store import storage
from benchmark.store.storage import (
    Environment,
    EnvironmentInfo,
    Episode,
    Run,
    Submission,
    SubmissionConflictError,
    SubmissionInfo,
)

STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def engine(db_url):
    eng = storage.make_engine(db_url)
    yield eng
    eng.dispose()


def sub(name="ppo", version="1", checksum="a" * 64, kind="agent", **kw) -> SubmissionInfo:
    return SubmissionInfo(name, version, checksum, f"baselines/{name}.py:make", kind, **kw)


def env(split="train", family="keys_chests", fingerprint=None) -> EnvironmentInfo:
    return EnvironmentInfo(
        family=family,
        split=split,
        env_id=f"MesaBench/KeysChests-{split}-v0",
        version=0,
        fingerprint=fingerprint or f"{family}-{split}".ljust(64, "0"),
        spec_json='{"kwargs": {}}',
    )


def episodes(n_instances=2, n_seeds=5, shift=0.0) -> Episodes:
    seeds = 1_000_000_000 + np.arange(n_seeds)
    return Episodes(
        instance=np.repeat(np.arange(n_instances), n_seeds),
        seed=np.tile(seeds, n_instances),
        length=np.arange(n_instances * n_seeds) + 3,
        termination=np.resize(["goal", "timeout", "death", "goal", "fired"], n_instances * n_seeds),
        objectives={
            "chests": np.linspace(0, 1, n_instances * n_seeds) + shift,
            "keys": -np.arange(n_instances * n_seeds) / 3 + 1e-17,
        },
    )


def count(engine, table) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(table))


def store(engine, submission=None, environment=None, eps=None, **kw) -> int:
    return storage.store_run(
        engine,
        submission or sub(),
        environment or env(),
        episodes() if eps is None else eps,
        STARTED,
        1.5,
        **kw,
    )


# ----------------------------------------------------------------------------- basics


def test_default_url(monkeypatch):
    monkeypatch.setenv(storage.DB_ENV_VAR, "postgresql://u@h/db")
    assert storage.default_url() == "postgresql://u@h/db"
    monkeypatch.delenv(storage.DB_ENV_VAR)
    root = Path(storage.__file__).resolve().parents[2]
    assert storage.default_url() == f"sqlite:///{root / 'results.db'}"


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(IntegrityError), Session(engine) as s, s.begin():
        s.execute(
            insert(Episode),
            [dict(run_id=999, instance=0, seed=1, length=1, termination="goal", objectives="{}")],
        )


def test_seeds_digest_ignores_order_and_duplicates():
    assert storage.seeds_digest([3, 1, 2]) == storage.seeds_digest(np.array([1, 2, 3, 3]))
    assert storage.seeds_digest([1, 2]) != storage.seeds_digest([1, 2, 3])
    assert len(storage.seeds_digest([])) == 64


def test_submission_kind_is_checked():
    with pytest.raises(ValueError, match="kind"):
        sub(kind="robot")


# ----------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_column(engine):
    eps = episodes(n_instances=3, n_seeds=4)
    run_id = store(engine, eps=eps, code_version="v0.1-3-gabc")
    back = storage.load_episodes(engine, run_id)
    for column in ("instance", "seed", "length"):
        np.testing.assert_array_equal(getattr(back, column), getattr(eps, column))
    assert back.termination.tolist() == eps.termination.tolist()
    assert list(back.objectives) == list(eps.objectives)
    for k, v in eps.objectives.items():
        np.testing.assert_array_equal(back.objectives[k], v)  # exact, float repr round-trips
    np.testing.assert_array_equal(back.matrix("chests"), eps.matrix("chests"))
    with Session(engine) as s:
        run = s.get(Run, run_id)
        assert (run.n_episodes, run.n_instances, run.duration_s) == (12, 3, 1.5)
        assert run.code_version == "v0.1-3-gabc"
        assert run.seeds_digest == storage.seeds_digest(eps.seed)
        assert run.started_at.replace(tzinfo=UTC) == STARTED
        row = s.scalars(select(Episode).where(Episode.run_id == run_id).limit(1)).one()
        assert row.objective_values == {"chests": 0.0, "keys": 1e-17}


def test_load_unknown_run_raises(engine):
    with pytest.raises(LookupError, match="42"):
        storage.load_episodes(engine, 42)


def test_non_finite_objective_is_refused(engine):
    eps = episodes()
    eps.objectives["keys"][3] = np.nan
    with pytest.raises(ValueError, match="keys"):
        store(engine, eps=eps)
    assert count(engine, Run) == 0


def test_empty_run_is_refused(engine):
    empty = Episodes(np.array([], int), np.array([], int), np.array([], int), np.array([], str), {})
    with pytest.raises(ValueError, match="empty"):
        store(engine, eps=empty)


# ----------------------------------------------------------------------------- atomicity


def _assert_nothing_stored(engine):
    assert count(engine, Run) == 0
    assert count(engine, Episode) == 0
    assert count(engine, Submission) == 0
    assert count(engine, Environment) == 0


def test_failure_midway_through_the_bulk_insert_leaves_no_rows(engine, monkeypatch):
    real = storage._episode_rows

    def breaks_at_the_end(run_id, eps):
        rows = real(run_id, eps)
        rows[-1] = {**rows[-1], "termination": None}  # NOT NULL: fails after 999 rows went in
        return rows

    monkeypatch.setattr(storage, "_episode_rows", breaks_at_the_end)
    with pytest.raises(IntegrityError):
        store(engine, eps=episodes(n_instances=2, n_seeds=500))
    _assert_nothing_stored(engine)


def test_interrupted_insert_leaves_no_rows(engine):
    def interrupt(conn, cursor, statement, params, context, executemany):
        if "INSERT INTO episodes" in statement:
            raise KeyboardInterrupt

    event.listen(engine, "before_cursor_execute", interrupt)
    with pytest.raises(KeyboardInterrupt):
        store(engine)
    event.remove(engine, "before_cursor_execute", interrupt)
    _assert_nothing_stored(engine)
    assert store(engine) > 0  # the database is still usable


# ----------------------------------------------------------------------------- submissions


def test_resubmitting_same_checksum_returns_the_existing_row(engine):
    first, created = storage.register_submission(engine, sub())
    again, created_again = storage.register_submission(engine, sub())
    assert created and not created_again
    assert again == first
    store(engine)
    assert count(engine, Submission) == 1


def test_resubmitting_with_another_checksum_names_the_submission(engine):
    store(engine, sub(name="ppo", version="2", checksum="a" * 64))
    with pytest.raises(SubmissionConflictError, match=r"'ppo' version '2'.*new version"):
        storage.register_submission(engine, sub(name="ppo", version="2", checksum="b" * 64))
    with pytest.raises(SubmissionConflictError, match="ppo"):
        store(engine, sub(name="ppo", version="2", checksum="b" * 64), env(split="candy"))
    assert count(engine, Run) == 1
    assert count(engine, Environment) == 1


def test_same_checksum_under_another_name_is_recognised(engine):
    storage.register_submission(engine, sub(name="ppo", checksum="c" * 64))
    storage.register_submission(engine, sub(name="my_ppo", checksum="c" * 64))
    storage.register_submission(engine, sub(name="other", checksum="d" * 64))
    same = storage.submissions_by_checksum(engine, "c" * 64)
    assert [r.name for r in same] == ["ppo", "my_ppo"]
    assert storage.get_submission(engine, "my_ppo", "1").checksum == "c" * 64
    assert storage.get_submission(engine, "my_ppo", "2") is None
    assert [r.name for r in storage.list_submissions(engine, kind="agent")] == [
        "my_ppo",
        "other",
        "ppo",
    ]


def test_delete_submission_removes_its_runs(engine):
    store(engine, sub(name="a"))
    store(engine, sub(name="a"), env(split="candy"))
    keep = store(engine, sub(name="b", checksum="e" * 64))
    assert storage.delete_submission(engine, "a", "1") == 2
    assert count(engine, Run) == 1
    assert count(engine, Episode) == len(storage.load_episodes(engine, keep))
    assert storage.get_submission(engine, "a", "1") is None
    with pytest.raises(LookupError, match="'a'"):
        storage.delete_submission(engine, "a", "1")


# ----------------------------------------------------------------------------- queries


def test_find_run_for_idempotent_reruns(engine):
    eps = episodes()
    digest = storage.seeds_digest(eps.seed)
    fp = env().fingerprint
    assert storage.find_run(engine, "a" * 64, fp, digest) is None
    run_id = store(engine, eps=eps)
    assert storage.find_run(engine, "a" * 64, fp, digest) == run_id
    assert storage.find_run(engine, "a" * 64, fp, storage.seeds_digest([1])) is None
    assert storage.find_run(engine, "b" * 64, fp, digest) is None
    assert storage.find_run(engine, "a" * 64, env(split="candy").fingerprint, digest) is None
    assert storage.find_run(engine, "a" * 64, fp, digest, name="ppo", version="1") == run_id
    assert storage.find_run(engine, "a" * 64, fp, digest, name="other") is None
    assert store(engine, eps=eps) == run_id  # stored once: the second insert is a no-op
    assert count(engine, Run) == 1


def test_latest_runs_and_filters(engine):
    old = store(engine, sub(name="ppo"), env("train"), episodes(n_seeds=3))
    new = store(engine, sub(name="ppo"), env("train"))
    candy = store(engine, sub(name="ppo"), env("candy"))
    dqn = store(engine, sub(name="dqn", checksum="f" * 64, privileged=True), env("train"))
    hire = store(engine, sub(name="ppo"), env("train", family="executive_hiring"))
    rand = store(engine, sub(name="random", checksum="0" * 64, kind="reference"), env("train"))

    def ids(**kw):
        return sorted(r.run_id for r in storage.latest_runs(engine, **kw))

    assert old not in ids()
    assert ids() == sorted([new, candy, dqn, hire, rand])
    assert ids(kind="agent") == sorted([new, candy, dqn, hire])
    assert ids(kind="reference") == [rand]
    assert ids(family="keys_chests", split="train") == sorted([new, dqn, rand])
    assert ids(name="ppo") == sorted([new, candy, hire])
    assert ids(name="ppo", family="executive_hiring") == [hire]
    record = next(r for r in storage.latest_runs(engine) if r.run_id == dqn)
    assert (record.name, record.version, record.kind, record.privileged) == (
        "dqn",
        "1",
        "agent",
        True,
    )
    assert (record.family, record.split, record.env_id) == (
        "keys_chests",
        "train",
        "MesaBench/KeysChests-train-v0",
    )
    assert record.fingerprint == env("train").fingerprint
    assert (record.n_episodes, record.n_instances) == (10, 2)


def test_reference_runs(engine):
    fp = env("train").fingerprint
    assert storage.reference_runs(engine, fp) == {}
    store(engine, sub(name="random", checksum="1" * 64, kind="reference"), env("train"),
          episodes(n_seeds=3))  # fmt: skip
    rand = store(engine, sub(name="random", checksum="1" * 64, kind="reference"), env("train"))
    oracle = store(
        engine, sub(name="oracle:chests", checksum="2" * 64, kind="reference"), env("train")
    )
    store(engine, sub(name="random", checksum="1" * 64, kind="reference"), env("candy"))
    store(engine, sub(name="ppo"), env("train"))
    assert storage.reference_runs(engine, fp) == {"random": rand, "oracle:chests": oracle}


def test_benchmark_store_rows_runs():
    assert 0 < storage.benchmark_store_rows(2_000) < 10


# ---------------------------------------------------------------- reading never creates


def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path):
    path = tmp_path / "typo.db"
    with pytest.raises(storage.NoDatabaseError, match=r"no database at .*typo\.db"):
        storage.make_engine(f"sqlite:///{path}", create=False)
    assert not path.exists()


def test_reading_another_applications_database_adds_no_table(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    with pytest.raises(storage.NoDatabaseError, match="is not a MesaBench database"):
        storage.make_engine(f"sqlite:///{path}", create=False)
    with sqlite3.connect(path) as connection:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert tables == {"notes"}


def test_reading_an_existing_database_works_and_a_password_is_never_shown(tmp_path):
    url = f"sqlite:///{tmp_path / 'ok.db'}"
    storage.make_engine(url)  # a writer creates it
    assert storage.list_submissions(storage.make_engine(url, create=False)) == []
    shown = storage.display_url("postgresql+psycopg://me:s3cret@localhost/mesabench")
    assert "s3cret" not in shown and "me:***@localhost" in shown
