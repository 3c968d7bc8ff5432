"""Result storage: SQLAlchemy 2 typed ORM over any SQLAlchemy URL (SQLite by default).

Four tables (see ``docs/design.md``, "Storage"):

- :class:`Submission`: what was evaluated (name, version, checksum of what was loaded).
  ``(name, version)`` is unique and a published version never changes meaning: the
  same name and version with another checksum is refused (bump the version).
- :class:`Environment`: one split of one family at one version, identified by its
  ``fingerprint`` (sha256 of the spec JSON plus the evaluation seeds, computed by
  the caller), so scores of different environment versions are never mixed.
- :class:`Run`: one evaluation of one submission (all its instances) on one environment.
- :class:`Episode`: the raw per-episode rows of a run, from which every score is
  recomputed.

Every unit of work is one ``with Session(engine) as s, s.begin():`` block. A run and
all its episode rows are written in one transaction with one bulk insert, so a
failed or interrupted run leaves no rows at all.

The database enforces the invariants, so that any number of processes (on any
number of machines sharing a PostgreSQL server) can submit at once:

- a run is unique per (submission, environment, seed set), and an episode per
  (run, instance, seed): unique indexes. Every insert of a row that may already
  exist is ``INSERT ... ON CONFLICT DO NOTHING``; the loser of a race reads the
  winner's row instead (:func:`store_run` returns the stored run, ``created`` False);
- a submission's name and version are claimed before it is evaluated
  (:func:`claim_submission`, a :class:`VersionClaim`): the next free version is
  taken by an insert that fails over to the next number when another process
  took it first;
- a run about to be evaluated is claimed (:func:`claim_run`, a :class:`RunClaim`),
  so a run (a reference run most of all) is evaluated by one process while the
  others wait for it and re-use it.

Claims name what they claim (no submission or environment row is written before
a run is stored), so an evaluation that fails, or a process that is killed,
leaves no submission behind; a claim whose owner is gone is taken over.

Rows are validated when read (:func:`load_episodes` raises :class:`CorruptRunError`
naming the run). The schema is versioned by Alembic (``benchmark/store/migrations``):
commands that write upgrade an older database in place; commands that only read
never change a database and refuse an older schema (:class:`SchemaOutOfDateError`).

Callers build :class:`SubmissionInfo` / :class:`EnvironmentInfo` (plain frozen
dataclasses, picklable, so worker processes can make them) and read back frozen
records (:class:`SubmissionRecord`, :class:`RunRecord`), never live ORM objects.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from benchmark.evaluate.episodes import Episodes

#: Environment variable holding the database URL; overrides the default file.
DB_ENV_VAR = "MESABENCH_DB"
#: File name of the default SQLite database at the repository root.
DB_FILENAME = "results.db"

SubmissionKind = Literal["agent", "baseline", "reference"]
SUBMISSION_KINDS: tuple[str, ...] = ("agent", "baseline", "reference")

# Auto-incrementing 64-bit ids where the database has them; SQLite only
# auto-increments a column declared exactly INTEGER.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone).

    Aware values are converted to UTC; naive values are taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SubmissionConflictError(ValueError):
    """The same submission name and version was already stored with another checksum."""


# --------------------------------------------------------------------------- tables


class Base(DeclarativeBase):
    pass


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_submission_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    privileged: Mapped[bool] = mapped_column(Boolean, default=False)
    n_instances: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    # What a trained agent was trained on (JSON, one entry per instance), as its policy
    # files record it; NULL for scripted agents and policies that do not say.
    training: Mapped[str | None] = mapped_column(Text, nullable=True)


class Environment(Base):
    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(100), index=True)
    split: Mapped[str] = mapped_column(String(100))
    env_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    spec_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class Run(Base):
    __tablename__ = "runs"
    # One run per submission version, environment fingerprint and seed set: a second
    # evaluation of the same thing is never stored (its insert is a no-op).
    __table_args__ = (
        Index(
            "uq_runs_submission_environment_seeds",
            "submission_id",
            "environment_id",
            "seeds_digest",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    seeds_digest: Mapped[str] = mapped_column(String(64))
    n_episodes: Mapped[int] = mapped_column(Integer)
    n_instances: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    code_version: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class Episode(Base):
    __tablename__ = "episodes"
    # Each instance plays each seed once per run. The index also serves every lookup
    # by run (it replaced the plain index on run_id).
    __table_args__ = (
        Index("uq_episodes_run_instance_seed", "run_id", "instance", "seed", unique=True),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    instance: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    length: Mapped[int] = mapped_column(Integer)
    termination: Mapped[str] = mapped_column(String(64))
    #: ``{"objective name": episode total, ...}`` as compact JSON text, so every row is
    #: self-describing. Text rather than the JSON type: serialising 100k rows through
    #: ``json.dumps`` doubled the time to store a run (see :func:`benchmark_store_rows`).
    objectives: Mapped[str] = mapped_column(Text)

    @property
    def objective_values(self) -> dict[str, float]:
        return json.loads(self.objectives)


class RunClaim(Base):
    """A run some process is evaluating now: the others wait for it instead of
    evaluating it again. Deleted when the run is stored (in the same transaction) or
    the evaluation fails; a claim whose owner is gone is taken over (:func:`claim_run`).
    It names the run (submission name and version, environment fingerprint, seeds), so
    nothing else is written before the run is."""

    __tablename__ = "run_claims"
    __table_args__ = (
        Index(
            "uq_run_claims_run",
            "submission_name",
            "submission_version",
            "fingerprint",
            "seeds_digest",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_name: Mapped[str] = mapped_column(String(200))
    submission_version: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    seeds_digest: Mapped[str] = mapped_column(String(64))
    #: ``host:pid`` of the claiming process (see :func:`claim_owner`).
    owner: Mapped[str] = mapped_column(String(300))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    #: Renewed by the owner while it evaluates (:func:`renew_claims`).
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class VersionClaim(Base):
    """A submission name and version taken by a command that is evaluating it (its
    submission row is written with its first run). Released when the command ends."""

    __tablename__ = "version_claims"
    __table_args__ = (Index("uq_version_claims_name_version", "name", "version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    checksum: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(300))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


# --------------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class SubmissionInfo:
    """What the caller knows about a submission (see :class:`Submission`)."""

    name: str
    version: str
    checksum: str
    source: str
    kind: SubmissionKind = "agent"
    privileged: bool = False
    n_instances: int = 1
    training: str | None = None  # JSON: see Submission.training

    def __post_init__(self) -> None:
        if self.kind not in SUBMISSION_KINDS:
            raise ValueError(
                f"submission kind must be one of {SUBMISSION_KINDS}, not {self.kind!r}"
            )
        if not self.name or not self.version or not self.checksum:
            raise ValueError("a submission needs a name, a version and a checksum")


@dataclass(frozen=True)
class EnvironmentInfo:
    """What the caller knows about an environment (see :class:`Environment`)."""

    family: str
    split: str
    env_id: str
    version: int
    fingerprint: str
    spec_json: str


@dataclass(frozen=True)
class SubmissionRecord:
    id: int
    name: str
    version: str
    checksum: str
    source: str
    kind: str
    privileged: bool
    n_instances: int
    created_at: datetime
    training: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class RunRecord:
    """One stored run with what a leaderboard needs about its submission and environment."""

    run_id: int
    submission_id: int
    name: str
    version: str
    kind: str
    privileged: bool
    checksum: str
    environment_id: int
    family: str
    split: str
    env_id: str
    env_version: int
    fingerprint: str
    seeds_digest: str
    n_episodes: int
    n_instances: int
    started_at: datetime
    duration_s: float
    code_version: str
    created_at: datetime
    training: str | None = None  # the submission's (JSON, see Submission.training)


def seeds_digest(seeds: Iterable[int]) -> str:
    """sha256 hex of the sorted, de-duplicated seed list (as JSON): the key of a seed set."""
    ordered = sorted({int(s) for s in seeds})
    return hashlib.sha256(json.dumps(ordered, separators=(",", ":")).encode()).hexdigest()


# --------------------------------------------------------------------------- engine


def default_url() -> str:
    """``$MESABENCH_DB`` if set, else ``sqlite:///<repository root>/results.db``.

    The repository root is the directory holding ``pyproject.toml`` above this file;
    when the package is installed elsewhere, the current directory is used.
    """
    url = os.environ.get(DB_ENV_VAR)
    if url:
        return url
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        root = Path.cwd()
    return f"sqlite:///{root / DB_FILENAME}"


#: Passwords of every URL this process opened, hidden from any message (:func:`scrub`).
_PASSWORDS: set[str] = set()


def display_url(url: str) -> str:
    """``url`` with its password hidden (as it is shown in messages)."""
    try:
        parsed = make_url(url)
    except Exception:  # not a URL SQLAlchemy can parse: nothing to hide in it
        return url
    if parsed.password:
        _PASSWORDS.add(str(parsed.password))
    return parsed.render_as_string(hide_password=True)


def scrub(text: str) -> str:
    """``text`` with the password of every database URL this process used hidden.

    Drivers' errors (a refused login, a lost connection) may quote the URL or its
    parts; every message that can reach a user goes through here.
    """
    for password in sorted(_PASSWORDS, key=len, reverse=True):
        text = text.replace(password, "***")
    return text


class NoDatabaseError(LookupError):
    """A command that only reads found no MesaBench database there; the message says why."""


class SchemaOutOfDateError(LookupError):
    """The database was written by an older MesaBench: ``mesabench db upgrade`` brings it up
    to date (commands that only read never change a database)."""


class DatabaseDriverError(ImportError):
    """The URL names a database whose Python driver is not installed; says which extra to add."""


class DatabaseUnavailableError(ConnectionError):
    """The database server refused or could not be reached; the message hides the password."""


#: Python driver modules and the extra of ``mesabench`` that installs each.
DRIVER_EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres", "psycopg_binary": "postgres"}


def engine_url(url: str) -> str:
    """``url`` as it is opened: a bare ``postgresql://`` means psycopg 3 (the driver the
    ``postgres`` extra installs), not SQLAlchemy's default psycopg2."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _new_engine(url: str) -> Engine:
    is_sqlite = url.startswith("sqlite")
    try:
        engine = create_engine(engine_url(url), connect_args={"timeout": 30} if is_sqlite else {})
    except ModuleNotFoundError as error:
        extra = DRIVER_EXTRAS.get((error.name or "").split(".")[0])
        hint = f": pip install 'mesabench[{extra}]'" if extra else ""
        raise DatabaseDriverError(
            f"{display_url(url)} needs the Python module {error.name!r}, which is not "
            f"installed{hint}"
        ) from None
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _enable_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def as_url(text: str) -> str:
    """A database URL, or a file path taken as a SQLite database (``results.db``)."""
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def open_engine(url: str) -> Engine:
    """An engine for ``url`` that checks nothing and changes nothing (for ``mesabench db``).

    Raises :class:`DatabaseDriverError` when the driver is missing.
    """
    display_url(url)
    return _new_engine(url)


def make_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """An engine for ``url`` (default :func:`default_url`).

    With ``create`` (commands that store runs) the tables are created if missing and an
    older schema is upgraded in place (:func:`upgrade`). Without it (commands that only
    read) nothing is created or changed: a SQLite file that does not exist, or a
    database without MesaBench's tables, raises :class:`NoDatabaseError` instead of
    leaving an empty database (or new tables in someone else's) behind, and an older
    schema raises :class:`SchemaOutOfDateError`. On SQLite, foreign keys are enforced
    and writers wait up to 30 s for a lock.

    Raises :class:`DatabaseDriverError` when the driver is missing and
    :class:`DatabaseUnavailableError` when the server cannot be reached (messages
    never show the password).
    """
    url = url or default_url()
    display_url(url)  # remember its password, to hide it from any error
    if not create and url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).is_file():
            raise NoDatabaseError(
                f"no database at {path}: nothing has been stored there yet (`mesabench "
                "demo` or `mesabench submit` creates one)"
            )
    engine = _new_engine(url)
    try:
        if create:
            upgrade(engine)
        else:
            _require_current_schema(engine, url)
    except (NoDatabaseError, SchemaOutOfDateError):
        engine.dispose()
        raise
    except OperationalError as error:
        engine.dispose()
        cause = getattr(error, "orig", None) or error  # the driver's sentence, not the SQL
        raise DatabaseUnavailableError(
            f"cannot open database {display_url(url)}: {scrub(str(cause).strip())}"
        ) from None
    return engine


# --------------------------------------------------------------------------- schema


#: The tables of a MesaBench database before schema versions existed (Alembic's
#: baseline revision): a database holding exactly these is upgraded from there.
BASELINE_TABLES = frozenset({"submissions", "environments", "runs", "episodes"})
#: Alembic's revision id of that schema.
BASELINE_REVISION = "0001"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The schema revision this code reads and writes."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def schema_revision(engine: Engine) -> str | None:
    """The database's schema revision: None for a database without MesaBench tables,
    :data:`BASELINE_REVISION` for one written before revisions were recorded."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        if revision is not None:
            return revision
        tables = set(inspect(connection).get_table_names())
    return BASELINE_REVISION if tables >= BASELINE_TABLES else None


def _require_current_schema(engine: Engine, url: str) -> None:
    tables = set(inspect(engine).get_table_names())
    missing = sorted(BASELINE_TABLES - tables)
    if missing:
        raise NoDatabaseError(
            f"{display_url(url)} is not a MesaBench database: it has no table {', '.join(missing)}"
        )
    revision, head = schema_revision(engine), head_revision()
    if revision != head:
        raise SchemaOutOfDateError(
            f"{display_url(url)} was written by an older MesaBench (schema {revision}, this "
            f"code reads {head}): run `mesabench db upgrade --db {display_url(url)}` (commands "
            "that store runs upgrade it too)"
        )


def _lock_for_schema_change(connection: Any) -> None:
    """Serialise schema changes of concurrent processes (taken inside the transaction):
    the second one then finds the schema up to date and changes nothing."""
    if connection.dialect.name == "sqlite":
        # Python's sqlite3 has not begun a transaction for DDL: begin one that holds the
        # write lock from the start (others wait for it, up to the 30 s timeout).
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7243019481)")


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database's schema to :func:`head_revision`, in one transaction.

    An empty database gets every table at once (and is stamped with the head
    revision); one written before revisions were recorded is taken as the baseline
    revision and migrated from there. Returns ``(revision before, revision now)``.
    """
    from alembic import command

    head = head_revision()
    with engine.connect() as connection, connection.begin():
        _lock_for_schema_change(connection)
        config = _alembic_config(connection)
        from alembic.runtime.migration import MigrationContext

        before = MigrationContext.configure(connection).get_current_revision()
        tables = set(inspect(connection).get_table_names())
        if before is None and not tables & BASELINE_TABLES:
            Base.metadata.create_all(connection)
            command.stamp(config, "head")
            return None, head
        if before is None:
            missing = sorted(BASELINE_TABLES - tables)
            if missing:
                raise NoDatabaseError(
                    f"{display_url(str(engine.url))} holds some of MesaBench's tables but not "
                    f"{', '.join(missing)}: not a database this code can upgrade"
                )
            command.stamp(config, BASELINE_REVISION)
            before = BASELINE_REVISION
        if before != head:
            command.upgrade(config, "head")
    return before, head


# --------------------------------------------------------------------------- submissions


def _submission_record(row: Submission) -> SubmissionRecord:
    return SubmissionRecord(
        row.id,
        row.name,
        row.version,
        row.checksum,
        row.source,
        row.kind,
        row.privileged,
        row.n_instances,
        row.created_at,
        row.training,
    )


def _conflict(row: Submission, info: SubmissionInfo) -> SubmissionConflictError:
    return SubmissionConflictError(
        f"submission {info.name!r} version {info.version!r} is already stored with checksum "
        f"{row.checksum[:12]} (loaded from {row.source!r}); what was loaded now from "
        f"{info.source!r} has checksum {info.checksum[:12]}. A published version never "
        f"changes meaning: submit it under a new version."
    )


def _insert_or_ignore(s: Session, table: Any, values: dict[str, Any], key: list[str]) -> int | None:
    """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING id``: the new row's id, or None
    when a row with that key exists (whoever stored it, whenever)."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # another server: the same thing with a savepoint
        try:
            with s.begin_nested():
                return s.execute(insert(table).values(**values).returning(table.c.id)).scalar()
        except IntegrityError:
            return None
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=key)
    return s.execute(statement.returning(table.c.id)).scalar()


def _submission_values(info: SubmissionInfo, version: str) -> dict[str, Any]:
    return dict(
        name=info.name,
        version=version,
        checksum=info.checksum,
        source=info.source,
        kind=info.kind,
        privileged=info.privileged,
        n_instances=info.n_instances,
        created_at=_now(),
        training=info.training,
    )


def _get_or_add_submission(s: Session, info: SubmissionInfo) -> tuple[Submission, bool]:
    """The row of ``info``'s name and version, inserted if new (a concurrent insert of the
    same name and version is a no-op: its row is read back). Raises
    :class:`SubmissionConflictError` when that name and version has another checksum."""
    new_id = _insert_or_ignore(
        s, Submission.__table__, _submission_values(info, info.version), ["name", "version"]
    )
    row = s.scalars(
        select(Submission).where(Submission.name == info.name, Submission.version == info.version)
    ).one()
    if new_id is None and row.checksum != info.checksum:
        raise _conflict(row, info)
    return row, new_id is not None


def register_submission(engine: Engine, info: SubmissionInfo) -> tuple[SubmissionRecord, bool]:
    """Store ``info`` if new. Returns ``(record, created)``.

    The same name and version with the same checksum returns the stored row
    (``created`` False); with another checksum raises :class:`SubmissionConflictError`.
    Use :func:`submissions_by_checksum` to find the same thing under other names.
    """
    with Session(engine) as s, s.begin():
        row, created = _get_or_add_submission(s, info)
        return _submission_record(row), created


def claim_submission(
    engine: Engine, info: SubmissionInfo, version: str | None = None
) -> tuple[str, bool]:
    """Claim a name and version for ``info`` before it is evaluated. Returns ``(version,
    stored)``: ``stored`` when that version is stored already (with this checksum).

    With ``version``: that version, unless it is stored or claimed with another checksum
    (:class:`SubmissionConflictError`). With ``version=None``: the version this exact
    agent (same name and checksum) has or is being evaluated under, else the next
    integer version of the name. The claim is atomic: when another process takes the
    same number first, the insert is a no-op and the next number is tried, so N
    different agents submitted under one name at once get N distinct versions, before
    any of them is evaluated. Nothing but the claim is written: the submission row comes
    with its first run, and the claim ends with the command (:func:`release_all_claims`).
    """
    for _ in range(1000):
        with Session(engine) as s, s.begin():
            _drop_stale_version_claims(s, info.name)
            stored = {
                r.version: r.checksum
                for r in s.scalars(select(Submission).where(Submission.name == info.name))
            }
            claimed = {
                c.version: c.checksum
                for c in s.scalars(select(VersionClaim).where(VersionClaim.name == info.name))
            }
            if version is not None:
                checksum = stored.get(version) or claimed.get(version)
                if checksum is not None and checksum != info.checksum:
                    raise SubmissionConflictError(
                        f"submission {info.name!r} version {version!r} is already "
                        f"{'stored' if version in stored else 'being evaluated'} with checksum "
                        f"{checksum[:12]}; what was loaded now from {info.source!r} has "
                        f"checksum {info.checksum[:12]}. A published version never changes "
                        "meaning: submit it under a new version."
                    )
                chosen = version
            else:
                mine = [v for v, c in (*stored.items(), *claimed.items()) if c == info.checksum]
                if mine:
                    chosen = min(
                        mine, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0)
                    )
                else:
                    numbers = [int(v) for v in (*stored, *claimed) if v.isdigit()]
                    chosen = str(max(numbers, default=0) + 1)
            if chosen in stored:
                return chosen, True
            if chosen in claimed:  # the same agent, evaluated by another command now
                return chosen, False
            values = dict(name=info.name, version=chosen, checksum=info.checksum,
                          owner=claim_owner(), claimed_at=_now(), heartbeat_at=_now())  # fmt: skip
            if _insert_or_ignore(s, VersionClaim.__table__, values, ["name", "version"]):
                return chosen, False
        # Another process claimed that version first: look again.
    raise RuntimeError(f"could not claim a version of {info.name!r}")


def _is_stale(owner: str, heartbeat_at: datetime) -> bool:
    return (_now() - heartbeat_at).total_seconds() > CLAIM_TIMEOUT_S or _owner_is_dead(owner)


def _drop_stale_version_claims(s: Session, name: str) -> None:
    for claim in s.scalars(select(VersionClaim).where(VersionClaim.name == name)):
        if _is_stale(claim.owner, claim.heartbeat_at):
            s.execute(
                delete(VersionClaim).where(
                    VersionClaim.id == claim.id, VersionClaim.owner == claim.owner
                )
            )


def get_submission(engine: Engine, name: str, version: str) -> SubmissionRecord | None:
    """The stored submission ``name``/``version``, or None."""
    with Session(engine) as s:
        row = s.scalars(
            select(Submission).where(Submission.name == name, Submission.version == version)
        ).one_or_none()
        return None if row is None else _submission_record(row)


def submissions_by_checksum(engine: Engine, checksum: str) -> list[SubmissionRecord]:
    """Every stored submission with this checksum (the same thing under any name), oldest first."""
    with Session(engine) as s:
        rows = s.scalars(
            select(Submission).where(Submission.checksum == checksum).order_by(Submission.id)
        )
        return [_submission_record(r) for r in rows]


def list_submissions(engine: Engine, *, kind: str | None = None) -> list[SubmissionRecord]:
    """Stored submissions, by name then id, optionally of one kind."""
    query = select(Submission).order_by(Submission.name, Submission.id)
    if kind is not None:
        query = query.where(Submission.kind == kind)
    with Session(engine) as s:
        return [_submission_record(r) for r in s.scalars(query)]


def submission_ids_with_runs(engine: Engine) -> set[int]:
    """Ids of the submissions that have at least one stored run."""
    with Session(engine) as s:
        return set(s.scalars(select(Run.submission_id).distinct()))


def delete_submission(engine: Engine, name: str, version: str) -> int:
    """Delete a submission with all its runs and episodes. Returns the number of runs deleted.

    Raises:
        LookupError: no such submission.
    """
    with Session(engine) as s, s.begin():
        sub_id = s.scalar(
            select(Submission.id).where(Submission.name == name, Submission.version == version)
        )
        if sub_id is None:
            raise LookupError(f"no stored submission {name!r} version {version!r}")
        run_ids = select(Run.id).where(Run.submission_id == sub_id).scalar_subquery()
        s.execute(delete(Episode).where(Episode.run_id.in_(run_ids)))
        n_runs = s.execute(delete(Run).where(Run.submission_id == sub_id)).rowcount
        s.execute(delete(Submission).where(Submission.id == sub_id))
        return int(n_runs)


# --------------------------------------------------------------------------- runs


def _get_or_add_environment(s: Session, info: EnvironmentInfo) -> Environment:
    values = dict(
        family=info.family,
        split=info.split,
        env_id=info.env_id,
        version=info.version,
        fingerprint=info.fingerprint,
        spec_json=info.spec_json,
        created_at=_now(),
    )
    _insert_or_ignore(s, Environment.__table__, values, ["fingerprint"])
    return s.scalars(select(Environment).where(Environment.fingerprint == info.fingerprint)).one()


def _episode_rows(run_id: int, episodes: Episodes) -> list[dict[str, Any]]:
    """One insert parameter dict per episode (plain Python values, objectives as JSON)."""
    names = list(episodes.objectives)
    columns = [np.asarray(episodes.objectives[k], dtype=float) for k in names]
    for name, column in zip(names, columns, strict=True):
        if not np.isfinite(column).all():
            bad = int(np.flatnonzero(~np.isfinite(column))[0])
            raise ValueError(f"objective {name!r} is not finite in episode row {bad}")
    # repr() of a finite float is a valid JSON number, so one %-template per row
    # writes the same text as json.dumps at a fraction of the cost.
    template = "{" + ",".join(f"{json.dumps(k)}:%r" for k in names) + "}"
    values = np.column_stack(columns).tolist() if columns else [[]] * len(episodes)
    return [
        {
            "run_id": run_id,
            "instance": instance,
            "seed": seed,
            "length": length,
            "termination": termination,
            "objectives": template % tuple(objs),
        }
        for instance, seed, length, termination, objs in zip(
            np.asarray(episodes.instance).tolist(),
            np.asarray(episodes.seed).tolist(),
            np.asarray(episodes.length).tolist(),
            [str(t) for t in np.asarray(episodes.termination).tolist()],
            values,
            strict=True,
        )
    ]


def store_run(
    engine: Engine,
    submission: SubmissionInfo,
    environment: EnvironmentInfo,
    episodes: Episodes,
    started_at: datetime,
    duration_s: float,
    code_version: str = "",
) -> int:
    """Store one run and all its episodes in one transaction. Returns the run id (the
    stored one when this exact run was stored already: see :func:`insert_run`)."""
    return insert_run(
        engine, submission, environment, episodes, started_at, duration_s, code_version
    )[0]


def insert_run(
    engine: Engine,
    submission: SubmissionInfo,
    environment: EnvironmentInfo,
    episodes: Episodes,
    started_at: datetime,
    duration_s: float,
    code_version: str = "",
) -> tuple[int, bool]:
    """Store one run and all its episodes in one transaction. Returns ``(run id, created)``.

    Adds the submission and environment rows if new (raising
    :class:`SubmissionConflictError` if the name and version are stored with another
    checksum). A run of this submission on this environment and seed set that is
    already stored (another process stored it first) is not stored again: its id is
    returned with ``created`` False. The episode rows go in with one bulk insert; if
    anything fails, or the process is interrupted, nothing of the run is left behind.
    The run's ``seeds_digest`` is :func:`seeds_digest` of the seeds actually played;
    the run's claim (:func:`claim_run`), if any, is released in the same transaction.
    """
    if len(episodes) == 0:
        raise ValueError(f"refusing to store an empty run of {submission.name!r}")
    digest = seeds_digest(np.asarray(episodes.seed).tolist())
    with Session(engine) as s, s.begin():
        sub, _ = _get_or_add_submission(s, submission)
        env = _get_or_add_environment(s, environment)
        key = (sub.id, env.id, digest)
        run_id = _insert_or_ignore(
            s,
            Run.__table__,
            dict(
                submission_id=sub.id,
                environment_id=env.id,
                seeds_digest=digest,
                n_episodes=len(episodes),
                n_instances=episodes.n_instances,
                started_at=started_at,
                duration_s=float(duration_s),
                code_version=code_version,
                created_at=_now(),
            ),
            ["submission_id", "environment_id", "seeds_digest"],
        )
        created = run_id is not None
        if run_id is None:  # lost the race (or re-stored): the stored run stands
            run_id = s.scalars(select(Run.id).where(*_run_key(Run, *key))).one()
        else:
            # Core insert on the table: one executemany, without the ORM bulk
            # path's per-row bookkeeping (which took longer than the insert).
            s.execute(insert(Episode.__table__), _episode_rows(run_id, episodes))
            # What the evaluation found out about the submission (a privileged
            # reference, its number of instances) is recorded on it.
            if submission.privileged and not sub.privileged:
                sub.privileged = True
            sub.n_instances = max(sub.n_instances, episodes.n_instances)
        s.execute(delete(RunClaim).where(*_claim_key(submission, environment.fingerprint, digest)))
        return run_id, created


def _run_key(table: Any, submission_id: int, environment_id: int, digest: str) -> tuple:
    return (
        table.submission_id == submission_id,
        table.environment_id == environment_id,
        table.seeds_digest == digest,
    )


# --------------------------------------------------------------------------- run claims

#: A claim whose owner renewed it no later than this ago is live. Owners renew every
#: :data:`CLAIM_RENEW_S` seconds; an owner on another machine that died is waited for
#: this long (an owner on this machine that died is noticed at once).
CLAIM_TIMEOUT_S = 600.0
CLAIM_RENEW_S = 30.0


def claim_owner() -> str:
    """This process, as a claim names it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` is a process of this machine that no longer runs."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


@dataclass(frozen=True)
class Claim:
    """What :func:`claim_run` found: ``stored`` (the run exists: ``run_id``), ``claimed``
    (this process evaluates it) or ``busy`` (``owner`` evaluates it now)."""

    status: Literal["stored", "claimed", "busy"]
    run_id: int | None = None
    owner: str = ""


def _claim_key(submission: SubmissionInfo, fingerprint: str, digest: str) -> tuple:
    return (
        RunClaim.submission_name == submission.name,
        RunClaim.submission_version == submission.version,
        RunClaim.fingerprint == fingerprint,
        RunClaim.seeds_digest == digest,
    )


def record_training(engine: Engine, submission: SubmissionInfo) -> bool:
    """Record ``submission.training`` on its stored row where the row has none (stored
    before submissions recorded it: the same checksum, so the same files say it).
    Returns whether a row changed."""
    if submission.training is None:
        return False
    with Session(engine) as s, s.begin():
        changed = s.execute(
            update(Submission)
            .where(
                Submission.name == submission.name,
                Submission.version == submission.version,
                Submission.checksum == submission.checksum,
                Submission.training.is_(None),
            )
            .values(training=submission.training)
        ).rowcount
    return changed > 0


def claim_run(
    engine: Engine, submission: SubmissionInfo, environment: EnvironmentInfo, digest: str
) -> Claim:
    """Claim the run of ``submission`` on ``environment`` over the seeds with ``digest``
    before evaluating it, so that it is evaluated once however many processes want it.

    One transaction: the run is already stored (``stored``); nobody claims it, or its
    claim is stale (its owner is gone: :data:`CLAIM_TIMEOUT_S`), and this process claims
    it (``claimed``); or another live process evaluates it (``busy``: wait, and look
    again). Storing the run (:func:`insert_run`) or :func:`release_claim` ends a claim.
    Nothing but the claim is written.
    """
    me = claim_owner()
    with Session(engine) as s, s.begin():
        values = dict(
            submission_name=submission.name, submission_version=submission.version,
            fingerprint=environment.fingerprint, seeds_digest=digest, owner=me,
            claimed_at=_now(), heartbeat_at=_now(),
        )  # fmt: skip
        key = ["submission_name", "submission_version", "fingerprint", "seeds_digest"]
        claim_id = _insert_or_ignore(s, RunClaim.__table__, values, key)
        # Looked for after the insert: a process that stored the run (and dropped its
        # claim) just before is seen now, so the run is not evaluated a second time.
        run_id = s.scalar(
            select(Run.id)
            .join(Submission, Run.submission_id == Submission.id)
            .join(Environment, Run.environment_id == Environment.id)
            .where(
                Submission.name == submission.name,
                Submission.version == submission.version,
                Environment.fingerprint == environment.fingerprint,
                Run.seeds_digest == digest,
            )
        )
        if run_id is not None:
            if claim_id is not None:
                s.execute(delete(RunClaim).where(RunClaim.id == claim_id))
            return Claim("stored", run_id)
        if claim_id is not None:
            return Claim("claimed", owner=me)
        where = _claim_key(submission, environment.fingerprint, digest)
        claim = s.scalars(select(RunClaim).where(*where)).one_or_none()
        if claim is None:  # released between our insert and this read: try again later
            return Claim("busy")
        if claim.owner == me:
            return Claim("claimed", owner=me)
        if _is_stale(claim.owner, claim.heartbeat_at):
            # Taken over only if it is still that stale claim (another waiter may be first).
            taken = s.execute(
                update(RunClaim)
                .where(RunClaim.id == claim.id, RunClaim.owner == claim.owner)
                .values(owner=me, claimed_at=_now(), heartbeat_at=_now())
            ).rowcount
            if taken == 1:
                return Claim("claimed", owner=me)
        return Claim("busy", owner=claim.owner)


def release_claim(
    engine: Engine, submission: SubmissionInfo, environment: EnvironmentInfo, digest: str
) -> None:
    """End this process's claim of that run without storing it (its evaluation failed)."""
    with Session(engine) as s, s.begin():
        s.execute(
            delete(RunClaim).where(
                *_claim_key(submission, environment.fingerprint, digest),
                RunClaim.owner == claim_owner(),
            )
        )


def renew_claims(engine: Engine) -> int:
    """Renew every claim this process holds (it is still evaluating). Returns how many."""
    me, now = claim_owner(), _now()
    with Session(engine) as s, s.begin():
        return sum(
            s.execute(update(table).where(table.owner == me).values(heartbeat_at=now)).rowcount
            for table in (RunClaim, VersionClaim)
        )


def release_all_claims(engine: Engine) -> None:
    """End every claim this process still holds (it is leaving): its runs and versions."""
    with Session(engine) as s, s.begin():
        for table in (RunClaim, VersionClaim):
            s.execute(delete(table).where(table.owner == claim_owner()))


def find_run(
    engine: Engine,
    checksum: str,
    fingerprint: str,
    seeds_digest: str,
    *,
    name: str | None = None,
    version: str | None = None,
) -> int | None:
    """The latest stored run of the agent with ``checksum`` on exactly that environment and
    seeds, or None. ``name``/``version`` restrict it to one submission (by default a run
    of the same checksum under any name counts)."""
    query = (
        select(func.max(Run.id))
        .join(Submission, Run.submission_id == Submission.id)
        .join(Environment, Run.environment_id == Environment.id)
        .where(
            Submission.checksum == checksum,
            Environment.fingerprint == fingerprint,
            Run.seeds_digest == seeds_digest,
        )
    )
    if name is not None:
        query = query.where(Submission.name == name)
    if version is not None:
        query = query.where(Submission.version == version)
    with Session(engine) as s:
        return s.scalar(query)


class CorruptRunError(ValueError):
    """A stored run whose rows contradict each other or its run row; never used.

    The message names the run (id, agent and version, family and split) and what is
    wrong with it; ``run_id`` is the run's id.
    """

    def __init__(self, run_id: int, label: str, problem: str) -> None:
        super().__init__(f"stored run {run_id} ({label}) is corrupt: {problem}")
        self.run_id = run_id


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _parse_objectives(texts: Sequence[str]) -> tuple[list[str], list[list[float]]] | str:
    """Objective names and per-row values, or a sentence saying what is wrong."""
    try:  # one parse, not one per row (NaN and Infinity are refused)
        parsed = json.loads("[" + ",".join(texts) + "]", parse_constant=_reject_constant)
    except ValueError:
        for index, text in enumerate(texts):
            try:
                json.loads(text, parse_constant=_reject_constant)
            except ValueError as error:
                return f"episode row {index}: objectives {text[:60]!r} do not parse ({error})"
        return "the objectives do not parse"
    if not parsed or not all(isinstance(o, dict) for o in parsed):
        return "objectives are not JSON objects"
    names = list(parsed[0])
    values = []
    for index, row in enumerate(parsed):
        if list(row) != names:
            return f"episode row {index} has objectives {sorted(row)}, the first {sorted(names)}"
        numbers = list(row.values())
        if not all(type(v) in (int, float) and math.isfinite(v) for v in numbers):
            return f"episode row {index}: an objective is not a finite number ({row})"
        values.append(numbers)
    return names, values


def _validate(run: Run, rows: Sequence[Any]) -> tuple[list[str], list[list[float]]] | str:
    """A run's episode rows checked against each other and the run row; what is wrong, if
    anything: the count, the (instance, seed) grid, the seed set, the objectives."""
    if len(rows) != run.n_episodes:
        return f"{len(rows)} episode rows stored, the run has {run.n_episodes}"
    pairs = [(instance, seed) for instance, seed, *_ in rows]
    if len(set(pairs)) != len(pairs):
        return "an instance played a seed more than once (duplicated episode rows)"
    instances = {instance for instance, _ in pairs}
    if instances != set(range(run.n_instances)):
        return f"instances {sorted(instances)} stored, the run has {run.n_instances}"
    seeds = {seed for _, seed in pairs}
    if len(pairs) != len(seeds) * len(instances):
        return "the instances did not all play the same seeds (episode rows missing)"
    if seeds_digest(seeds) != run.seeds_digest:
        return "its seeds are not the seed set the run was stored with"
    if any(length is None or length < 0 for _, _, length, *_ in rows):
        return "an episode has a negative length"
    return _parse_objectives([objectives for *_, objectives in rows])


def load_episodes(engine: Engine, run_id: int) -> Episodes:
    """The episodes of run ``run_id`` in the order they were stored, validated.

    Raises:
        LookupError: no such run.
        CorruptRunError: its rows are not a whole, well-formed run (see :func:`_validate`).
    """
    with Session(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            raise LookupError(f"no stored run with id {run_id}")
        # Through the connection: plain tuples, without ORM row bookkeeping.
        rows = (
            s.connection()
            .execute(
                select(
                    Episode.instance,
                    Episode.seed,
                    Episode.length,
                    Episode.termination,
                    Episode.objectives,
                )
                .where(Episode.run_id == run_id)
                .order_by(Episode.id)
            )
            .all()
        )
        checked = _validate(run, rows)
        if isinstance(checked, str):
            sub, env = (
                s.get_one(Submission, run.submission_id),
                s.get_one(Environment, run.environment_id),
            )
            label = f"{sub.name}@{sub.version} on {env.family}/{env.split}"
            raise CorruptRunError(run_id, label, checked)
    names, values = checked
    instance, seed, length, termination, _ = zip(*rows, strict=True)
    matrix = np.array(values, dtype=float).reshape(len(rows), len(names))
    return Episodes(
        instance=np.array(instance, dtype=np.int64),
        seed=np.array(seed, dtype=np.int64),
        length=np.array(length, dtype=np.int64),
        termination=np.array(termination, dtype=str),
        objectives={k: matrix[:, i].copy() for i, k in enumerate(names)},
    )


_RUN_COLUMNS = (
    Run.id,
    Run.submission_id,
    Submission.name,
    Submission.version,
    Submission.kind,
    Submission.privileged,
    Submission.checksum,
    Run.environment_id,
    Environment.family,
    Environment.split,
    Environment.env_id,
    Environment.version,
    Environment.fingerprint,
    Run.seeds_digest,
    Run.n_episodes,
    Run.n_instances,
    Run.started_at,
    Run.duration_s,
    Run.code_version,
    Run.created_at,
    Submission.training,
)


def latest_runs(
    engine: Engine,
    *,
    kind: str | None = None,
    family: str | None = None,
    split: str | None = None,
    name: str | None = None,
) -> list[RunRecord]:
    """The latest run (highest id) per (submission, environment), optionally filtered.

    Ordered by family, split, submission name, version.
    """
    latest = (
        select(func.max(Run.id)).group_by(Run.submission_id, Run.environment_id).scalar_subquery()
    )
    query = (
        select(*_RUN_COLUMNS)
        .join(Submission, Run.submission_id == Submission.id)
        .join(Environment, Run.environment_id == Environment.id)
        .where(Run.id.in_(latest))
        .order_by(Environment.family, Environment.split, Submission.name, Submission.version)
    )
    for column, value in (
        (Submission.kind, kind),
        (Environment.family, family),
        (Environment.split, split),
        (Submission.name, name),
    ):
        if value is not None:
            query = query.where(column == value)
    with Session(engine) as s:
        return [RunRecord(*row) for row in s.execute(query)]


def all_runs(engine: Engine) -> list[RunRecord]:
    """Every stored run, in a stable order (family, split, id, agent name, version, run)."""
    query = (
        select(*_RUN_COLUMNS)
        .join(Submission, Run.submission_id == Submission.id)
        .join(Environment, Run.environment_id == Environment.id)
        .order_by(
            Environment.family, Environment.split, Environment.env_id, Submission.name,
            Submission.version, Run.id,
        )
    )  # fmt: skip
    with Session(engine) as s:
        return [RunRecord(*row) for row in s.execute(query)]


def reference_runs(engine: Engine, fingerprint: str) -> dict[str, int]:
    """Reference policy name (``"random"``, ``"oracle:<objective>"``) -> latest run id on
    the environment with ``fingerprint``. References are submissions of kind ``reference``
    whose name is the policy name."""
    query = (
        select(Submission.name, func.max(Run.id))
        .join(Submission, Run.submission_id == Submission.id)
        .join(Environment, Run.environment_id == Environment.id)
        .where(Submission.kind == "reference", Environment.fingerprint == fingerprint)
        .group_by(Submission.name)
    )
    with Session(engine) as s:
        return {name: run_id for name, run_id in s.execute(query)}


# --------------------------------------------------------------------------- copying


@dataclass(frozen=True)
class CopyReport:
    """What :func:`copy_database` did: rows added to the destination, and the runs it
    already held (the same submission version, environment and seeds)."""

    submissions: int
    environments: int
    runs: int
    episodes: int
    runs_already_there: int


class CopyConflictError(ValueError):
    """The destination holds a submission name and version with another checksum (or the
    source a corrupt run): nothing was copied."""


def _columns_of(row: Any, table: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in table.columns if c.name != "id"}


def copy_database(source: Engine, destination: Engine) -> CopyReport:
    """Copy every submission, environment, run and episode of ``source`` into
    ``destination``, keeping names, versions, checksums and timestamps, in one
    transaction of the destination (an error leaves it as it was).

    Rows the destination already has are merged: the same submission (name, version
    and checksum) and environment (fingerprint) are re-used, and a run it already holds
    (same submission version, environment and seeds) is not copied again. The same name
    and version with another checksum there refuses the whole copy
    (:class:`CopyConflictError`), as does a source run that fails validation. Claims of
    runs being evaluated are not copied.
    """
    with Session(source) as src:
        submissions = list(src.scalars(select(Submission).order_by(Submission.id)))
        environments = list(src.scalars(select(Environment).order_by(Environment.id)))
        runs = list(src.scalars(select(Run).order_by(Run.id)))
        src.expunge_all()
    for run in runs:  # nothing corrupt goes anywhere
        try:
            load_episodes(source, run.id)
        except CorruptRunError as error:
            raise CopyConflictError(f"{error}: nothing was copied") from None
    added = dict(submissions=0, environments=0, runs=0, episodes=0, already=0)
    with Session(destination) as dst, dst.begin():
        sub_ids: dict[int, int] = {}
        for row in submissions:
            there = dst.scalars(
                select(Submission).where(
                    Submission.name == row.name, Submission.version == row.version
                )
            ).one_or_none()
            if there is not None and there.checksum != row.checksum:
                raise CopyConflictError(
                    f"{row.name}@{row.version} is stored in the destination with checksum "
                    f"{there.checksum[:12]}, in the source with {row.checksum[:12]}: a version "
                    "never changes meaning, so nothing was copied (delete or rename one first)"
                )
            if there is None:
                there = Submission(**_columns_of(row, Submission.__table__))
                dst.add(there)
                dst.flush()
                added["submissions"] += 1
            sub_ids[row.id] = there.id
        env_ids: dict[int, int] = {}
        for row in environments:
            there_id = dst.scalar(
                select(Environment.id).where(Environment.fingerprint == row.fingerprint)
            )
            if there_id is None:
                new = Environment(**_columns_of(row, Environment.__table__))
                dst.add(new)
                dst.flush()
                there_id = new.id
                added["environments"] += 1
            env_ids[row.id] = there_id
        episode_columns = [c for c in Episode.__table__.columns if c.name not in ("id", "run_id")]
        for row in runs:
            key = (sub_ids[row.submission_id], env_ids[row.environment_id], row.seeds_digest)
            if dst.scalar(select(Run.id).where(*_run_key(Run, *key))) is not None:
                added["already"] += 1
                continue
            values = _columns_of(row, Run.__table__)
            values |= dict(submission_id=key[0], environment_id=key[1])
            new_run = Run(**values)
            dst.add(new_run)
            dst.flush()
            with Session(source) as src:
                rows = src.execute(
                    select(*episode_columns).where(Episode.run_id == row.id).order_by(Episode.id)
                ).all()
            dst.execute(
                insert(Episode.__table__),
                [{"run_id": new_run.id, **r._asdict()} for r in rows],
            )
            added["runs"] += 1
            added["episodes"] += len(rows)
    return CopyReport(
        added["submissions"], added["environments"], added["runs"], added["episodes"],
        added["already"],
    )  # fmt: skip


# --------------------------------------------------------------------------- performance


def synthetic_episodes(n: int, n_instances: int = 5, n_objectives: int = 3) -> Episodes:
    """``n`` made-up episode rows (for benchmarks and tests)."""
    rng = np.random.default_rng(0)
    per = -(-n // n_instances)
    instance = np.repeat(np.arange(n_instances), per)[:n]
    seed = np.tile(1_000_000_000 + np.arange(per), n_instances)[:n]
    return Episodes(
        instance=instance,
        seed=seed,
        length=rng.integers(1, 500, n),
        termination=rng.choice(np.array(["goal", "timeout", "death"]), n),
        objectives={f"objective_{i}": rng.normal(size=n) for i in range(n_objectives)},
    )


def benchmark_store_rows(n: int = 100_000) -> float:
    """Seconds :func:`store_run` takes to store one run of ``n`` episodes in a fresh
    temporary SQLite database (the data is made up front and not timed)."""
    episodes = synthetic_episodes(n)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        submission = SubmissionInfo("bench", "1", "0" * 64, "bench", "agent", False, 5)
        environment = EnvironmentInfo(
            "bench", "train", "MesaBench/Bench-train-v0", 0, "1" * 64, "{}"
        )
        start = time.perf_counter()
        store_run(engine, submission, environment, episodes, _now(), 0.0)
        elapsed = time.perf_counter() - start
        engine.dispose()
    return elapsed
