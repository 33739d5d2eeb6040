"""The database schema and its migrations (Alembic, in ``bot/migrations``).

Every table the service keeps is declared on ``metadata`` here, in the module that uses it
(``bot.storage``, ``bot.questionlog``, ``bot.release_store``), and created only by a migration. An
SQLite file is brought up to date on first use, so one machine needs no set-up. A shared database
(PostgreSQL) is migrated by the operator with ``faqbot migrate``, once per release of the code; a
replica checks at start that the schema is not older than its code and refuses to start if it is.

A new table or column needs a revision in ``bot/migrations/versions/`` (write it by hand, or let
Alembic draft it: ``alembic -c bot/migrations/alembic.ini revision --autogenerate -m "..."``); a
test compares the migrated schema with ``metadata``, so a change without one fails.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

metadata = sa.MetaData()
MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"  # the tables that existed before migrations: a file made then is adopted at this revision
log = logging.getLogger("bot.schema")


def declared() -> sa.MetaData:
    """``metadata`` with every table the code declares: the modules that declare them, imported."""
    import bot.questionlog
    import bot.release_store
    import bot.storage  # noqa: F401

    return metadata


class SchemaOutdated(Exception):
    """The database's schema is older than this code; the message says what to run."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _adopt(connection: sa.Connection) -> None:
    """A database made before migrations (tables, no revision) is marked as the baseline, once."""
    if current(connection) is None and sa.inspect(connection).has_table("feedback"):
        command.stamp(alembic_config(connection), BASELINE)
        log.info("adopted a database made before migrations at revision %s", BASELINE)


def migrate(engine: sa.Engine) -> tuple[str | None, str]:
    """Bring the schema up to date; returns the revision before and after."""
    with engine.begin() as connection:
        _adopt(connection)
        before = current(connection)
        command.upgrade(alembic_config(connection), "head")
        return before, current(connection) or ""


def check(engine: sa.Engine) -> None:
    """Raise ``SchemaOutdated`` unless the schema is at this code's revision (or a later one)."""
    with engine.connect() as connection:
        revision = current(connection)
    expected = head()
    if revision == expected:
        return
    known = {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision is not None and revision not in known:
        log.warning("the database schema is at revision %s, newer than this code (%s)", revision, expected)
        return
    where = f"at revision {revision}" if revision else "empty"
    raise SchemaOutdated(
        f"the database schema is {where}, older than this code needs ({expected}): run 'faqbot migrate'"
    )


def prepare(engine: sa.Engine) -> None:
    """At start: an SQLite file is migrated in place; any other database is only checked."""
    if engine.dialect.name == "sqlite":
        migrate(engine)
    else:
        check(engine)
