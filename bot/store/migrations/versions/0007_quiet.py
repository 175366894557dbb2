"""Pre-election quiet periods.

Revision ID: 0007_quiet
Revises: 0006_console
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_quiet"
down_revision = "0006_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quiet_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("holds", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_quiet_periods_last_day", "quiet_periods", ["last_day"])


def downgrade() -> None:
    op.drop_index("ix_quiet_periods_last_day", table_name="quiet_periods")
    op.drop_table("quiet_periods")
