"""The console as a real platform: its messages and threads live in the database, so another
process (here, another Database and ConsolePlatform on the same file) reads the same threads,
reconciliation keeps what was typed, and a restart remembers the latest question."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.content import Notice
from bot.platforms.console.platform import ConsolePlatform
from bot.platforms.console.session import HELP, _lines, handle_line, run_console
from bot.port import PlatformError
from bot.services.collect import reconcile_thread
from bot.services.context import Context
from bot.store.models import Post, Reply
from bot.store.models_console import ConsoleMessageRow
from tests.platforms import only_platform

CHANNEL = "console"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def console(ctx: Context) -> ConsolePlatform:
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform)
    return platform


async def typed(ctx: Context, *lines: str) -> str:
    platform = console(ctx)
    assert isinstance(platform.out, io.StringIO)
    start = len(platform.out.getvalue())
    for line in lines:
        assert await handle_line(ctx, platform, line, CHANNEL)
    return platform.out.getvalue()[start:]


async def the_question(ctx: Context) -> Post:
    async with ctx.db.read() as session:
        return (await session.scalars(select(Post).where(Post.kind == "question"))).one()


async def stored_replies(ctx: Context) -> list[str]:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(Reply).order_by(Reply.posted_at, Reply.id))
        return [r.text for r in rows.all()]


async def test_another_process_reads_the_thread_and_reconciliation_keeps_the_replies(
    database_url: str, make_context: Any
) -> None:
    typing_side = await make_context(database_url)
    out = await typed(typing_side, "/ask", "First answer", "Second answer")
    assert out.count("reply recorded") == 2
    post = await the_question(typing_side)
    assert post.message_id is not None

    digest_side = await make_context(database_url)  # its own engine, its own console
    assert console(digest_side).messages == {}  # nothing of the other's in memory
    thread = await console(digest_side).fetch_thread(CHANNEL, post.message_id)
    assert [m.text for m in thread] == ["First answer", "Second answer"]
    result = await reconcile_thread(digest_side, post)
    assert (result.added, result.updated, result.removed, result.error) == (0, 0, 0, None)
    assert await stored_replies(digest_side) == ["First answer", "Second answer"]
    assert await console(digest_side).member_count(CHANNEL) == 1


async def test_a_restart_remembers_the_latest_question(
    database_url: str, make_context: Any
) -> None:
    before = await make_context(database_url)
    await typed(before, "/ask Q2", "First answer", "/ask Q3", "On Q3")
    latest = await console(before).latest_question(CHANNEL)
    assert latest is not None and latest.text.startswith("Leadership question Q3")

    after = await make_context(database_url)
    remembered = await console(after).latest_question(CHANNEL)
    assert remembered is not None and remembered.message_id == latest.message_id
    assert "reply recorded" in await typed(after, "After the restart")
    async with after.db.read() as session:
        rows = (await session.execute(select(Reply.text, Post.question_id).join(Post))).all()
    assert sorted(rows) == [("After the restart", "Q3"), ("First answer", "Q2"), ("On Q3", "Q3")]


async def test_a_thread_the_console_never_held_is_an_error_not_an_empty_thread(
    sqlite_url: str, make_context: Any
) -> None:
    """A question posted before the console kept its messages: reading its thread fails, and
    reconciliation keeps the stored replies rather than tombstone them all."""
    ctx = await make_context(sqlite_url)
    await typed(ctx, "/ask", "Kept")
    post = await the_question(ctx)
    assert post.message_id is not None
    async with ctx.db.write() as session:
        await session.execute(ConsoleMessageRow.__table__.delete())
    with pytest.raises(PlatformError):
        await console(ctx).fetch_thread(CHANNEL, post.message_id)
    result = await reconcile_thread(ctx, post)
    assert result.removed == 0 and result.error
    assert await stored_replies(ctx) == ["Kept"]


async def test_what_is_really_deleted_or_edited_on_the_console_is_reconciled(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await make_context(sqlite_url)
    await typed(ctx, "/ask", "Keep me", "Delete me", "Edit me")
    post = await the_question(ctx)
    assert post.message_id is not None
    thread = await console(ctx).fetch_thread(CHANNEL, post.message_id)
    await console(ctx).delete_reply(CHANNEL, thread[1].message_id)
    await console(ctx).edit_reply(CHANNEL, thread[2].message_id, "Edited")

    other = await make_context(sqlite_url)
    result = await reconcile_thread(other, post)
    assert (result.updated, result.removed) == (1, 1)
    assert await stored_replies(other) == ["Keep me", "Edited"]


async def test_find_post_and_the_thread_see_posts_made_by_another_process(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await make_context(sqlite_url)
    first = console(ctx)
    root = await first.post(CHANNEL, Notice("a notice"), key="notice:1")
    await first.post(CHANNEL, Notice("in its thread"), key="notice:2", thread_id=root.message_id)

    second = console(await make_context(sqlite_url))
    found = await second.find_post(CHANNEL, "notice:2", LONG_AGO, thread_id=root.message_id)
    assert found is not None and found.message_id != root.message_id
    assert await second.find_post(CHANNEL, "notice:2", LONG_AGO, thread_id="0.1") is None
    assert await second.find_post(CHANNEL, "notice:3", LONG_AGO) is None
    [bot_reply] = await second.fetch_thread(CHANNEL, root.message_id)
    assert bot_reply.is_bot and bot_reply.text == "in its thread"
    assert await second.member_count(CHANNEL) is None  # only the bot has spoken


async def test_two_processes_taking_the_same_microsecond_get_different_ids(
    sqlite_url: str, make_context: Any
) -> None:
    one = console(await make_context(sqlite_url))
    two = console(await make_context(sqlite_url))
    future = 4_000_000_000 * 1_000_000  # far past the wall clock: the ids come from here
    one._last_micros = two._last_micros = future
    a = await one.post(CHANNEL, Notice("from one"), key="k:1")
    b = await two.post(CHANNEL, Notice("from two"), key="k:2")
    assert a.message_id == "4000000000.000001"
    assert b.message_id == "4000000000.000002"
    assert [m.message_id for m in two.messages[CHANNEL]] == [b.message_id]


async def test_an_unknown_slash_word_gets_help_not_a_stored_reply(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await make_context(sqlite_url)
    await typed(ctx, "/ask")
    out = await typed(ctx, "/help", "/frob now", "/Quitting")
    assert out.count(HELP) == 3
    assert "Unknown command /help." in out and "Unknown command /frob." in out
    assert "reply recorded" not in out
    assert await stored_replies(ctx) == []
    post = await the_question(ctx)
    assert post.message_id is not None
    assert await console(ctx).fetch_thread(CHANNEL, post.message_id) == []

    admin = await typed(ctx, "/leadership help")
    assert "Unknown command" not in admin and "schedule" in admin
    assert "reply recorded" in await typed(ctx, "not a /command at the start")


async def test_without_a_database_the_console_keeps_its_messages_in_memory() -> None:
    platform = ConsolePlatform(io.StringIO(), user="tester")
    root = await platform.post(CHANNEL, Notice("root"), key="r")
    reply = await platform.add_reply(CHANNEL, root.message_id, "U1", "hello")
    assert [m.text for m in await platform.fetch_thread(CHANNEL, root.message_id)] == ["hello"]
    assert await platform.member_count(CHANNEL) == 1
    await platform.delete_reply(CHANNEL, reply.message_id)
    assert await platform.fetch_thread(CHANNEL, root.message_id) == []
    with pytest.raises(PlatformError):
        await platform.fetch_thread(CHANNEL, "123.000001")


async def test_the_session_reads_a_text_stream_a_pipe_and_a_regular_file(
    sqlite_url: str, make_context: Any, tmp_path: Path
) -> None:
    ctx = await make_context(sqlite_url)
    await run_console(ctx, console(ctx), io.StringIO("/ask\nfrom a text stream\n"), CHANNEL)

    read_end, write_end = os.pipe()
    os.write(write_end, "from a pipe, ünïcode\r\nno newline at the end".encode())
    os.close(write_end)
    with os.fdopen(read_end, "r") as pipe:
        assert [line async for line in _lines(pipe)] == [
            "from a pipe, ünïcode",
            "no newline at the end",
        ]

    typed_file = tmp_path / "typed.txt"
    typed_file.write_text("from a file\n/quit\nnever read\n")
    with typed_file.open() as stream:  # not selectable: read in a daemon thread
        await run_console(ctx, console(ctx), stream, CHANNEL)
    assert await stored_replies(ctx) == ["from a text stream", "from a file"]
    out = console(ctx).out
    assert isinstance(out, io.StringIO)
    assert out.getvalue().rstrip().endswith("bye")


async def test_forgetting_a_person_erases_their_console_messages_too(
    database_url: str, make_context: Any
) -> None:
    from bot.services.privacy import forget_user

    ctx = await make_context(database_url)
    await typed(ctx, "/ask", "Something personal")
    person = console(ctx).user
    await forget_user(ctx, person)

    async with ctx.db.read() as session:
        theirs = (
            await session.scalars(
                select(ConsoleMessageRow).where(ConsoleMessageRow.user_id == person)
            )
        ).all()
        bots = (
            await session.scalars(
                select(ConsoleMessageRow).where(ConsoleMessageRow.user_id.is_(None))
            )
        ).all()
    assert theirs == [] and bots  # the question stays; what they typed is gone
