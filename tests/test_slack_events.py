"""Replies collected from Slack events: the bot in HTTP mode (SlackRuntime, every listener)
against the fake Slack Web API, signed requests over real HTTP, SQLite in a temp dir."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.domain.clock import ManualClock
from bot.platforms.slack.platform import SlackPlatform
from bot.runtime import serving
from bot.services.ask import ask_and_deliver
from bot.services.context import Context, Platforms
from bot.services.inbound import Inbound
from bot.services.reply_writer import writer_for
from bot.serving import HttpServer
from bot.store.models import Channel, Post, Reply
from tests.fakes import eventually
from tests.fakes.signing import event_body, signed_headers
from tests.fakes.slack_api import FakeMessage, FakeSlack

SECRET = "signing-secret-for-events"
EVENTS_LOGGER = "bot.platforms.slack.listeners.events"
PEOPLE = {"U1": "Ada", "U2": "Grace", "U3": "Alan", "U4": "Edsger", "U5": "Barbara"}


@pytest.fixture
def clock() -> ManualClock:
    # Now, not a fixed date: the fake stamps messages with the real time, and the CLI digest
    # run in a subprocess reads the system clock.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(replies_page_size=50) as server:
        for uid, name in PEOPLE.items():
            server.add_user(uid, name.lower(), display_name=name)
        server.add_channel("C1", "leadership", members=PEOPLE)
        yield server


@dataclass
class Bot:
    ctx: Context
    server: HttpServer
    fake: FakeSlack
    http: aiohttp.ClientSession
    db_path: Path
    question_ts: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/slack/events"

    async def post_raw(self, body: str, headers: dict[str, str] | None = None) -> tuple[int, float]:
        """POST a body; returns (status, seconds until the answer)."""
        started = time.perf_counter()
        async with self.http.post(self.url, data=body, headers=headers) as response:
            await response.read()
            return response.status, time.perf_counter() - started

    async def send(
        self, event: dict[str, Any], *, event_id: str, retry: int | None = None, **envelope: Any
    ) -> int:
        body = event_body(event, event_id=event_id, **envelope)
        headers = signed_headers(body, SECRET)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        status, elapsed = await self.post_raw(body, headers)
        assert elapsed < 3.0  # Slack's deadline for the ack
        return status

    async def written(self, count: int) -> None:
        """Wait until the reply writer has applied `count` events (duplicates included)."""
        writer = writer_for(self.ctx)

        async def done() -> bool:
            return writer.written >= count

        await eventually(done)
        await writer.drain()

    async def replies(self) -> dict[str, tuple[str, str, bool]]:
        async with self.ctx.db.read() as session:
            rows = (await session.scalars(select(Reply).order_by(Reply.id))).all()
        return {r.message_id: (r.user_id, r.text, r.edited) for r in rows}


@pytest.fixture
async def bot(fake: FakeSlack, make_context: Any, tmp_path: Path) -> AsyncIterator[Bot]:
    db_path = tmp_path / "leaderbot.db"
    ctx = await make_context(
        f"sqlite+aiosqlite:///{db_path}",
        SLACK_BOT_TOKEN=fake.bot_token,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
    )
    async with SlackPlatform.pooled(ctx.settings) as platform:
        ctx.platforms = Platforms([platform])
        async with (
            serving(ctx, Inbound(ctx), host="127.0.0.1", port=0) as server,
            aiohttp.ClientSession() as http,
        ):
            yield Bot(ctx, server, fake, http, db_path)
        await Inbound(ctx).close()


async def ask(bot: Bot) -> str:
    result = await ask_and_deliver(bot.ctx, "C1")
    assert result.delivered and result.post.message_id
    bot.question_ts = result.post.message_id
    return result.post.message_id


def message_event(message: FakeMessage, **extra: Any) -> dict[str, Any]:
    """The `message` event Slack sends for a stored message."""
    return {
        **message.to_api(),
        "channel": message.channel,
        "channel_type": "channel",
        "event_ts": message.ts,
        **extra,
    }


def changed_event(message: FakeMessage, previous: str) -> dict[str, Any]:
    inner = message.to_api()
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": message.channel,
        "message": inner,
        "previous_message": {**inner, "text": previous, "edited": None},
        "event_ts": str(time.time()),
        "ts": str(time.time()),
    }


def deleted_event(message: FakeMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": message.channel,
        "deleted_ts": message.ts,
        "previous_message": message.to_api(),
        "event_ts": str(time.time()),
        "ts": str(time.time()),
    }


async def run_cli(bot: Bot, *args: str) -> tuple[int, str, str]:
    """`leaderbot ...` in a child process (asynchronously: the fake Slack it talks to runs in
    this event loop). Returns (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env |= {
        "SLACK_BOT_TOKEN": bot.fake.bot_token,
        "SLACK_API_URL": bot.fake.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{bot.db_path}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=bot.db_path.parent,  # no stray .env file
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


# ----------------------------------------------------------------------------- acceptance


async def test_replies_edits_deletions_retries_and_lost_events_in_the_json_digest(
    bot: Bot,
) -> None:
    fake = bot.fake
    q = await ask(bot)
    first = fake.add_message("C1", "Stop duplicate reporting.", user="U1", thread_ts=q)
    second = fake.add_message("C1", "Less <!channel> & more <b>doing</b>", user="U2", thread_ts=q)
    edited = fake.add_message("C1", "Draft answr", user="U3", thread_ts=q)
    deleted = fake.add_message("C1", "Wrong thread, sorry", user="U4", thread_ts=q)
    assert await bot.send(message_event(first), event_id="Ev01") == 200
    assert await bot.send(message_event(second), event_id="Ev02") == 200
    # Slack did not see our ack in time and sent it again; then a replay under a new id.
    assert await bot.send(message_event(second), event_id="Ev02", retry=1) == 200
    assert await bot.send(message_event(second), event_id="Ev02b") == 200
    assert await bot.send(message_event(edited), event_id="Ev03") == 200
    fake.edit_message("C1", edited.ts, "Final answer: fewer boards.")
    assert await bot.send(changed_event(edited, "Draft answr"), event_id="Ev04") == 200
    assert await bot.send(message_event(deleted), event_id="Ev05") == 200
    fake.delete_message("C1", deleted.ts)
    assert await bot.send(deleted_event(deleted), event_id="Ev06") == 200

    # Ignored: another app's bot in the thread, a join, a top-level post, another thread.
    other_bot = fake.add_message("C1", "Build passed", thread_ts=q)
    other_bot.bot_id, other_bot.subtype = "B0OTHER", "bot_message"
    joined = fake.add_message("C1", "<@U5> has joined", user="U5", subtype="channel_join")
    top = fake.add_message("C1", "Morning all", user="U1")
    elsewhere = fake.add_message("C1", "Lunch?", user="U2")
    aside = fake.add_message("C1", "Yes please", user="U3", thread_ts=elsewhere.ts)
    for n, message in enumerate([other_bot, joined, top, elsewhere, aside]):
        assert await bot.send(message_event(message), event_id=f"EvIgnored{n}") == 200
    # Posted while the bot was down: no event ever comes for it.
    lost = fake.add_message("C1", "Catching up: more shared services.", user="U5", thread_ts=q)

    await bot.written(8)  # Ev01..Ev06 with the retry and the replay
    assert await bot.replies() == {
        first.ts: ("U1", "Stop duplicate reporting.", False),
        second.ts: ("U2", "Less <!channel> & more <b>doing</b>", False),
        edited.ts: ("U3", "Final answer: fewer boards.", True),
    }

    code, out, err = await run_cli(bot, "digest", "--channel", "C1", "--format", "json")
    assert code == 0, err
    digest = json.loads(out)
    assert digest["channel"] == "C1" and {"from", "to"} <= digest.keys()
    (question,) = digest["questions"]
    assert question["permalink"].startswith("https://fake.slack.com/archives/C1/")
    got = sorted(
        (r["ts"], r["user"], r["user_name"], r["text"], r["edited"]) for r in question["replies"]
    )
    assert got == sorted(
        [
            (first.ts, "U1", "Ada", "Stop duplicate reporting.", False),
            (second.ts, "U2", "Grace", "Less <!channel> & more <b>doing</b>", False),
            (edited.ts, "U3", "Alan", "Final answer: fewer boards.", True),
            (lost.ts, "U5", "Barbara", "Catching up: more shared services.", False),
        ]
    )
    assert set(question) >= {"id", "text", "posted_at", "permalink", "replies"}


# ----------------------------------------------------------------------------- capture


async def test_the_ack_waits_until_the_reply_is_stored(bot: Bot) -> None:
    q = await ask(bot)
    reply = bot.fake.add_message("C1", "Stored before the ack", user="U1", thread_ts=q)
    # Hold SQLite's write lock: the bot can only store the reply once we let go, and it must
    # not ack before it has (a crash after the ack would lose the reply).
    lock = sqlite3.connect(bot.db_path, isolation_level=None, timeout=10)
    try:
        lock.execute("BEGIN IMMEDIATE")
        body = event_body(message_event(reply), event_id="EvLocked")
        request = asyncio.ensure_future(bot.post_raw(body, signed_headers(body, SECRET)))
        await asyncio.sleep(0.5)
        assert not request.done()  # not acked while the write waits
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    status, elapsed = await request
    assert status == 200 and elapsed < 3.0
    # Acked means stored: no waiting for a background writer.
    assert await bot.replies() == {reply.ts: ("U1", "Stored before the ack", False)}


async def test_a_reply_that_cannot_be_stored_is_not_acked_and_its_retry_is_stored(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    q = await ask(bot)
    reply = bot.fake.add_message("C1", "Kept for the retry", user="U1", thread_ts=q)
    # The replies table is missing (a broken database): the write fails, so no 200 may go
    # back (a 200 would tell Slack the reply is safe); Slack retries with the same event id.
    lock = sqlite3.connect(bot.db_path, isolation_level=None, timeout=10)
    lock.execute("ALTER TABLE replies RENAME TO replies_away")
    try:
        with caplog.at_level(logging.ERROR):
            assert await bot.send(message_event(reply), event_id="EvBroken") == 503
    finally:
        lock.execute("ALTER TABLE replies_away RENAME TO replies")
        lock.close()
    assert "not acked" in caplog.text and "Traceback" not in caplog.text
    assert await bot.send(message_event(reply), event_id="EvBroken", retry=1) == 200
    assert await bot.replies() == {reply.ts: ("U1", "Kept for the retry", False)}


async def test_an_edit_that_overtakes_its_message_keeps_the_edit(bot: Bot) -> None:
    q = await ask(bot)
    reply = bot.fake.add_message("C1", "v1", user="U1", thread_ts=q)
    original = message_event(reply)
    bot.fake.edit_message("C1", reply.ts, "v2")
    assert await bot.send(changed_event(reply, "v1"), event_id="EvEdit") == 200
    assert await bot.send(original, event_id="EvOriginal") == 200
    await bot.written(2)
    assert await bot.replies() == {reply.ts: ("U1", "v2", True)}


async def test_a_change_that_is_not_an_edit_does_not_mark_the_reply_edited(bot: Bot) -> None:
    q = await ask(bot)
    reply = bot.fake.add_message("C1", "See https://socitm.net", user="U1", thread_ts=q)
    assert await bot.send(message_event(reply), event_id="EvA") == 200
    unfurled = changed_event(reply, reply.text)  # Slack adds a link preview: no `edited`
    assert await bot.send(unfurled, event_id="EvB") == 200
    await bot.written(2)
    assert await bot.replies() == {reply.ts: ("U1", "See https://socitm.net", False)}


async def test_thread_broadcast_counts_as_a_reply_and_the_parent_does_not(bot: Bot) -> None:
    q = await ask(bot)
    broadcast = bot.fake.add_message(
        "C1", "Also to the channel", user="U2", thread_ts=q, subtype="thread_broadcast"
    )
    # Someone's own message that became a thread parent: not a reply.
    parent = {"type": "message", "channel": "C1", "user": "U1", "text": "hi", "ts": q}
    parent |= {"thread_ts": q, "event_ts": q}
    assert await bot.send(parent, event_id="EvParent") == 200
    assert await bot.send(message_event(broadcast), event_id="EvBroadcast") == 200
    await bot.written(1)
    assert await bot.replies() == {broadcast.ts: ("U2", "Also to the channel", False)}


# ----------------------------------------------------------------------------- bad input


async def test_bad_signatures_and_stale_timestamps_get_401_and_store_nothing(bot: Bot) -> None:
    q = await ask(bot)
    reply = bot.fake.add_message("C1", "forged", user="U1", thread_ts=q)
    body = event_body(message_event(reply), event_id="EvForged")
    wrong_secret = signed_headers(body, "not-the-secret")
    stale = signed_headers(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    tampered = signed_headers(body, SECRET)
    assert (await bot.post_raw(body, wrong_secret))[0] == 401
    assert (await bot.post_raw(body, stale))[0] == 401
    assert (await bot.post_raw(body.replace("forged", "FORGED"), tampered))[0] == 401
    assert (await bot.post_raw(body, {"Content-Type": "application/json"}))[0] == 401

    genuine = bot.fake.add_message("C1", "genuine", user="U2", thread_ts=q)
    assert await bot.send(message_event(genuine), event_id="EvGenuine") == 200
    await bot.written(1)
    assert await bot.replies() == {genuine.ts: ("U2", "genuine", False)}


async def test_malformed_events_are_acked_and_logged(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=EVENTS_LOGGER)
    q = await ask(bot)
    base = {"type": "message", "channel": "C1", "user": "U1", "text": "x", "thread_ts": q}
    malformed: list[dict[str, Any]] = [
        {"type": "message"},  # nothing at all
        {**base, "ts": "yesterday"},
        {**base, "ts": "1700000000.000100", "channel": None},
        {**base, "ts": "1700000000.000100", "user": ["U1"]},
        {**base, "ts": "1700000000.000100", "text": {"rich": True}},
        {**base, "ts": "1700000000.000100", "thread_ts": 12},
        {"type": "message", "subtype": "message_changed", "channel": "C1"},
        {"type": "message", "subtype": "message_changed", "channel": "C1", "message": "hi"},
        {"type": "message", "subtype": "message_deleted", "channel": "C1"},
    ]
    for n, event in enumerate(malformed):
        assert await bot.send(event, event_id=f"EvBad{n}") == 200, event
    assert await bot.send({**base, "ts": "1700000000.1"}, event_id="x" * 300) == 200
    assert await bot.send({"type": "app_uninstalled"}, event_id="EvNoTeam", team_id=None) == 200

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == EVENTS_LOGGER]

    async def all_logged() -> bool:
        return len(logged()) >= len(malformed) + 2

    await eventually(all_logged)
    assert all("malformed" in m or "without a team id" in m for m in logged())
    assert all(r.exc_info is None for r in caplog.records)  # logged, not crashed

    # Still collecting, and nothing was stored or purged by the bad ones.
    good = bot.fake.add_message("C1", "still here", user="U2", thread_ts=q)
    assert await bot.send(message_event(good), event_id="EvGood") == 200
    await bot.written(1)
    assert await bot.replies() == {good.ts: ("U2", "still here", False)}


# ----------------------------------------------------------------------------- uninstall


async def test_app_uninstalled_purges_the_workspace(bot: Bot) -> None:
    q = await ask(bot)
    reply = bot.fake.add_message("C1", "personal view", user="U1", thread_ts=q)
    assert await bot.send(message_event(reply), event_id="EvR") == 200
    assert await bot.send({"type": "app_uninstalled"}, event_id="EvGone") == 200

    async def purged() -> bool:
        async with bot.ctx.db.read() as session:
            replies = await session.scalar(select(func.count()).select_from(Reply))
            channels = await session.scalar(select(func.count()).select_from(Channel))
            posts = await session.scalar(select(func.count()).select_from(Post))
        return (replies, channels, posts) == (0, 0, 0)

    await eventually(purged)


async def test_tokens_revoked_purges_only_when_the_bot_token_goes(bot: Bot) -> None:
    q = await ask(bot)
    reply = bot.fake.add_message("C1", "keep me", user="U1", thread_ts=q)
    assert await bot.send(message_event(reply), event_id="EvKeep") == 200
    user_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U1"], "bot": []}}
    assert await bot.send(user_only, event_id="EvUserTokens") == 200
    late = bot.fake.add_message("C1", "after", user="U2", thread_ts=q)
    assert await bot.send(message_event(late), event_id="EvLate") == 200
    await bot.written(2)
    assert len(await bot.replies()) == 2

    bot_token = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}
    assert await bot.send(bot_token, event_id="EvBotToken") == 200

    async def purged() -> bool:
        return await bot.replies() == {}

    await eventually(purged)


# ----------------------------------------------------------------------------- start, stop


async def test_catching_up_at_start_reconciles_this_weeks_threads(bot: Bot) -> None:
    q = await ask(bot)
    missed = bot.fake.add_message("C1", "sent while we were down", user="U3", thread_ts=q)
    result = await Inbound(bot.ctx).catch_up()
    assert (result.added, result.error) == (1, None)
    assert await bot.replies() == {missed.ts: ("U3", "sent while we were down", False)}


async def test_closing_writes_what_was_acked(bot: Bot) -> None:
    q = await ask(bot)
    replies = [bot.fake.add_message("C1", f"r{n}", user="U1", thread_ts=q) for n in range(20)]
    for n, reply in enumerate(replies):
        assert await bot.send(message_event(reply), event_id=f"EvStop{n}") == 200

    async def queued() -> bool:
        writer = writer_for(bot.ctx)
        return writer.written + writer.pending >= len(replies)

    await eventually(queued)
    await Inbound(bot.ctx).close()
    assert len(await bot.replies()) == len(replies)


async def test_a_burst_of_a_thousand_concurrent_signed_events_is_acked_and_stored(
    bot: Bot,
) -> None:
    q = await ask(bot)
    bodies = []
    for n in range(1000):
        reply = bot.fake.add_message("C1", f"burst {n}", user=f"U{n % 50}", thread_ts=q)
        bodies.append(event_body(message_event(reply), event_id=f"EvBurst{n}"))
    # One connection per event, all at once (aiohttp's client caps connections unless told).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(body: str) -> int:
            async with http.post(bot.url, data=body, headers=signed_headers(body, SECRET)) as r:
                await r.read()
                return r.status

        statuses = await asyncio.gather(*(one(body) for body in bodies))
    assert statuses.count(200) == 1000
    assert len(await bot.replies()) == 1000  # acked means stored
