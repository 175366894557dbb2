"""Review: on PostgreSQL, reconciliation crashes when a live event stores the same reply.

reconcile_thread reads the stored replies in its write transaction and then inserts every
message of the thread that was not there. On PostgreSQL (READ COMMITTED, no write gate) a
reply being stored at that moment by the event writer (this process) or by another process
is not visible to that read; its commit then makes reconciliation's INSERT fail on
uq_reply_channel_ts. reconcile_thread catches only PlatformError, so the IntegrityError
escapes, and build_channel_digests (which reconciles before every digest) fails with it.

The other writer here is a second database handle holding an INSERT of the reply open
while reconciliation writes, exactly what record_reply does between its INSERT and COMMIT.
On SQLite its BEGIN IMMEDIATE serialises the two, so the test passes there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.platform import SlackPlatform
from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_thread
from bot.services.context import Platforms
from bot.store.db import Database
from bot.store.models import Reply
from tests.fakes.slack_api import FakeSlack
from tests.platforms import only_platform
from tests.replies import time_of as ts_to_datetime


class NoSleep:
    async def __call__(self, seconds: float) -> None:
        return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user("U1", "u1")
        server.add_channel("C1", "leadership", members={"U1"})
        yield server


async def test_reconcile_survives_a_reply_stored_by_a_live_event_meanwhile(
    fake: FakeSlack, make_context: Any, database_url: str
) -> None:
    ctx = await make_context(database_url, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
    ctx.platforms = Platforms([SlackPlatform(build_web_client(ctx.settings), sleep=NoSleep())])
    post = (await ask_and_deliver(ctx, "C1")).post
    assert post.message_id
    message = fake.add_message("C1", "posted just now", user="U1", thread_ts=post.message_id)

    other = Database(database_url)  # the event writer's own transaction
    pending: list[asyncio.Task[None]] = []
    read = only_platform(ctx).fetch_thread

    async def read_while_the_event_is_stored(channel_id: str, thread_ts: str) -> Any:
        messages = await read(channel_id, thread_ts)
        session_cm = other.write()
        session = await session_cm.__aenter__()
        session.add(
            Reply(
                post_id=post.id,
                channel_id="C1",
                user_id="U1",
                text=message.text,
                message_id=message.ts,
                thread_id=post.message_id,
                posted_at=ts_to_datetime(message.ts),
                updated_at=ctx.clock(),
            )
        )
        await session.flush()  # the INSERT is in, not yet committed

        async def commit_soon() -> None:
            await asyncio.sleep(0.3)
            await session_cm.__aexit__(None, None, None)

        pending.append(asyncio.create_task(commit_soon()))
        return messages

    only_platform(ctx).fetch_thread = read_while_the_event_is_stored  # type: ignore[method-assign]
    try:
        await reconcile_thread(ctx, post)  # raises IntegrityError on PostgreSQL
    finally:
        await asyncio.gather(*pending)
        await other.dispose()
    async with ctx.db.read() as session:
        texts = (await session.scalars(select(Reply.text))).all()
    assert texts == ["posted just now"]
