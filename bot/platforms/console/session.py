"""The console's input loop: each typed line is a reply in the latest question's thread.

`/ask [Qn]` posts a question now, `/leadership …` runs an admin command (when that feature is
present), `/quit` or end of input (Ctrl-D) exits cleanly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TextIO

from bot.platforms.console.platform import CONSOLE_CHANNEL, ConsolePlatform
from bot.port import ReplyPosted
from bot.services import console_commands
from bot.services.ask import UnknownQuestion, ask_and_deliver
from bot.services.collect import record
from bot.services.context import Context

log = logging.getLogger(__name__)

GREETING = (
    "leaderbot on the console. Type a reply to the latest question, `/ask` to post one now, "
    "`/leadership help` for admin commands, Ctrl-D to quit."
)


async def _read_line(stream: TextIO) -> str | None:
    line = await asyncio.get_running_loop().run_in_executor(None, stream.readline)
    return None if line == "" else line.rstrip("\n")


async def handle_line(
    ctx: Context, platform: ConsolePlatform, line: str, channel_id: str = CONSOLE_CHANNEL
) -> bool:
    """Act on one typed line; False means quit."""
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
        answer = await console_commands.handle(ctx, channel_id, platform.user, text)
        platform.out.write(answer + "\n")
        return True
    question = platform.latest_question(channel_id)
    if question is None:
        platform.out.write("No question has been posted yet: type `/ask` to post one now.\n")
        return True
    message = platform.add_reply(channel_id, question.message_id, platform.user, text)
    await record(
        ctx,
        ReplyPosted(
            channel_id=channel_id,
            thread_id=question.message_id,
            message_id=message.message_id,
            user_id=platform.user,
            text=text,
            posted_at=message.posted_at,
        ),
    )
    platform.out.write(f"(reply recorded in the thread of {question.text.splitlines()[0]})\n")
    return True


async def run_console(
    ctx: Context, platform: ConsolePlatform, stream: TextIO, channel_id: str = CONSOLE_CHANNEL
) -> None:
    platform.out.write(GREETING + "\n")
    platform.out.flush()
    while True:
        line = await _read_line(stream)
        if line is None or not await handle_line(ctx, platform, line, channel_id):
            platform.out.write("bye\n")
            return
