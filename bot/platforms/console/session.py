"""The console's input loop: each typed line is a reply in the latest question's thread.

`/ask [Qn]` posts a question now, `/leadership …` runs an admin command, `/quit` or end of
input (Ctrl-D) exits cleanly; any other `/word` gets a line of help, never a stored reply.

Standard input is read without a thread that could keep the process alive: through the event
loop's reader on its file descriptor when the descriptor can be watched (a terminal, a pipe),
so Ctrl-C or SIGTERM stops the bot at once even while nobody types; otherwise (a regular file,
which never blocks for long) in a daemon thread.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator
from typing import TextIO

from bot.domain.language import N_, Translator, translator
from bot.platforms.console.platform import CONSOLE_CHANNEL, ConsolePlatform
from bot.port import ReplyPosted
from bot.services import channels, console_commands
from bot.services.ask import UnknownQuestion, ask_and_deliver
from bot.services.collect import record
from bot.services.context import Context

log = logging.getLogger(__name__)

# msgids: the console writes in its channel's language (Welsh, then English, for `both`).
GREETING = N_(
    "leaderbot on the console. Type a reply to the latest question, `/ask` to post one now, "
    "`/leadership help` for admin commands, Ctrl-D to quit."
)
HELP = N_(
    "Type a reply to the latest question, `/ask [Qn]` to post a question now, "
    "`/leadership <command>` for admin commands (`/leadership help` lists them), "
    "`/quit` to leave."
)


async def _translator(ctx: Context, channel_id: str) -> Translator:
    return translator(await channels.language_of(ctx, channel_id))


CHUNK = 65536


async def _lines_from_fd(fd: int) -> AsyncIterator[str]:
    """Lines read from `fd` as they arrive; the loop's reader when the descriptor can be
    watched, a daemon thread when it cannot. Ends at end of input."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(fd, CHUNK)  # the selector said readable: this does not block
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
        chunks.put_nowait(data)

    watched = True
    try:
        loop.add_reader(fd, readable)
    except (OSError, ValueError, NotImplementedError):
        watched = False  # a regular file (epoll refuses those), or a loop without readers

        def pump() -> None:
            while True:
                try:
                    data = os.read(fd, CHUNK)
                except OSError:
                    data = b""
                try:
                    loop.call_soon_threadsafe(chunks.put_nowait, data)
                except RuntimeError:
                    return  # the loop is closed: nobody is listening any more
                if not data:
                    return

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    try:
        while True:
            data = await chunks.get()
            pending += decoder.decode(data, final=not data)
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line
            if not data:
                if pending:
                    yield pending
                return
    finally:
        if watched:
            with contextlib.suppress(Exception):
                loop.remove_reader(fd)


async def _lines(stream: TextIO) -> AsyncIterator[str]:
    """The stream's lines, without the newline: from its descriptor when it has one (standard
    input), else as a text stream that never blocks (a StringIO in tests)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is None:
        for line in iter(stream.readline, ""):
            yield line.rstrip("\n")
        return
    async with contextlib.aclosing(_lines_from_fd(fd)) as lines:
        async for line in lines:
            yield line.rstrip("\r")


async def handle_line(
    ctx: Context, platform: ConsolePlatform, line: str, channel_id: str = CONSOLE_CHANNEL
) -> bool:
    """Act on one typed line; False means quit."""
    text = line.strip()
    if not text:
        return True
    word = text.split(maxsplit=1)[0].lower()
    if word in ("/quit", "/exit"):
        return False
    if word == "/ask":
        parts = text.split()
        try:
            await ask_and_deliver(ctx, channel_id, parts[1] if len(parts) > 1 else None)
        except UnknownQuestion as exc:
            t = await _translator(ctx, channel_id)
            platform.out.write(t.each(exc.text, "\n") + "\n")
        return True
    if word == "/leadership":
        answer = await console_commands.handle(ctx, channel_id, platform.user, text)
        platform.out.write(answer + "\n")
        return True
    if word.startswith("/"):
        t = await _translator(ctx, channel_id)
        unknown = t.each(
            lambda one: (
                one.gettext("Unknown command {word}.").format(word=word) + " " + one.gettext(HELP)
            ),
            "\n",
        )
        platform.out.write(unknown + "\n")
        return True
    question = await platform.latest_question(channel_id)
    if question is None:
        t = await _translator(ctx, channel_id)
        platform.out.write(
            t.each(
                lambda one: one.gettext(
                    "No question has been posted yet: type `/ask` to post one now."
                ),
                "\n",
            )
            + "\n"
        )
        return True
    message = await platform.add_reply(channel_id, question.message_id, platform.user, text)
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
    t = await _translator(ctx, channel_id)
    first_line = question.text.splitlines()[0]
    recorded = t.gettext("(reply recorded in the thread of {question})").format(question=first_line)
    platform.out.write(recorded + "\n")
    return True


async def run_console(
    ctx: Context, platform: ConsolePlatform, stream: TextIO, channel_id: str = CONSOLE_CHANNEL
) -> None:
    t = await _translator(ctx, channel_id)
    platform.out.write(t.each(lambda one: one.gettext(GREETING), "\n") + "\n")
    platform.out.flush()
    lines = _lines(stream)
    try:
        async for line in lines:
            if not await handle_line(ctx, platform, line, channel_id):
                break
            platform.out.flush()
    finally:
        await lines.aclose()
    platform.out.write("bye\n")
    platform.out.flush()
