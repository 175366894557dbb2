"""Each channel's language: what the bot writes there ("en", "cy" or "both").

Revision ID: 0011_language
Revises: 0010_installations
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_language"
down_revision = "0010_installations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=False, server_default="en"))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("language")
