"""Microsoft Teams facts learned from install and conversation activities.

A Teams channel cannot be posted to, read or checked without knowing its team: the connector
URL the team is served from (`serviceUrl`), the team's Entra group id (what Graph calls the
team id) and the tenant. Teams tells the bot these only in activities (installationUpdate,
conversationUpdate, messages), so they are kept here. Only `bot.platforms.teams` reads or
writes these tables; the migration is `0005_teams`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class TeamsTeam(Base):
    """A team the app was installed in (or still is: `installed`)."""

    __tablename__ = "teams_teams"

    group_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    service_url: Mapped[str] = mapped_column(Text)
    # The team's own thread id ("19:…@thread.tacv2"), also its General channel's id.
    thread_id: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(256))
    installed: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TeamsChannel(Base):
    """Which team a channel belongs to."""

    __tablename__ = "teams_channels"

    channel_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    group_id: Mapped[str] = mapped_column(
        ForeignKey("teams_teams.group_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str | None] = mapped_column(String(256))
