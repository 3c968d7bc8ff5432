"""Alembic's environment: migrations run on the connection
:func:`benchmark.store.storage.upgrade` passes in (already in a transaction, holding the
schema lock), never from a URL in a file."""

from alembic import context

from benchmark.store.storage import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "MesaBench's migrations run through `mesabench db upgrade` "
        "(benchmark.store.storage.upgrade)"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite alters a table by copying it; Alembic's batch mode does that.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
