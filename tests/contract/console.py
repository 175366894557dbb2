"""The console's harness: ConsolePlatform keeping its messages in a SQLite database (as
`leaderbot run` does), output to a StringIO. It touches the adapter only through `add_reply`
(a person typing a reply) and `messages` (this session's transcript)."""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.platforms.console.platform import CONSOLE_CHANNEL, ConsoleMessage, ConsolePlatform
from bot.store.db import Database
from tests.contract.harness import Harness, Seen

# Terminal control: ESC/CSI sequences (colours, cursor moves, OSC 8 hyperlinks), other C0/C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ConsoleHarness(Harness):
    name = "console"
    unknown_channel_id = ""  # the console names channels by any word: only a blank is none
    missing_thread_id = "1000000000.000001"
    max_message_chars = None

    def __init__(self, platform: ConsolePlatform, out: io.StringIO) -> None:
        self.platform = platform
        self.out = out
        self.channel_id = CONSOLE_CHANNEL
        self._people = 0

    async def user_says(self, thread_id: str, user_id: str, text: str) -> str:
        return (await self.platform.add_reply(self.channel_id, thread_id, user_id, text)).message_id

    async def add_people(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            self._people += 1
            user_id = f"person{self._people}"
            self.platform.names[user_id] = f"Person {self._people}"
            ids.append(user_id)
        return ids

    def display_name_of(self, user_id: str) -> str | None:
        return self.platform.names.get(user_id)

    async def messages_in_channel(self) -> list[Seen]:
        return [
            Seen(
                message_id=m.message_id,
                thread_id=m.thread_id,
                by_bot=m.is_bot,
                key=m.key,
                raw=m,
            )
            for m in self.platform.messages.get(self.channel_id, [])
        ]

    def rendered_text(self, message: Seen) -> str:
        raw: ConsoleMessage = message.raw
        return raw.text  # printed as it is: plain text

    def markup_problems(self, message: Seen, *, allowed_links: set[str]) -> list[str]:
        # A terminal shows text as it is; only control sequences could do anything.
        found = _CONTROL.findall(self.rendered_text(message))
        return [f"terminal control characters {found!r}"] if found else []

    def limit_problems(self, message: Seen) -> list[str]:
        return []


@asynccontextmanager
async def console_harness() -> AsyncIterator[ConsoleHarness]:
    out = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="leaderbot-contract-") as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'console.db'}")
        await db.upgrade()
        try:
            yield ConsoleHarness(ConsolePlatform(out, user="tester", db=db), out)
        finally:
            await db.dispose()
