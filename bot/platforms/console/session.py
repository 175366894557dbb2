"""The console's input loop: each typed line is a reply in the latest question's thread.

`/ask [Qn]` posts a question now, `/leadership …` runs an admin command (when that feature is
present), `/quit` or end of input (Ctrl-D) exits cleanly.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TextIO

from bot.platforms.console.platform import CONSOLE_CHANNEL, ConsolePlatform
from bot.services.ask import UnknownQuestion, ask_and_deliver
from bot.services.context import Context

log = logging.getLogger(__name__)

GREETING = (
    "leaderbot on the console. Type a reply to the latest question, `/ask` to post one now, "
    "`/leadership help` for admin commands, Ctrl-D to quit."
)


async def _read_line(stream: TextIO) -> str | None:
    line = await asyncio.get_running_loop().run_in_executor(None, stream.readline)
    return None if line == "" else line.rstrip("\n")


async def handle_line(ctx: Context, line: str, channel_id: str = CONSOLE_CHANNEL) -> bool:
    """Act on one typed line; False means quit."""
    platform = ctx.platform
    assert isinstance(platform, ConsolePlatform)
    text = line.strip()
    if not text:
        return True
    if text in ("/quit", "/exit"):
        return False
    if text.startswith("/ask"):
        parts = text.split()
        try:
            await ask_and_deliver(ctx, channel_id, parts[1] if len(parts) > 1 else None)
        except UnknownQuestion as exc:
            platform.out.write(f"{exc}\n")
        return True
    if text.startswith("/leadership"):
        handler = _optional("bot.services.console_commands", "handle")
        if handler is None:
            platform.out.write("`/leadership` commands are not available on the console yet.\n")
        else:
            platform.out.write(await handler(ctx, channel_id, platform.user, text) + "\n")
        return True
    question = platform.latest_question(channel_id)
    if question is None:
        platform.out.write("No question has been posted yet: type `/ask` to post one now.\n")
        return True
    message = platform.add_reply(channel_id, question.ts, platform.user, text)
    record = _optional("bot.services.collect", "record_console_reply")
    if record is not None:
        await record(ctx, channel_id, question.ts, message)
    platform.out.write(f"(reply recorded in the thread of {question.text.splitlines()[0]})\n")
    return True


async def run_console(ctx: Context, stream: TextIO, channel_id: str = CONSOLE_CHANNEL) -> None:
    platform = ctx.platform
    assert isinstance(platform, ConsolePlatform)
    platform.out.write(GREETING + "\n")
    platform.out.flush()
    while True:
        line = await _read_line(stream)
        if line is None or not await handle_line(ctx, line, channel_id):
            platform.out.write("bye\n")
            return


def _optional(module_name: str, attr: str):  # type: ignore[no-untyped-def]
    try:
        return getattr(importlib.import_module(module_name), attr, None)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
