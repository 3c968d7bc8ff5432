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
