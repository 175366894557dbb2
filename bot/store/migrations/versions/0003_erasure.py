"""Erasure that stays done: erased_users, and reply_tombstones for deleted messages.

Revision ID: 0003_erasure
Revises: 0002_feeds
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_erasure"
down_revision = "0002_feeds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "reply_tombstones",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.String(length=64), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "ts"),
    )
    op.create_index(
        op.f("ix_reply_tombstones_deleted_at"), "reply_tombstones", ["deleted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_reply_tombstones_deleted_at"), table_name="reply_tombstones")
    op.drop_table("reply_tombstones")
    op.drop_table("erased_users")
