"""An index for the thread -> question look-up of every ingest batch (posts by channel and
message id). Replies and tombstones are looked up by (channel_id, message_id), which their
unique key and primary key already index; processed events by their primary key.

Revision ID: 0008_hot_indexes
Revises: 0007_quiet
"""

from alembic import op

revision = "0008_hot_indexes"
down_revision = "0007_quiet"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_posts_channel_message", "posts", ["channel_id", "message_id"])


def downgrade() -> None:
    op.drop_index("ix_posts_channel_message", table_name="posts")
