"""The console platform's messages and threads, so every process (and a restart) sees them.

Revision ID: 0006_console
Revises: 0005_teams
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_console"
down_revision = "0005_teams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("outbox_key", sa.String(length=255), nullable=True),
        sa.Column("is_question", sa.Boolean(), nullable=False),
        sa.Column("is_bot", sa.Boolean(), nullable=False),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id", "message_id", name="uq_console_messages_channel_message"),
    )
    op.create_index("ix_console_messages_thread", "console_messages", ["channel_id", "thread_id"])
    op.create_index("ix_console_messages_key", "console_messages", ["channel_id", "outbox_key"])


def downgrade() -> None:
    op.drop_index("ix_console_messages_key", table_name="console_messages")
    op.drop_index("ix_console_messages_thread", table_name="console_messages")
    op.drop_table("console_messages")
