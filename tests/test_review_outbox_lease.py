"""Review: a send still in flight when its lease runs out is taken over and posted again.

`_claim` sets `lease_until = now + send_lease_s` once, at claim time; nothing renews it while
the row waits for the concurrency gate / per-channel pacer, sleeps out Retry-After, or waits on
a slow chat.postMessage. Once it lapses, the next sweep (in this process or another) claims the
row again, looks (`find_post`: not there yet, the first send has not landed) and posts a second
copy; the first send then lands too.
"""

from __future__ import annotations

import asyncio

from bot.services import outbox
from bot.services.ask import ask_now
from tests.fakes.slack_api import Latency

CHANNEL = "C0LEADERS"


async def test_a_slow_send_past_its_lease_is_not_posted_twice(
    fake, sqlite_url, slack_context, clock
):
    ctx = await slack_context(sqlite_url)
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
