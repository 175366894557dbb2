"""Platform-neutral column names (a message id, a thread id, a link, a workspace), and when a
reply was last edited.

Revision ID: 0004_neutral_names
Revises: 0003_erasure

RENAME COLUMN works on SQLite (3.25+) and PostgreSQL alike, and indexes and constraints follow
the column, so no table is rebuilt.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_neutral_names"
down_revision = "0003_erasure"
branch_labels = None
depends_on = None

RENAMES = [
    ("channels", "team_id", "workspace_id"),
    ("posts", "ts", "message_id"),
    ("posts", "thread_ts", "thread_id"),
    ("posts", "permalink", "link"),
    ("replies", "team_id", "workspace_id"),
    ("replies", "ts", "message_id"),
    ("replies", "thread_ts", "thread_id"),
    ("reply_tombstones", "ts", "message_id"),
    ("chat_users", "team_id", "workspace_id"),
]


def upgrade() -> None:
    for table, old, new in RENAMES:
        op.execute(f'ALTER TABLE {table} RENAME COLUMN "{old}" TO "{new}"')
    # When the platform says the reply was last edited: a late edit never overwrites a newer one.
    op.add_column("replies", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("replies", "edited_at")
    for table, old, new in reversed(RENAMES):
        op.execute(f'ALTER TABLE {table} RENAME COLUMN "{new}" TO "{old}"')
