"""Many Slack workspaces: installations (tokens encrypted), the install flow's states, and
the workspace of each bot admin and audit entry.

Revision ID: 0010_installations
Revises: 0009_processes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_installations"
down_revision = "0009_processes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_installations",
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("team_name", sa.String(256), nullable=True),
        sa.Column("enterprise_id", sa.String(64), nullable=True),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("app_id", sa.String(64), nullable=True),
        sa.Column("bot_id", sa.String(64), nullable=True),
        sa.Column("bot_user_id", sa.String(64), nullable=True),
        sa.Column("bot_scopes", sa.Text(), nullable=True),
        sa.Column("bot_token_enc", sa.Text(), nullable=False),
        sa.Column("bot_refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("bot_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("installer_user_id", sa.String(64), nullable=True),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_slack_oauth_states_expires_at", "slack_oauth_states", ["expires_at"])
    op.add_column("bot_admins", sa.Column("workspace_id", sa.String(64), nullable=True))
    op.create_index("ix_bot_admins_workspace_id", "bot_admins", ["workspace_id"])
    op.add_column("audit_log", sa.Column("workspace_id", sa.String(64), nullable=True))
    op.create_index("ix_audit_log_workspace_id", "audit_log", ["workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_workspace_id", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("workspace_id")
    op.drop_index("ix_bot_admins_workspace_id", table_name="bot_admins")
    with op.batch_alter_table("bot_admins") as batch:
        batch.drop_column("workspace_id")
    op.drop_index("ix_slack_oauth_states_expires_at", table_name="slack_oauth_states")
    op.drop_table("slack_oauth_states")
    op.drop_table("slack_installations")
