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

Callers build :class:`SubmissionInfo` / :class:`EnvironmentInfo` (plain frozen
dataclasses, picklable, so worker processes can make them) and read back frozen
records (:class:`SubmissionRecord`, :class:`RunRecord`), never live ORM objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable
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
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from benchmark.episodes import Episodes

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

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
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
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        root = Path.cwd()
    return f"sqlite:///{root / DB_FILENAME}"


def display_url(url: str) -> str:
    """``url`` with its password hidden (as it is shown in messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: nothing to hide in it
        return url


class NoDatabaseError(LookupError):
    """A command that only reads found no MesaBench database there; the message says why."""


def make_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """An engine for ``url`` (default :func:`default_url`).

    With ``create`` (commands that store runs) the tables are created if missing.
    Without it (commands that only read) nothing is created: a SQLite file that does
    not exist, or a database without MesaBench's tables, raises
    :class:`NoDatabaseError` instead of leaving an empty database (or four new tables
    in someone else's) behind. On SQLite, foreign keys are enforced and writers wait
    up to 30 s for a lock.
    """
    url = url or default_url()
    is_sqlite = url.startswith("sqlite")
    if not create and is_sqlite:
        path = make_url(url).database
        if path and path != ":memory:" and not Path(path).is_file():
            raise NoDatabaseError(
                f"no database at {path}: nothing has been stored there yet (`mesabench "
                "demo` or `mesabench submit` creates one)"
            )
    engine = create_engine(url, connect_args={"timeout": 30} if is_sqlite else {})
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _enable_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    if create:
        Base.metadata.create_all(engine)
        return engine
    missing = sorted(set(Base.metadata.tables) - set(inspect(engine).get_table_names()))
    if missing:
        engine.dispose()
        raise NoDatabaseError(
            f"{display_url(url)} is not a MesaBench database: it has no table {', '.join(missing)}"
        )
    return engine


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
    )


def _conflict(row: Submission, info: SubmissionInfo) -> SubmissionConflictError:
    return SubmissionConflictError(
        f"submission {info.name!r} version {info.version!r} is already stored with checksum "
        f"{row.checksum[:12]} (loaded from {row.source!r}); what was loaded now from "
        f"{info.source!r} has checksum {info.checksum[:12]}. A published version never "
        f"changes meaning: submit it under a new version."
    )


def _get_or_add_submission(s: Session, info: SubmissionInfo) -> tuple[Submission, bool]:
    row = s.scalars(
        select(Submission).where(Submission.name == info.name, Submission.version == info.version)
    ).one_or_none()
    if row is not None:
        if row.checksum != info.checksum:
            raise _conflict(row, info)
        return row, False
    row = Submission(
        name=info.name,
        version=info.version,
        checksum=info.checksum,
        source=info.source,
        kind=info.kind,
        privileged=info.privileged,
        n_instances=info.n_instances,
    )
    s.add(row)
    s.flush()
    return row, True


def register_submission(engine: Engine, info: SubmissionInfo) -> tuple[SubmissionRecord, bool]:
    """Store ``info`` if new. Returns ``(record, created)``.

    The same name and version with the same checksum returns the stored row
    (``created`` False); with another checksum raises :class:`SubmissionConflictError`.
    Use :func:`submissions_by_checksum` to find the same thing under other names.
    """
    for attempt in range(2):
        try:
            with Session(engine) as s, s.begin():
                row, created = _get_or_add_submission(s, info)
                return _submission_record(row), created
        except IntegrityError:  # a concurrent writer added it first: look again
            if attempt:
                raise
    raise AssertionError("unreachable")


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
    row = s.scalars(
        select(Environment).where(Environment.fingerprint == info.fingerprint)
    ).one_or_none()
    if row is None:
        row = Environment(
            family=info.family,
            split=info.split,
            env_id=info.env_id,
            version=info.version,
            fingerprint=info.fingerprint,
            spec_json=info.spec_json,
        )
        s.add(row)
        s.flush()
    return row


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
    """Store one run and all its episodes in one transaction. Returns the run id.

    Adds the submission and environment rows if new (raising
    :class:`SubmissionConflictError` if the name and version are stored with another
    checksum). The episode rows go in with one bulk insert; if anything fails, or the
    process is interrupted, nothing of the run is left behind. The run's
    ``seeds_digest`` is :func:`seeds_digest` of the seeds actually played.
    """
    if len(episodes) == 0:
        raise ValueError(f"refusing to store an empty run of {submission.name!r}")
    for attempt in range(2):
        try:
            with Session(engine) as s, s.begin():
                sub, _ = _get_or_add_submission(s, submission)
                env = _get_or_add_environment(s, environment)
                run = Run(
                    submission_id=sub.id,
                    environment_id=env.id,
                    seeds_digest=seeds_digest(np.asarray(episodes.seed).tolist()),
                    n_episodes=len(episodes),
                    n_instances=episodes.n_instances,
                    started_at=started_at,
                    duration_s=float(duration_s),
                    code_version=code_version,
                )
                s.add(run)
                s.flush()
                # Core insert on the table: one executemany, without the ORM bulk
                # path's per-row bookkeeping (which took longer than the insert).
                s.execute(insert(Episode.__table__), _episode_rows(run.id, episodes))
                return run.id
        except IntegrityError:
            # A concurrent writer may have added the same submission or environment
            # between our lookup and insert; the second attempt finds it.
            if attempt:
                raise
    raise AssertionError("unreachable")


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


def load_episodes(engine: Engine, run_id: int) -> Episodes:
    """The episodes of run ``run_id`` in the order they were stored.

    Raises:
        LookupError: no such run.
    """
    with Session(engine) as s:
        if s.get(Run, run_id) is None:
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
    instance, seed, length, termination, objectives = zip(*rows, strict=True) if rows else ([],) * 5
    parsed = json.loads("[" + ",".join(objectives) + "]")  # one parse, not one per row
    names = list(parsed[0]) if parsed else []
    return Episodes(
        instance=np.array(instance, dtype=np.int64),
        seed=np.array(seed, dtype=np.int64),
        length=np.array(length, dtype=np.int64),
        termination=np.array(termination, dtype=str),
        objectives={k: np.array([o[k] for o in parsed], dtype=float) for k in names},
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
