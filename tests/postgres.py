"""A throwaway PostgreSQL server for the tests, started and stopped by the tests themselves.

The server binaries (``initdb``, ``pg_ctl``) are looked for on ``PATH``, then in
Debian's ``/usr/lib/postgresql/<version>/bin`` (the ``postgresql`` package, which
``.ci/run`` installs). PostgreSQL refuses to run as root, so as root the server runs
as the ``postgres`` user (``runuser``), in a directory it owns. It listens on
127.0.0.1 on a free port, with password authentication (so the tests can also
check a wrong password), ``fsync`` off (nothing in it outlives the tests).

Where no server can be started, :func:`unavailable` says why, and the PostgreSQL
tests skip with that reason. ``MESABENCH_TEST_POSTGRESQL`` (a URL of an existing
server whose user may create databases) is used instead of starting one.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

URL_ENV_VAR = "MESABENCH_TEST_POSTGRESQL"
USER = "postgres"
PASSWORD = "mesabench-test-secret"


def server_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: on PATH, else the newest Debian one."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """Why no server can be started here (None when one can)."""
    if os.environ.get(URL_ENV_VAR):
        return None
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed: pip install 'mesabench[postgres]'"
    if server_binaries() is None:
        return (
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
            "/usr/lib/postgresql/*/bin: apt-get install postgresql"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            return "running as root, and there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start the server as 'postgres'"
    return None


@dataclass(frozen=True)
class Server:
    """A running server: ``url(dbname)`` is a SQLAlchemy URL of one of its databases."""

    host: str
    port: int
    user: str
    password: str

    def url(self, dbname: str, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql+psycopg://{self.user}:{secret}@{self.host}:{self.port}/{dbname}"

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database for one test (dropped afterwards): its URL."""
        from pytest_postgresql.janitor import DatabaseJanitor

        name = f"mesabench_{uuid.uuid4().hex[:12]}"
        janitor = DatabaseJanitor(
            user=self.user, host=self.host, port=self.port, password=self.password, dbname=name
        )
        with janitor:
            yield self.url(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server() -> Iterator[Server]:
    """Start a server (or use ``MESABENCH_TEST_POSTGRESQL``'s) for as long as the block."""
    given = os.environ.get(URL_ENV_VAR)
    if given:
        url = make_url(given)
        yield Server(url.host or "127.0.0.1", url.port or 5432, url.username or USER,
                     url.password or "")  # fmt: skip
        return
    binaries = server_binaries()
    assert binaries is not None, unavailable()
    as_postgres = os.geteuid() == 0
    prefix = ["runuser", "-u", USER, "--"] if as_postgres else []
    # As root, under /tmp (whatever TMPDIR says): the postgres user must reach it.
    with tempfile.TemporaryDirectory(
        prefix="mesabench-pg-", dir="/tmp" if as_postgres else None
    ) as tmp:
        root = Path(tmp)
        data, log, secret = root / "data", root / "server.log", root / "password"
        secret.write_text(PASSWORD + "\n")
        if as_postgres:
            entry = pwd.getpwnam(USER)
            os.chown(root, entry.pw_uid, entry.pw_gid)
            os.chown(secret, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", USER, "-E", "UTF8",
             "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={secret}",
             "--no-sync"],
            check=True, capture_output=True, cwd=root,
        )  # fmt: skip
        port = _free_port()
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        started = subprocess.run(
            [*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
             "-w", "-t", "60", "start"],
            capture_output=True, text=True, cwd=root,
        )  # fmt: skip
        if started.returncode != 0:
            logged = log.read_text() if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{logged}")
        try:
            yield Server("127.0.0.1", port, USER, PASSWORD)
        finally:
            subprocess.run(
                [*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True, cwd=root,
            )  # fmt: skip
