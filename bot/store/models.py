"""The core tables: channels, schedules, the post outbox, replies, users, admins, audit.

Feed tables live in `models_feeds.py`. Every table is created by an Alembic migration in
`migrations/versions/`; keep the two in step.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Channel(Base):
    """A conversation the bot serves (a Slack channel, the console, a Teams channel)."""

    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    alerts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the bot writes here: "en", "cy" or "both" (bot.domain.language).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")


class Schedule(Base):
    """A weekly occurrence in a channel: the question (kind='question') or its digest."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("channel_id", "kind", name="uq_schedule_channel_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "question" | "digest"
    weekday: Mapped[int] = mapped_column(Integer)  # Monday = 0
    time: Mapped[str] = mapped_column(String(5))  # "HH:MM", wall clock in `timezone`
    timezone: Mapped[str] = mapped_column(String(64))
    nation: Mapped[str] = mapped_column(String(32), default="england-and-wales")
    holiday_policy: Mapped[str] = mapped_column(String(8), default="move")  # move | skip
    paused_until: Mapped[date | None] = mapped_column(Date)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Digest only: where the digest goes (None = the schedule's own channel).
    target_channel_id: Mapped[str | None] = mapped_column(String(64))
    # Question only: days without replies before one gentle nudge (None = off).
    nudge_after_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Post(Base):
    """The outbox: every post is recorded here, under a unique key, before it is sent.

    The unique key is what makes a post happen at most once: a second scheduler, a retry or a
    restart finds the row and never inserts another. Status moves pending -> sending -> sent
    (or missed / skipped / failed); `lease_until` lets a crashed sender's row be reclaimed.
    """

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_status_due", "status", "due_at"),
        Index("ix_posts_channel_kind", "channel_id", "kind"),
        # A reply's thread -> its question, once per ingest batch.
        Index("ix_posts_channel_message", "channel_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # question | digest | nudge | alert
    channel_id: Mapped[str] = mapped_column(String(64))
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    question_id: Mapped[str | None] = mapped_column(String(16))
    # The nominal occurrence (before any bank-holiday move) and when it is actually due.
    occurrence: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column()
    # Not before this (a rate limit or a failed attempt's backoff); None = as soon as due.
    retry_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    # Where it went: the platform's message id, and the thread it was posted in, if any.
    message_id: Mapped[str | None] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    link: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class Reply(Base):
    """A reply in a question's thread. Deleting the message deletes the row."""

    __tablename__ = "replies"
    # The unique key is also the index of the ingest look-ups: always query by channel_id
    # and message_id together (message_id alone would scan the table).
    __table_args__ = (UniqueConstraint("channel_id", "message_id", name="uq_reply_channel_ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(String(64))
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the platform says it was last edited (None: unknown, or never edited).
    edited_at: Mapped[datetime | None] = mapped_column()
    posted_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReplyTombstone(Base):
    """A deleted message, remembered so that a late copy of it (a retried or replayed event,
    a reconciliation that read the thread before the deletion) is not stored again.

    It holds the message's address and when it went, nothing of what it said or who said it.
    Kept for `collect.TOMBSTONE_MEMORY`, then pruned by the retention job.
    """

    __tablename__ = "reply_tombstones"

    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ErasedUser(Base):
    """A user erased with `leaderbot forget --user`: their messages are never stored again,
    whether they come from events or from reconciling a thread (which still holds them).
    Kept for good; it is the record that the erasure must stay done."""

    __tablename__ = "erased_users"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """Event ids already handled, so Slack's retries and replays are stored once."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ChatUser(Base):
    """A cache of what the platform says about a user: display name and admin standing."""

    __tablename__ = "chat_users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[str | None] = mapped_column(String(64), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    is_guest: Mapped[bool] = mapped_column(Boolean, default=False)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class BotAdmin(Base):
    """Users added with `/leadership admins add`, besides workspace admins and LEADERBOT_ADMINS."""

    __tablename__ = "bot_admins"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The workspace they administer (None: added from the CLI or the console).
    workspace_id: Mapped[str | None] = mapped_column(String(64), index=True)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Every change an admin makes: who, what, when, before -> after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    # The workspace the change was made from or in (None: the CLI, the console): what a
    # workspace's admins may see, and what its uninstall purges.
    workspace_id: Mapped[str | None] = mapped_column(String(64), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()


class QuietPeriodRow(Base):
    """A pre-election quiet period (bot.domain.quiet): what it holds, where, from when to when."""

    __tablename__ = "quiet_periods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date, index=True)
    channel_id: Mapped[str | None] = mapped_column(String(64))  # None: every channel
    holds: Mapped[str] = mapped_column(String(64))  # "questions,digests,alerts"
    reason: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessRow(Base):
    """A live bot process (`leaderbot run`, a CLI command), by the outbox's owner id
    (host:pid:uuid, the prefix of every claim token it makes). It beats `heartbeat_at` every
    few seconds and sets `stopped_at` when it stops cleanly: a `sending` post claimed by a
    process whose beat has gone stale (dead, or stopped) is taken over without waiting for
    its lease. A process with no row here is unknown, and its claims keep their lease."""

    __tablename__ = "processes"

    owner: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[datetime] = mapped_column()
    heartbeat_at: Mapped[datetime] = mapped_column()
    stopped_at: Mapped[datetime | None] = mapped_column()
