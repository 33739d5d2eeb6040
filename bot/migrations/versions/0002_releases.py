"""Releases kept in the database (``bot.release_store``): the files of each, which is current, what each
replica serves, and the releases replicas refused.

Revision 0002, after 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("index_version", sa.String(length=64), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("passage_count", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("index_version"),
    )
    op.create_table(
        "release_files",
        sa.Column("index_version", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["index_version"], ["releases.index_version"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("index_version", "path"),
    )
    op.create_table(
        "release_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("index_version", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["index_version"], ["releases.index_version"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "replicas",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("index_version", sa.String(length=64), nullable=False),
        sa.Column("serving_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "release_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=200), nullable=False),
        sa.Column("index_version", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_release_refusals_refused_at"), "release_refusals", ["refused_at"], unique=False)


def downgrade() -> None:
    op.drop_table("release_refusals")
    op.drop_table("replicas")
    op.drop_table("release_history")
    op.drop_table("release_files")
    op.drop_table("releases")
