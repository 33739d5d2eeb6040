"""Alembic's migration scripts for ``bot.schema``: ``env.py`` and the revisions in ``versions/``."""
