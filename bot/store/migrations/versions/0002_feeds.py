"""Feed tables: feeds, feed_items, feed_item_keys, feed_entries (issue 5).

Revision ID: 0002_feeds
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_feeds"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=True),
        sa.Column("publisher_is_subject", sa.Boolean(), nullable=False),
        sa.Column("from_catalogue", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("poll_interval_s", sa.Integer(), nullable=False),
        sa.Column("etag", sa.String(length=1024), nullable=True),
        sa.Column("last_modified", sa.String(length=256), nullable=True),
        sa.Column("primed", sa.Boolean(), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_notified", sa.Boolean(), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.create_index("ix_feeds_due", "feeds", ["enabled", "next_poll_at"], unique=False)
    op.create_table(
        "feed_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("published", sa.DateTime(timezone=True), nullable=True),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("question_id", sa.String(length=16), nullable=True),
        sa.Column("first_feed_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["first_feed_id"], ["feeds.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_feed_items_first_feed_id"), "feed_items", ["first_feed_id"], unique=False
    )
    op.create_index(
        op.f("ix_feed_items_first_seen_at"), "feed_items", ["first_seen_at"], unique=False
    )
    op.create_table(
        "feed_item_keys",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["feed_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_feed_item_keys_item_id"), "feed_item_keys", ["item_id"], unique=False)
    op.create_table(
        "feed_entries",
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["feed_items.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("feed_id", "item_id"),
    )
    op.create_index(op.f("ix_feed_entries_item_id"), "feed_entries", ["item_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_feed_entries_item_id"), table_name="feed_entries")
    op.drop_table("feed_entries")
    op.drop_index(op.f("ix_feed_item_keys_item_id"), table_name="feed_item_keys")
    op.drop_table("feed_item_keys")
    op.drop_index(op.f("ix_feed_items_first_seen_at"), table_name="feed_items")
    op.drop_index(op.f("ix_feed_items_first_feed_id"), table_name="feed_items")
    op.drop_table("feed_items")
    op.drop_index("ix_feeds_due", table_name="feeds")
    op.drop_table("feeds")
