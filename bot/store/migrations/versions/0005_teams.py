"""Microsoft Teams: the teams the app is installed in (service URL, tenant) and which team
each channel belongs to.

Revision ID: 0005_teams
Revises: 0004_neutral_names
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_teams"
down_revision = "0004_neutral_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_teams",
        sa.Column("group_id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("service_url", sa.Text(), nullable=False),
        sa.Column("thread_id", sa.String(128), nullable=True),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("installed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "teams_channels",
        sa.Column("channel_id", sa.String(128), primary_key=True),
        sa.Column(
            "group_id",
            sa.String(64),
            sa.ForeignKey("teams_teams.group_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(256), nullable=True),
    )
    op.create_index("ix_teams_channels_group_id", "teams_channels", ["group_id"])


def downgrade() -> None:
    op.drop_index("ix_teams_channels_group_id", table_name="teams_channels")
    op.drop_table("teams_channels")
    op.drop_table("teams_teams")
