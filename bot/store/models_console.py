"""The console platform's own messages and threads. Created in migration 0006_console.

The console is a chat platform like the others, and a platform keeps its messages: so that
`leaderbot digest` in another process, or `leaderbot run` after a restart, reads the same
threads (reconciliation compares the stored replies with them) and finds the latest question.
Only the console platform (`bot.platforms.console`) reads and writes this table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base


class ConsoleMessageRow(Base):
    """One message on a console channel: a post by the bot, or a line typed at the terminal."""

    __tablename__ = "console_messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "message_id", name="uq_console_messages_channel_message"),
        Index("ix_console_messages_thread", "channel_id", "thread_id"),
        Index("ix_console_messages_key", "channel_id", "outbox_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))  # "seconds.micro", Slack-like
    thread_id: Mapped[str | None] = mapped_column(String(64))  # None: a channel message
    user_id: Mapped[str | None] = mapped_column(String(64))  # None: the bot
    text: Mapped[str] = mapped_column(Text)
    outbox_key: Mapped[str | None] = mapped_column(String(255))  # what find_post looks for
    is_question: Mapped[bool] = mapped_column(Boolean, default=False)
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    posted_at: Mapped[datetime] = mapped_column()
