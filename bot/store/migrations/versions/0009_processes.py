"""Live processes and their heartbeats: a post claimed by a process that has died is taken
over within seconds, not when its send lease runs out.

Revision ID: 0009_processes
Revises: 0008_hot_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_processes"
down_revision = "0008_hot_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processes",
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("processes")
