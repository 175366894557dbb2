"""The console platform: posts print to the terminal, typed lines become thread replies.

Behind the same port as Slack (like Errbot's text backend or Hubot's shell adapter), so
everything the bot does can be tried with no chat workspace.

Like any chat platform, the console keeps its messages: with a database (`db=`, as
`leaderbot run` and every CLI command open it) they live in the `console_messages` table, so
`leaderbot digest` in another process reads the same threads, and a restart still knows the
latest question. Without one (unit tests, benchmarks) they live in memory, in `messages`.
Either way `messages` also holds what this instance posted or was typed into it, in order:
the session's transcript.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.domain.content import (
    Content,
    DigestPost,
    FileUpload,
    QuestionPost,
    ThreadMessage,
    UserInfo,
)
from bot.platforms.console.render import render_text
from bot.port import ChatPlatform, PermanentFailure, Sent, StillOurs
from bot.store.models_console import ConsoleMessageRow

if TYPE_CHECKING:
    from bot.store.db import Database

CONSOLE_CHANNEL = "console"
ID_TRIES = 20  # another process took the same microsecond: step on and try again


@dataclass
class ConsoleMessage:
    message_id: str
    user_id: str | None
    text: str
    key: str | None = None
    thread_id: str | None = None
    is_question: bool = False
    is_bot: bool = False
    edited: bool = False
    files: list[FileUpload] = field(default_factory=list)

    @property
    def posted_at(self) -> datetime:
        return datetime.fromtimestamp(float(self.message_id), UTC)  # our own "seconds.micro"


def _message(row: ConsoleMessageRow) -> ConsoleMessage:
    return ConsoleMessage(
        message_id=row.message_id,
        user_id=row.user_id,
        text=row.text,
        key=row.outbox_key,
        thread_id=row.thread_id,
        is_question=row.is_question,
        is_bot=row.is_bot,
        edited=row.edited,
    )


def _thread_message(m: ConsoleMessage) -> ThreadMessage:
    return ThreadMessage(
        message_id=m.message_id,
        user_id=m.user_id,
        text=m.text,
        edited=m.edited,
        is_bot=m.is_bot,
        posted_at=m.posted_at,
    )


def _micros(message_id: str) -> int:
    seconds, _, micros = message_id.partition(".")
    return int(seconds) * 1_000_000 + int(micros or 0)


class ConsolePlatform(ChatPlatform):
    name = "console"

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        user: str | None = None,
        names: dict[str, str] | None = None,
        db: Database | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.user = user or _login_name()
        self.names = dict(names or {})
        self.db = db
        self.messages: dict[str, list[ConsoleMessage]] = {}
        self._last_micros = 0

    def _next_id(self) -> str:
        # Slack-like "seconds.micro" from the wall clock, strictly increasing in this process.
        micros = max(int(datetime.now(UTC).timestamp() * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _print(self, text: str) -> None:
        self.out.write(text.rstrip() + "\n")
        self.out.flush()

    async def _add(self, channel_id: str, message: ConsoleMessage) -> ConsoleMessage:
        """Keep a new message: in the database when there is one (under a fresh id if another
        process took this one), and in this session's transcript."""
        if self.db is not None:
            for _ in range(ID_TRIES):
                try:
                    async with self.db.write() as session:
                        session.add(
                            ConsoleMessageRow(
                                channel_id=channel_id,
                                message_id=message.message_id,
                                thread_id=message.thread_id,
                                user_id=message.user_id,
                                text=message.text,
                                outbox_key=message.key,
                                is_question=message.is_question,
                                is_bot=message.is_bot,
                                edited=message.edited,
                                posted_at=message.posted_at,
                            )
                        )
                    break
                except IntegrityError:
                    message.message_id = self._next_id()
            else:
                raise PermanentFailure("could not store a console message")
        self.messages.setdefault(channel_id, []).append(message)
        return message

    async def _channel_messages(
        self, channel_id: str, *, thread_id: str | None = None, key: str | None = None
    ) -> list[ConsoleMessage]:
        """The channel's messages in order (those of one thread, or with one key, if asked)."""
        if self.db is None:
            found = self.messages.get(channel_id, [])
            if thread_id is not None:
                found = [m for m in found if thread_id in (m.thread_id, m.message_id)]
            if key is not None:
                found = [m for m in found if m.key == key]
            return sorted(found, key=lambda m: _micros(m.message_id))
        query = select(ConsoleMessageRow).where(ConsoleMessageRow.channel_id == channel_id)
        if thread_id is not None:
            query = query.where(
                (ConsoleMessageRow.thread_id == thread_id)
                | (ConsoleMessageRow.message_id == thread_id)
            )
        if key is not None:
            query = query.where(ConsoleMessageRow.outbox_key == key)
        async with self.db.read() as session:
            rows = (
                await session.scalars(
                    query.order_by(ConsoleMessageRow.posted_at, ConsoleMessageRow.id)
                )
            ).all()
        return [_message(row) for row in rows]

    async def post(
        self,
        channel_id: str,
        content: Content,
        *,
        key: str,
        thread_id: str | None = None,
        still_ours: StillOurs | None = None,  # one message at a time here: nothing to ask
    ) -> Sent:
        await self.ensure_channel(channel_id)  # a blank name is no channel
        text = render_text(content)
        message = await self._add(
            channel_id,
            ConsoleMessage(
                message_id=self._next_id(),
                user_id=None,
                text=text,
                key=key,
                thread_id=thread_id,
                is_question=isinstance(content, QuestionPost),
                is_bot=True,
            ),
        )
        where = f"#{channel_id}" + (" (in thread)" if thread_id else "")
        self._print(f"\n── leaderbot → {where} ──\n{text}\n")
        if isinstance(content, DigestPost):
            chart = FileUpload("participation.png", content.chart_png, content.chart_alt)
            await self.upload(channel_id, chart, thread_id=message.message_id)
        return Sent(channel_id=channel_id, message_id=message.message_id)

    async def find_post(
        self, channel_id: str, key: str, since: datetime, *, thread_id: str | None = None
    ) -> Sent | None:
        for message in await self._channel_messages(channel_id, key=key):
            if thread_id is None or message.thread_id == thread_id:
                return Sent(channel_id=channel_id, message_id=message.message_id)
        return None

    async def fetch_thread(self, channel_id: str, thread_id: str) -> list[ThreadMessage]:
        messages = await self._channel_messages(channel_id, thread_id=thread_id)
        if not messages:
            # Never an empty list for a thread we cannot see (posted before the console kept
            # its messages, or by a process with another database): reconciliation would
            # take that for "every reply was deleted".
            raise PermanentFailure(f"no thread {thread_id} in console channel {channel_id}")
        return [_thread_message(m) for m in messages if m.message_id != thread_id]

    async def user_info(self, user_id: str, *, channel_id: str | None = None) -> UserInfo:
        # The person at the terminal runs the bot: treat them as its admin.
        name = self.names.get(user_id, user_id)
        return UserInfo(id=user_id, display_name=name, is_admin=user_id == self.user)

    async def member_count(self, channel_id: str) -> int | None:
        if self.db is None:
            people = {
                m.user_id for m in self.messages.get(channel_id, []) if m.user_id and not m.is_bot
            }
            return len(people) or None
        async with self.db.read() as session:
            count = await session.scalar(
                select(func.count(func.distinct(ConsoleMessageRow.user_id))).where(
                    ConsoleMessageRow.channel_id == channel_id,
                    ConsoleMessageRow.user_id.is_not(None),
                    ConsoleMessageRow.is_bot.is_(False),
                )
            )
        return int(count or 0) or None

    async def upload(self, channel_id: str, upload: FileUpload, *, thread_id: str | None) -> None:
        await self._add(
            channel_id,
            ConsoleMessage(
                message_id=self._next_id(),
                user_id=None,
                text=upload.title,
                thread_id=thread_id,
                is_bot=True,
                files=[upload],
            ),
        )
        self._print(f"[file {upload.filename}: {upload.title}, {len(upload.data):,} bytes]")

    def owns(self, channel_id: str) -> bool:
        return True  # the console runs alone: any word names one of its channels

    async def ensure_channel(self, channel_id: str) -> None:
        if not channel_id.strip():
            raise PermanentFailure("a console channel needs a name")

    # Console-only: what the input loop (and the demo) use.

    async def latest_question(self, channel_id: str = CONSOLE_CHANNEL) -> ConsoleMessage | None:
        if self.db is None:
            questions = [m for m in self.messages.get(channel_id, []) if m.is_question]
            return max(questions, key=lambda m: _micros(m.message_id)) if questions else None
        async with self.db.read() as session:
            row = await session.scalar(
                select(ConsoleMessageRow)
                .where(
                    ConsoleMessageRow.channel_id == channel_id,
                    ConsoleMessageRow.is_question.is_(True),
                )
                .order_by(ConsoleMessageRow.posted_at.desc(), ConsoleMessageRow.id.desc())
                .limit(1)
            )
        return None if row is None else _message(row)

    async def add_reply(
        self, channel_id: str, thread_id: str, user_id: str, text: str
    ) -> ConsoleMessage:
        return await self._add(
            channel_id,
            ConsoleMessage(
                message_id=self._next_id(), user_id=user_id, text=text, thread_id=thread_id
            ),
        )

    async def edit_reply(self, channel_id: str, message_id: str, text: str) -> None:
        """A person edits their message: the whole new text."""
        if self.db is not None:
            async with self.db.write() as session:
                await session.execute(
                    update(ConsoleMessageRow)
                    .where(
                        ConsoleMessageRow.channel_id == channel_id,
                        ConsoleMessageRow.message_id == message_id,
                    )
                    .values(text=text, edited=True)
                )
        for message in self.messages.get(channel_id, []):
            if message.message_id == message_id:
                message.text, message.edited = text, True

    async def delete_reply(self, channel_id: str, message_id: str) -> None:
        """A person deletes their message."""
        if self.db is not None:
            async with self.db.write() as session:
                await session.execute(
                    delete(ConsoleMessageRow).where(
                        ConsoleMessageRow.channel_id == channel_id,
                        ConsoleMessageRow.message_id == message_id,
                    )
                )
        kept = [m for m in self.messages.get(channel_id, []) if m.message_id != message_id]
        self.messages[channel_id] = kept


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"
