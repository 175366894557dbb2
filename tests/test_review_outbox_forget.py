"""Review: `leaderbot forget --user` is undone by the next reconciliation.

forget_user deletes the user's rows, but their messages are still in the Slack thread, and
reconcile_thread (run before every digest and at start) adds every thread message it does not
hold. So the erased replies come straight back and go out in the next digest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_thread
from bot.services.digest import build_channel_digest, window_ending
from bot.services.privacy import forget_user
from bot.store.models import Reply
from tests.fakes.slack_api import FakeSlack

CHANNEL = "C0LEADERS"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        slack.add_channel(CHANNEL, "leadership-team")
        slack.add_user("U1", "priya")
        yield slack


async def test_forgotten_replies_do_not_come_back(fake, sqlite_url, slack_context, clock):
    ctx = await slack_context(sqlite_url)
    asked = await ask_and_deliver(ctx, CHANNEL)
    assert asked.post.message_id
    fake.add_message(CHANNEL, "my personal view", user="U1", thread_ts=asked.post.message_id)
    await reconcile_thread(ctx, asked.post)

    erased = await forget_user(ctx, "U1")
    assert erased.replies == 1

    # The next digest reconciles the thread first.
    window = window_ending(clock() + timedelta(minutes=1), "Europe/London")
    digest = await build_channel_digest(ctx, CHANNEL, window)
    async with ctx.db.read() as session:
        stored = (await session.scalars(select(Reply).where(Reply.user_id == "U1"))).all()
    assert stored == [], "erased replies were stored again"
    assert digest.reply_count == 0, "erased replies went out in the digest"
