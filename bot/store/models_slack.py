"""Slack installations (many workspaces, OAuth distribution) and the install flow's states.

Tokens are stored encrypted (bot.store.token_cipher): the `*_enc` columns hold Fernet tokens,
never a Slack token in clear. Only `bot.platforms.slack` reads or writes these tables, and an
uninstall purges a workspace's row (bot.services.privacy); the migration is `0010_installations`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class SlackInstallation(Base):
    """The app installed in one workspace: its bot, and the (encrypted) bot token."""

    __tablename__ = "slack_installations"

    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_name: Mapped[str | None] = mapped_column(String(256))
    enterprise_id: Mapped[str | None] = mapped_column(String(64))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    app_id: Mapped[str | None] = mapped_column(String(64))
    bot_id: Mapped[str | None] = mapped_column(String(64))
    bot_user_id: Mapped[str | None] = mapped_column(String(64))
    bot_scopes: Mapped[str | None] = mapped_column(Text)
    bot_token_enc: Mapped[str] = mapped_column(Text)
    bot_refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    # When the bot token expires (token rotation on); None: it does not.
    bot_token_expires_at: Mapped[datetime | None] = mapped_column()
    installer_user_id: Mapped[str | None] = mapped_column(String(64))
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SlackOAuthState(Base):
    """A state issued by `GET /slack/install`, until the redirect consumes it (once)."""

    __tablename__ = "slack_oauth_states"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
