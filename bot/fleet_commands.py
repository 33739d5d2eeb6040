"""The operators' commands for a fleet: ``migrate`` the shared database. ``bot.cli`` registers them."""

from __future__ import annotations

import sqlalchemy as sa
import typer
from sqlalchemy.exc import SQLAlchemyError

from bot.schema import SchemaOutdated, prepare
from bot.schema import migrate as upgrade
from bot.settings import Settings
from bot.storage import create_engine


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def unreachable(engine: sa.Engine, error: SQLAlchemyError) -> str:
    """A database error in one line: which database, and the driver's first line."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return f"cannot use the database {engine.url.render_as_string(hide_password=True)}: {reason}"


def check_database(settings: Settings) -> None:
    """Before serving: the schema must be this code's (an SQLite file is migrated in place)."""
    engine = create_engine(settings.database)
    try:
        prepare(engine)
    except SchemaOutdated as error:
        raise _fail(str(error)) from error
    except SQLAlchemyError as error:
        raise _fail(unreachable(engine, error)) from error
    finally:
        engine.dispose()


def migrate() -> None:
    """Bring the database's schema (FAQBOT_DATABASE) up to this code's; run once per new version of the code."""
    engine = create_engine(Settings().database)
    try:
        before, after = upgrade(engine)
    except SQLAlchemyError as error:
        raise _fail(unreachable(engine, error)) from error
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        typer.echo(f"{where} is up to date (revision {after})")
    else:
        typer.echo(f"{where} migrated from {'an empty schema' if before is None else 'revision ' + before} to {after}")
