"""Storage: the results database (SQLite by default, PostgreSQL as a shared store).

Keeps the submissions and the raw per-episode results of every run that
``benchmark.evaluate`` produces, versions its schema, and exports it; scores are
derived from it on reading (``benchmark.score``). Modules:

* ``storage``: the SQLAlchemy ORM: tables, engines, claims, idempotent writes, schema upgrade;
* ``export``: every stored run and its scores as JSON or CSV;
* ``migrations/``: the Alembic migrations of the schema (run by ``storage.upgrade``).
"""
