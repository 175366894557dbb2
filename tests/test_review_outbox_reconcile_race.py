"""Review: a reply stored while a thread is being reconciled is deleted by the reconciliation.

reconcile_thread reads the thread from Slack first, then (later, in its write transaction)
deletes every stored reply that was not in what it read. A reply posted, and stored from its
event, between the read and the write is not in the snapshot, so it is deleted: it misses the
digest being built and stays gone (only this week's threads are reconciled again, at start).
"""

from __future__ import annotations

from sqlalchemy import select

from bot.platforms.slack.platform import SlackPlatform
from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_thread
from bot.store.models import Reply
from tests.conftest import make_settings
from tests.fakes.slack_api import FakeSlack
from tests.replies import record_reply, reply_change

CHANNEL = "C0LEADERS"


class ReplyDuringRead(SlackPlatform):
    """Slack as it is: someone replies (and the event is stored) just after the thread read."""

    ctx = None
    fake: FakeSlack

    async def fetch_thread(self, channel_id, thread_ts):
        messages = await super().fetch_thread(channel_id, thread_ts)
        late = self.fake.add_message(channel_id, "just in time", user="U2", thread_ts=thread_ts)
        await record_reply(self.ctx, reply_change(channel_id, thread_ts, late.ts, "U2", late.text))
        return messages


async def test_a_reply_stored_during_reconciliation_survives(fake, sqlite_url, make_context):
    settings = make_settings(SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
    async with ReplyDuringRead.pooled(settings) as platform:
        platform.fake = fake
        ctx = await make_context(
            sqlite_url, platform=platform, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url
        )
        platform.ctx = ctx
        asked = await ask_and_deliver(ctx, CHANNEL)
        await reconcile_thread(ctx, asked.post)
        async with ctx.db.read() as session:
            texts = (await session.scalars(select(Reply.text))).all()
        assert texts == ["just in time"], "a live reply was deleted by reconciliation"
