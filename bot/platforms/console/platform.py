"""The console platform: posts print to the terminal, typed lines become thread replies.

Behind the same port as Slack (like Errbot's text backend or Hubot's shell adapter), so
everything the bot does can be tried with no chat workspace.
"""

from __future__ import annotations

import getpass
import itertools
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

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

CONSOLE_CHANNEL = "console"


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
        return datetime.fromtimestamp(float(self.message_id), UTC)  # our own "seconds.seq"


class ConsolePlatform(ChatPlatform):
    name = "console"

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        user: str | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.user = user or _login_name()
        self.names = dict(names or {})
        self.messages: dict[str, list[ConsoleMessage]] = {}
        self._seq = itertools.count(1)

    def _next_ts(self) -> str:
        # Slack-like "seconds.micro" ts, strictly increasing even within one microsecond.
        now = datetime.now(UTC).timestamp()
        return f"{int(now)}.{next(self._seq):06d}"

    def _print(self, text: str) -> None:
        self.out.write(text.rstrip() + "\n")
        self.out.flush()

    async def post(
        self,
        channel_id: str,
        content: Content,
        *,
        key: str,
        thread_id: str | None = None,
        still_ours: StillOurs | None = None,  # one message at a time here: nothing to ask
    ) -> Sent:
        text = render_text(content)
        message = ConsoleMessage(
            message_id=self._next_ts(),
            user_id=None,
            text=text,
            key=key,
            thread_id=thread_id,
            is_question=isinstance(content, QuestionPost),
            is_bot=True,
        )
        self.messages.setdefault(channel_id, []).append(message)
        where = f"#{channel_id}" + (" (in thread)" if thread_id else "")
        self._print(f"\n── leaderbot → {where} ──\n{text}\n")
        if isinstance(content, DigestPost):
            chart = FileUpload("participation.png", content.chart_png, content.chart_alt)
            await self.upload(channel_id, chart, thread_id=message.message_id)
        return Sent(channel_id=channel_id, message_id=message.message_id)

    async def find_post(
        self, channel_id: str, key: str, since: datetime, *, thread_id: str | None = None
    ) -> Sent | None:
        for message in self.messages.get(channel_id, []):
            if message.key == key and (thread_id is None or message.thread_id == thread_id):
                return Sent(channel_id=channel_id, message_id=message.message_id)
        return None

    async def fetch_thread(self, channel_id: str, thread_id: str) -> list[ThreadMessage]:
        return [
            ThreadMessage(
                message_id=m.message_id,
                user_id=m.user_id,
                text=m.text,
                edited=m.edited,
                is_bot=m.is_bot,
                posted_at=m.posted_at,
            )
            for m in self.messages.get(channel_id, [])
            if m.thread_id == thread_id and m.message_id != thread_id
        ]

    async def user_info(self, user_id: str, *, channel_id: str | None = None) -> UserInfo:
        # The person at the terminal runs the bot: treat them as its admin.
        name = self.names.get(user_id, user_id)
        return UserInfo(id=user_id, display_name=name, is_admin=user_id == self.user)

    async def member_count(self, channel_id: str) -> int | None:
        people = {
            m.user_id for m in self.messages.get(channel_id, []) if m.user_id and not m.is_bot
        }
        return len(people) or None

    async def upload(self, channel_id: str, upload: FileUpload, *, thread_id: str | None) -> None:
        message = ConsoleMessage(
            message_id=self._next_ts(),
            user_id=None,
            text=upload.title,
            thread_id=thread_id,
            is_bot=True,
            files=[upload],
        )
        self.messages.setdefault(channel_id, []).append(message)
        self._print(f"[file {upload.filename}: {upload.title}, {len(upload.data):,} bytes]")

    def owns(self, channel_id: str) -> bool:
        return True  # the console runs alone: any word names one of its channels

    async def ensure_channel(self, channel_id: str) -> None:
        if not channel_id.strip():
            raise PermanentFailure("a console channel needs a name")

    # Console-only: what the input loop uses.

    def latest_question(self, channel_id: str = CONSOLE_CHANNEL) -> ConsoleMessage | None:
        questions = [m for m in self.messages.get(channel_id, []) if m.is_question]
        return questions[-1] if questions else None

    def add_reply(self, channel_id: str, thread_id: str, user_id: str, text: str) -> ConsoleMessage:
        message = ConsoleMessage(
            message_id=self._next_ts(), user_id=user_id, text=text, thread_id=thread_id
        )
        self.messages.setdefault(channel_id, []).append(message)
        return message


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "you"
