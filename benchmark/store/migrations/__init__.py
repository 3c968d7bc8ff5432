"""Alembic migrations of MesaBench's schema (run by :func:`benchmark.store.storage.upgrade`)."""
