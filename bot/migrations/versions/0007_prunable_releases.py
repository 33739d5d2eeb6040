"""Releases can be pruned (``faqbot prune``) while the history of publishes and rollbacks keeps every row:
``release_history.index_version`` no longer references ``releases``.

Revision 0007, after 0006.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# PostgreSQL named the key itself when 0002 made it. SQLite's has no name; batch mode, which copies the table
# to drop it, names it by this convention, so that one name serves both.
FOREIGN_KEY = "release_history_index_version_fkey"
NAMING = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    with op.batch_alter_table("release_history", naming_convention=NAMING) as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")


def downgrade() -> None:
    # On PostgreSQL this fails while the history names a pruned release: publish that release again first.
    with op.batch_alter_table("release_history") as batch:
        batch.create_foreign_key(FOREIGN_KEY, "releases", ["index_version"], ["index_version"])
