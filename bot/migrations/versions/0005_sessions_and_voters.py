"""Editors' sessions kept in the database, and one vote per answer and voter.

Revision 0005, after 0004.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_admin_sessions_expires_at"), "admin_sessions", ["expires_at"], unique=False)
    op.add_column("feedback", sa.Column("voter", sa.String(length=64), nullable=True))
    op.create_index("ix_feedback_answer_voter", "feedback", ["answer_id", "voter"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_feedback_answer_voter", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("voter")
    op.drop_table("admin_sessions")
