"""Session-wide test settings."""

import os
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _never_the_repository_database():
    """Point the default database at a throwaway file: tests never write results.db.

    Tests that need a database make their own; this only catches one that forgot.
    """
    with tempfile.TemporaryDirectory() as tmp:
        previous = os.environ.get("MESABENCH_DB")
        os.environ["MESABENCH_DB"] = f"sqlite:///{Path(tmp) / 'default.db'}"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("MESABENCH_DB", None)
            else:
                os.environ["MESABENCH_DB"] = previous


# ------------------------------------------------------------------- database backends

#: The backends the storage and end-to-end tests run on (``db_url``).
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgresql_server():
    """A PostgreSQL server started for this test session (one per xdist worker); the
    test skips, saying why, where none can be started."""
    import postgres

    reason = postgres.unavailable()
    if reason is not None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    with postgres.running_server() as server:
        yield server


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path: Path):
    """The URL of a new, empty database: a SQLite file, or a database of the session's
    PostgreSQL server (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server = request.getfixturevalue("postgresql_server")
    with server.database() as url:
        yield url
