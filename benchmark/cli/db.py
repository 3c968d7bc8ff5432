"""``mesabench db``: bring a database's schema up to date, copy one database into another
(registered on :data:`benchmark.cli.app.app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from benchmark.cli.app import DbOption, app, console, engine_for, usage_error, writable
from benchmark.store import storage

db_app = typer.Typer(
    help="The database itself: upgrade its schema, copy it to another database.",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Bring the database's schema up to date, in place and in one transaction.

    Commands that store runs do this themselves; commands that only read refuse an
    older schema and say to run this. A database of another application gets
    MesaBench's tables beside its own; a SQLite file that does not exist is not created.
    """
    url = storage.as_url(db) if db else storage.default_url()
    if url.startswith("sqlite"):
        path = storage.make_url(url).database
        if path and path != ":memory:" and not Path(path).is_file():
            raise usage_error(f"no database at {path}: nothing to upgrade")
    try:
        engine = storage.open_engine(url)
        before, after = storage.upgrade(engine)
    except (storage.DatabaseDriverError, storage.NoDatabaseError) as error:
        raise usage_error(str(error)) from None
    except OperationalError as error:
        cause = getattr(error, "orig", None) or error
        raise usage_error(f"cannot upgrade {storage.display_url(url)}: {cause}") from None
    shown = storage.display_url(url)
    if before == after:
        console.print(f"{shown}: schema {after}, up to date")
    elif before is None:
        console.print(f"{shown}: created MesaBench's tables (schema {after})")
    else:
        console.print(f"{shown}: upgraded schema {before} -> {after}")


@db_app.command("copy")
def db_copy(
    source: Annotated[str, typer.Argument(help="Database to copy from: a URL or a SQLite file.")],
    destination: Annotated[
        str, typer.Argument(help="Database to copy into (created or upgraded): a URL or a file.")
    ],
) -> None:
    """Copy every submission, run and episode from SOURCE into DESTINATION, keeping names,
    versions and checksums (e.g. the committed results.db into a shared PostgreSQL).

    One transaction: a conflict (the same name and version with another checksum in
    DESTINATION, or a corrupt run in SOURCE) copies nothing and exits 2. What
    DESTINATION already holds is merged: the same submission version is re-used, and a
    run it already has is not copied again.
    """
    src = engine_for(storage.as_url(source), create=False)
    dst = writable(engine_for(storage.as_url(destination)))
    try:
        report = storage.copy_database(src, dst)
    except storage.CopyConflictError as error:
        raise usage_error(str(error)) from None
    console.print(
        f"copied {report.runs} runs ({report.episodes} episodes), {report.submissions} "
        f"submissions and {report.environments} environments into "
        f"{storage.display_url(storage.as_url(destination))}"
        + (f"; {report.runs_already_there} runs were there already" if report.runs_already_there
           else "")
    )  # fmt: skip
