"""Review: a rate-limited look-up after a dropped connection lets the outbox post again
without looking.

In `_deliver_one`'s loop the look-before-repost only happens when the *previous* error was
DeliveryUnknown. If that look-up is itself rate limited (conversations.history answers 429
more times than SlackPlatform's bounded read loop waits out), `last_error` becomes
RateLimited, and the next attempt posts straight away: the first copy (accepted, answer lost)
plus a second one.
"""

from __future__ import annotations

from bot.platforms.slack.platform import READ_ATTEMPTS
from bot.services.ask import ask_and_deliver
from tests.fakes.slack_api import DropAfterAccept, RateLimit

CHANNEL = "C0LEADERS"


async def test_a_rate_limited_look_up_does_not_lead_to_a_blind_repost(
    fake, sqlite_url, slack_context
):
    ctx = await slack_context(sqlite_url)
    fake.inject("chat.postMessage", DropAfterAccept())  # stored, answer lost
    fake.inject("conversations.history", *[RateLimit(0.01)] * READ_ATTEMPTS)
    await ask_and_deliver(ctx, CHANNEL)
    posts = [m for m in fake.messages(CHANNEL) if not m.is_reply]
    assert len(posts) == 1, f"{len(posts)} copies of the question posted"
