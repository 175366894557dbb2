"""Review: a send still in flight when its lease runs out is taken over and posted again.

`_claim` sets `lease_until = now + send_lease_s` once, at claim time; nothing renews it while
the row waits for the concurrency gate / per-channel pacer, sleeps out Retry-After, or waits on
a slow chat.postMessage. Once it lapses, the next sweep (in this process or another) claims the
row again, looks (`find_post`: not there yet, the first send has not landed) and posts a second
copy; the first send then lands too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.platforms.slack.platform import SlackPlatform
from bot.services import outbox
from bot.services.ask import ask_now
from tests.conftest import make_settings
from tests.fakes.slack_api import FakeSlack, Latency

CHANNEL = "C0LEADERS"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_channel(CHANNEL, "leadership-team")
        yield slack


async def test_a_slow_send_past_its_lease_is_not_posted_twice(
    fake, sqlite_url, make_context, clock
):
    settings = make_settings(SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
    async with SlackPlatform.pooled(settings) as platform:
        ctx = await make_context(
            sqlite_url, platform=platform, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url
        )
        row = await ask_now(ctx, CHANNEL)
        fake.inject("chat.postMessage", Latency(1.5))  # the first send is slow
        first = asyncio.create_task(outbox.deliver_due(ctx, only_keys=[row.key]))
        for _ in range(100):  # until the first chat.postMessage is in flight
            if fake.calls("chat.postMessage"):
                break
            await asyncio.sleep(0.02)
        # The send is still running when its lease (default 120 s) runs out; a sweep runs.
        clock.advance(seconds=ctx.settings.send_lease_s + 1)
        await outbox.deliver_due(ctx, only_keys=[row.key])
        await first
        posts = [m for m in fake.messages(CHANNEL) if not m.is_reply]
        assert len(posts) == 1, f"{len(posts)} copies of the question posted"
