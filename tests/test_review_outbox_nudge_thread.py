"""Review: a post made *into a thread* (a nudge) must not be posted twice after a dropped
connection. The outbox looks for it with `find_post(channel, key, since)` and no thread, and
Slack's conversations.history does not list thread replies, so the look never finds it."""

from __future__ import annotations

from bot.services import outbox
from bot.services.ask import ask_and_deliver
from tests.fakes.slack_api import DropAfterAccept

CHANNEL = "C0LEADERS"


async def test_a_nudge_dropped_after_accept_is_not_posted_twice(fake, sqlite_url, slack_context):
    ctx = await slack_context(sqlite_url)
    asked = await ask_and_deliver(ctx, CHANNEL)
    assert asked.delivered and asked.post.message_id
    await outbox.enqueue(
        ctx,
        key=f"nudge:{asked.post.key}",
        kind="nudge",
        channel_id=CHANNEL,
        due_at=ctx.clock(),
        question_id=asked.post.question_id,
        thread_id=asked.post.message_id,
    )
    fake.inject("chat.postMessage", DropAfterAccept())  # stored, answer lost
    report = await outbox.deliver_due(ctx)
    assert report.sent or report.found
    nudges = [m for m in fake.replies(CHANNEL, asked.post.message_id) if m.bot_id]
    assert len(nudges) == 1, f"{len(nudges)} nudges in the thread"
