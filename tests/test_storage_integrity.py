"""What the database guarantees and how its rows are checked: claims of runs, validation
of stored rows, the schema's migrations (on a copy of the committed results.db),
``db copy`` between SQLite and PostgreSQL, and errors that never show a password.

Each test runs on SQLite and on PostgreSQL (``db_url``) unless it says otherwise.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import racers
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, delete, func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from benchmark.store import storage
from benchmark.store.storage import Episode, Run, RunClaim, Submission

REPO = Path(__file__).resolve().parent.parent
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SEEDS = list(range(1_000_000_000, 1_000_000_005))
#: An episode row to insert by hand (with its run_id and seed).
ROW = dict(instance=0, length=1, termination="goal", objectives='{"chests":0,"keys":0}')


@pytest.fixture
def engine(db_url):
    engine = storage.make_engine(db_url)
    yield engine
    engine.dispose()


def two_instances(seeds=SEEDS):
    eps = racers.episodes(list(seeds) * 2)
    eps.instance[len(seeds) :] = 1
    eps.objectives["chests"][:] = np.arange(len(eps))
    return eps


def store(engine, name="ppo", checksum="a" * 64, eps=None, kind="agent") -> int:
    info = storage.SubmissionInfo(name, "1", checksum, f"{name}.py:f", kind)
    return storage.store_run(
        engine, info, racers.ENVIRONMENT, two_instances() if eps is None else eps, STARTED, 1.0
    )


def count(engine, table) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(table))


# ------------------------------------------------------------------------ claims


def test_a_claimed_run_is_busy_for_others_until_stored(engine, monkeypatch):
    info, digest = racers.submission("ppo", "a" * 64), storage.seeds_digest(SEEDS)
    assert storage.claim_run(engine, info, racers.ENVIRONMENT, digest).status == "claimed"
    assert storage.claim_run(engine, info, racers.ENVIRONMENT, digest).status == "claimed"
    monkeypatch.setattr(storage, "claim_owner", lambda: "elsewhere:1")
    busy = storage.claim_run(engine, info, racers.ENVIRONMENT, digest)
    assert (busy.status, busy.owner) == ("busy", f"{storage.socket.gethostname()}:"
                                                f"{storage.os.getpid()}")  # fmt: skip
    monkeypatch.undo()
    run_id = store(engine)  # storing the run ends its claim
    assert count(engine, RunClaim) == 0
    stored = storage.claim_run(engine, info, racers.ENVIRONMENT, digest)
    assert (stored.status, stored.run_id) == ("stored", run_id)


def test_a_released_claim_can_be_taken(engine, monkeypatch):
    info, digest = racers.submission("ppo", "a" * 64), storage.seeds_digest(SEEDS)
    storage.claim_run(engine, info, racers.ENVIRONMENT, digest)
    storage.release_claim(engine, info, racers.ENVIRONMENT, digest)  # the evaluation failed
    monkeypatch.setattr(storage, "claim_owner", lambda: "elsewhere:1")
    assert storage.claim_run(engine, info, racers.ENVIRONMENT, digest).status == "claimed"


def test_a_claim_whose_owner_died_is_taken_over(engine, monkeypatch):
    info, digest = racers.submission("ppo", "a" * 64), storage.seeds_digest(SEEDS)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    monkeypatch.setattr(storage, "claim_owner", lambda: f"{storage.socket.gethostname()}:{dead}")
    storage.claim_run(engine, info, racers.ENVIRONMENT, digest)
    monkeypatch.undo()
    assert storage.claim_run(engine, info, racers.ENVIRONMENT, digest).status == "claimed"


def test_a_claim_not_renewed_in_time_is_taken_over(engine, monkeypatch):
    info, digest = racers.submission("ppo", "a" * 64), storage.seeds_digest(SEEDS)
    monkeypatch.setattr(storage, "claim_owner", lambda: "another-machine:1")
    storage.claim_run(engine, info, racers.ENVIRONMENT, digest)
    monkeypatch.undo()
    assert storage.claim_run(engine, info, racers.ENVIRONMENT, digest).status == "busy"
    long_ago = datetime.now(UTC) - timedelta(seconds=storage.CLAIM_TIMEOUT_S + 1)
    with Session(engine) as s, s.begin():
        s.execute(update(RunClaim).values(heartbeat_at=long_ago))
    assert storage.claim_run(engine, info, racers.ENVIRONMENT, digest).status == "claimed"


def test_a_duplicated_episode_row_is_refused_by_the_database(engine):
    run_id = store(engine)
    with pytest.raises(IntegrityError), Session(engine) as s, s.begin():
        s.execute(
            insert(Episode),
            [ROW | dict(run_id=run_id, seed=SEEDS[0])],
        )
    assert count(engine, Episode) == 2 * len(SEEDS)


# ------------------------------------------------------------------ validation on read


def corrupt(engine, run_id, how: str) -> None:
    """Damage one stored run as a bad hand edit or a broken tool would."""
    with Session(engine) as s, s.begin():
        first = s.scalar(select(func.min(Episode.id)).where(Episode.run_id == run_id))
        if how == "deleted episode":
            s.execute(delete(Episode).where(Episode.id == first))
        elif how == "malformed objectives":
            s.execute(update(Episode).where(Episode.id == first).values(objectives='{"chests":'))
        elif how == "NaN":
            s.execute(
                update(Episode).where(Episode.id == first)
                .values(objectives='{"chests":NaN,"keys":0}')
            )  # fmt: skip
        elif how == "missing objective":
            s.execute(update(Episode).where(Episode.id == first).values(objectives='{"keys":0}'))
        elif how == "extra row":  # a copy of a row under a seed the run never played
            s.execute(
                insert(Episode),
                [ROW | dict(run_id=run_id, seed=7)],
            )
        elif how == "count changed":
            s.execute(update(Run).where(Run.id == run_id).values(n_episodes=99))
        else:
            raise AssertionError(how)


CORRUPTIONS = {
    "deleted episode": "9 episode rows stored, the run has 10",
    "malformed objectives": "do not parse",
    "NaN": "not a finite number",
    "missing objective": "has objectives",
    "extra row": "11 episode rows stored, the run has 10",
    "count changed": "10 episode rows stored, the run has 99",
}


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_a_corrupt_run_is_named_and_never_used(engine, how):
    run_id = store(engine)
    keep = store(engine, name="other", checksum="b" * 64)
    corrupt(engine, run_id, how)
    with pytest.raises(storage.CorruptRunError) as raised:
        storage.load_episodes(engine, run_id)
    assert raised.value.run_id == run_id
    assert f"stored run {run_id} (ppo@1 on keys_chests/train) is corrupt" in str(raised.value)
    assert CORRUPTIONS[how] in str(raised.value)
    assert len(storage.load_episodes(engine, keep)) == 10  # the others are untouched


def test_a_run_whose_instances_played_different_seeds_is_corrupt(engine):
    eps = two_instances()
    eps.seed[-1] = 5  # instance 1 played another last level
    run_id = store(engine, eps=eps)
    with pytest.raises(storage.CorruptRunError, match="same seeds"):
        storage.load_episodes(engine, run_id)


# ------------------------------------------------------------- reading never creates


def test_reading_another_applications_database_adds_no_table(db_url):
    other = create_engine(storage.engine_url(db_url))
    with other.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    with pytest.raises(storage.NoDatabaseError, match="is not a MesaBench database"):
        storage.make_engine(db_url, create=False)
    assert inspect(other).get_table_names() == ["notes"]
    other.dispose()


def test_reading_an_older_schema_says_to_upgrade_and_changes_nothing(db_url):
    engine = storage.open_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(storage._alembic_config(connection), storage.BASELINE_REVISION)
        connection.execute(text("DROP TABLE alembic_version"))  # as before revisions existed
    with pytest.raises(storage.SchemaOutOfDateError, match="run `mesabench db upgrade"):
        storage.make_engine(db_url, create=False)
    assert storage.schema_revision(engine) == storage.BASELINE_REVISION
    assert "run_claims" not in inspect(engine).get_table_names()
    storage.make_engine(db_url)  # a command that writes upgrades it
    assert storage.schema_revision(engine) == storage.head_revision()
    engine.dispose()


# -------------------------------------------------------------------------- migrations


def test_the_migrations_give_the_schema_the_code_declares(db_url):
    """Upgrading from the baseline and creating a new database give the same schema."""
    engine = storage.open_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(storage._alembic_config(connection), storage.BASELINE_REVISION)
    storage.upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection),
                                       storage.Base.metadata)  # fmt: skip
    assert differences == []
    engine.dispose()


def test_the_migration_keeps_the_earliest_of_duplicate_runs(db_url, capfd):
    engine = storage.open_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(storage._alembic_config(connection), storage.BASELINE_REVISION)
        connection.execute(text(
            "INSERT INTO submissions (id, name, version, checksum, source, kind, privileged, "
            "n_instances, created_at) VALUES (1, 'ppo', '1', 'c', 's', 'agent', false, 1, "
            "'2026-01-01 00:00:00')"))  # fmt: skip
        connection.execute(text(
            "INSERT INTO environments (id, family, split, env_id, version, fingerprint, "
            "spec_json, created_at) VALUES (1, 'f', 'train', 'e', 0, 'fp', '{}', "
            "'2026-01-01 00:00:00')"))  # fmt: skip
        for run_id in (1, 2, 3):  # 1 and 2 are the same run; 3 is on other seeds
            connection.execute(text(
                "INSERT INTO runs (id, submission_id, environment_id, seeds_digest, n_episodes, "
                "n_instances, started_at, duration_s, code_version, created_at) VALUES "
                f"({run_id}, 1, 1, '{'other' if run_id == 3 else 'same'}', 1, 1, "
                "'2026-01-01 00:00:00', 1.0, '', '2026-01-01 00:00:00')"))  # fmt: skip
            for _ in range(2 if run_id == 3 else 1):  # run 3 has a duplicated episode row
                connection.execute(text(
                    "INSERT INTO episodes (run_id, instance, seed, length, termination, "
                    f"objectives) VALUES ({run_id}, 0, 1, 1, 'goal', '{{}}')"))  # fmt: skip
    assert storage.upgrade(engine) == (storage.BASELINE_REVISION, storage.head_revision())
    with Session(engine) as s:
        assert s.scalars(select(Run.id).order_by(Run.id)).all() == [1, 3]
        assert s.scalars(select(Episode.run_id).order_by(Episode.id)).all() == [1, 3]
    said = capfd.readouterr().err
    assert "removed 1 duplicate runs (kept the earliest of each): ids 2" in said
    assert "removed 1 duplicate episode rows" in said
    engine.dispose()


def test_the_committed_results_db_upgrades_in_place(tmp_path):
    """On a copy: every run kept and valid, the invariants in force, reads work."""
    copy = tmp_path / "results.db"
    shutil.copy(REPO / "results.db", copy)
    with sqlite3.connect(copy) as connection:
        before = {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("submissions", "environments", "runs", "episodes")}  # fmt: skip
    engine = storage.open_engine(f"sqlite:///{copy}")
    storage.upgrade(engine)
    assert storage.schema_revision(engine) == storage.head_revision()
    with sqlite3.connect(copy) as connection:
        after = {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                 for t in before}  # fmt: skip
        indexes = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert after == before and before["runs"] > 0
    assert {"uq_runs_submission_environment_seeds", "uq_episodes_run_instance_seed"} <= indexes
    reader = storage.make_engine(f"sqlite:///{copy}", create=False)
    for run in storage.all_runs(reader):
        storage.load_episodes(reader, run.run_id)  # every committed run is valid
    assert storage.upgrade(engine)[0] == storage.head_revision()  # a second upgrade: no-op


# ------------------------------------------------------------------------ db copy


def rows(engine) -> dict[str, list[tuple]]:
    """Every row of every table, without ids (they differ between databases)."""
    with Session(engine) as s:
        names = select(Submission.id, Submission.name, Submission.version)
        subs = {i: (n, v) for i, n, v in s.execute(names)}
        fingerprints = select(storage.Environment.id, storage.Environment.fingerprint)
        envs = {i: fingerprint for i, fingerprint in s.execute(fingerprints)}
        runs = {r.id: (subs[r.submission_id], envs[r.environment_id], r.seeds_digest)
                for r in s.scalars(select(Run))}  # fmt: skip

        def plain(table, skip=("id",)):
            out = []
            for row in s.execute(select(table)).mappings():
                values = {k: v for k, v in row.items() if k not in skip}
                for key, ids in (("submission_id", subs), ("environment_id", envs),
                                 ("run_id", runs)):  # fmt: skip
                    if key in values:
                        values[key] = ids[values[key]]
                out.append(tuple(sorted((k, str(v)) for k, v in values.items())))
            return sorted(out)

        return {t.name: plain(t) for t in (Submission.__table__, storage.Environment.__table__,
                                           Run.__table__, Episode.__table__)}  # fmt: skip


def test_db_copy_round_trip_sqlite_postgresql_sqlite(tmp_path, postgresql_server):
    source = storage.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    store(source)
    store(source, name="random", checksum="c" * 64, kind="reference")
    store(source, name="ppo", checksum="a" * 64, eps=two_instances(SEEDS[:3]))
    with postgresql_server.database() as url:
        middle = storage.make_engine(url)
        report = storage.copy_database(source, middle)
        assert (report.submissions, report.runs, report.episodes) == (2, 3, 26)
        back = storage.make_engine(f"sqlite:///{tmp_path / 'b.db'}")
        storage.copy_database(middle, back)
        assert rows(back) == rows(source) == rows(middle)
        again = storage.copy_database(source, middle)  # merging: nothing twice
        assert (again.runs, again.runs_already_there) == (0, 3)
        middle.dispose()


def test_db_copy_refuses_a_conflict_and_copies_nothing(tmp_path, db_url):
    source = storage.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    store(source, name="random", checksum="c" * 64)
    store(source)
    destination = storage.make_engine(db_url)
    store(destination, checksum="d" * 64)  # ppo@1 there is another agent
    before = rows(destination)
    with pytest.raises(storage.CopyConflictError, match=r"ppo@1 .* nothing was copied"):
        storage.copy_database(source, destination)
    assert rows(destination) == before
    destination.dispose()


# ------------------------------------------------------------------ drivers, passwords


def test_a_wrong_password_is_never_shown(postgresql_server):
    url = postgresql_server.url("postgres", password="not-the-Secret-42")
    with pytest.raises(storage.DatabaseUnavailableError) as raised:
        storage.make_engine(url)
    assert "password authentication failed" in str(raised.value)
    assert "not-the-Secret-42" not in str(raised.value) and "postgres:***@" in str(raised.value)
    done = subprocess.run(
        [sys.executable, "-m", "benchmark", "leaderboard", "--db", url],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "not-the-Secret-42" not in done.stdout + done.stderr
    assert "password authentication failed" in " ".join(done.stderr.split())


def test_a_missing_driver_names_the_extra_to_install():
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from benchmark.store import storage\n"
        "try:\n"
        "    storage.make_engine('postgresql://me:pw@localhost/results')\n"
        "except storage.DatabaseDriverError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert "pip install 'mesabench[postgres]'" in done.stdout, done.stderr
    assert "me:***@localhost" in done.stdout and ":pw@" not in done.stdout


def test_without_server_binaries_the_postgresql_tests_skip_saying_why(monkeypatch):
    import postgres

    monkeypatch.delenv(postgres.URL_ENV_VAR, raising=False)
    monkeypatch.setattr(postgres, "server_binaries", lambda: None)
    assert "apt-get install postgresql" in postgres.unavailable()
