"""Review 2: the lease is renewed before the look-up, but not between the look-up and the post.

`_deliver_one` calls `_renew` once per loop turn, then (when it must look) `find_post`, then
`post`. `find_post` is not bounded by the lease: SlackPlatform's reads wait out Retry-After
themselves (up to READ_ATTEMPTS times, uncapped) and follow every page, so under rate limits
a look can outlast `send_lease_s`. Another process then takes the row over (lease ran out),
looks (nothing there yet) and posts; the first sender's look answers "not there" and it posts
too, without checking it still holds the claim. Two copies.

Here the slow look is simulated with Latency and the clock moved past the lease; the second
process is simulated by a sweep with its own (empty) in-flight set.
"""

from __future__ import annotations

import asyncio
import dataclasses

from bot.services import outbox
from bot.services.ask import ask_now
from bot.store.db import Database
from tests.fakes.slack_api import Latency, RateLimit

CHANNEL = "C0LEADERS"


async def test_a_look_that_outlasts_the_lease_does_not_lead_to_two_posts(
    fake, sqlite_url, slack_context, clock
):
    ctx = await slack_context(sqlite_url)
    row = await ask_now(ctx, CHANNEL)
    # First claim: a long 429, nothing posted; handed back (attempts = 1, so next: look).
    fake.inject("chat.postMessage", RateLimit(31))
    report = await outbox.deliver_due(ctx, only_keys=[row.key])
    assert report.deferred == [row.key]
    clock.advance(seconds=32)

    # Process A: its look-up is slow (rate-limit waits, many pages).
    fake.inject("conversations.history", Latency(1.0))
    first = asyncio.create_task(outbox.deliver_due(ctx, only_keys=[row.key]))
    for _ in range(100):
        if fake.calls("conversations.history"):
            break
        await asyncio.sleep(0.02)
    # A's lease runs out while it looks; process B (its own in-flight set) sweeps.
    clock.advance(seconds=ctx.settings.send_lease_s + 1)
    process_b = dataclasses.replace(ctx, db=Database(ctx.settings.database_url))
    fake.inject("chat.postMessage", Latency(1.5))  # B's post lands after A has looked
    try:
        await outbox.deliver_due(process_b, only_keys=[row.key])
    finally:
        await process_b.db.dispose()
    await first
    posts = [m for m in fake.messages(CHANNEL) if not m.is_reply]
    assert len(posts) == 1, f"{len(posts)} copies of the question posted"
