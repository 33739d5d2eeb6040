"""Alembic's entry point: runs the revisions on the connection ``bot.schema`` hands over, or, from
Alembic's own command line, on ``FAQBOT_DATABASE``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from bot.schema import declared


def run(connection: sa.Connection) -> None:
    # Batch mode lets a later revision alter a column on SQLite, which cannot ALTER in place.
    context.configure(connection=connection, target_metadata=declared(), render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


given: sa.Connection | None = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    from bot.settings import Settings
    from bot.storage import database_url

    engine = sa.create_engine(database_url(Settings().database))
    with engine.begin() as connection:
        run(connection)
    engine.dispose()
