"""The questions whose answers visitors rated not helpful, redacted, beside the answer's id.

Revision 0006, after 0005.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unhelpful_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.String(length=200), nullable=False),
        sa.Column("group_key", sa.String(length=400), nullable=False),
        sa.Column("text", sa.String(length=600), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_unhelpful_questions_answer_id", "unhelpful_questions", ["answer_id"])
    op.create_index("ix_unhelpful_questions_asked_at", "unhelpful_questions", ["asked_at"])


def downgrade() -> None:
    op.drop_index("ix_unhelpful_questions_asked_at", table_name="unhelpful_questions")
    op.drop_index("ix_unhelpful_questions_answer_id", table_name="unhelpful_questions")
    op.drop_table("unhelpful_questions")
