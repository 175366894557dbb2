"""A digest whose threads could not be read back from the platform: retried, or marked.

Reconciliation reads each question thread back (`conversations.replies`) before a digest, to
catch replies whose events were lost. When that read fails, the digest is built from what is
stored, and it must say so: a scheduled digest is handed back to the outbox to try again within
its grace window, and if it is finally sent anyway it carries a visible "may be incomplete"
note; the CLI prints the warning and exits 1. Real HTTP to the fake Slack Web API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain.clock import ManualClock
from bot.domain.digest_render import render, summary_line
from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.platform import SlackPlatform, post_key
from bot.scheduling.jobs import tick
from bot.services import schedules
from bot.services.ask import ask_and_deliver
from bot.services.context import Context, Platforms
from bot.services.digest import build_channel_digest, incomplete_retry_s, window_ending
from bot.store.models import Post
from tests.fakes.slack_api import FakeMessage, FakeSlack, HttpError

LONDON = ZoneInfo("Europe/London")
PEOPLE = {"U1": "Ada", "U2": "Grace", "U3": "Alan"}
UNREADABLE = [HttpError(500)] * 200  # conversations.replies answers 500, call after call


class NoSleep:
    async def __call__(self, seconds: float) -> None:
        return None


@pytest.fixture
def clock() -> ManualClock:
    # The fake stamps messages with the real time; keep the bot's clock near it.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        for uid, name in PEOPLE.items():
            server.add_user(uid, name.lower(), display_name=name)
        server.add_channel("C1", "leadership", members=PEOPLE)
        yield server


@pytest.fixture
async def ctx(fake: FakeSlack, make_context: Any, database_url: str) -> Context:
    context = await make_context(
        database_url, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url
    )
    context.platforms = Platforms(
        [SlackPlatform(build_web_client(context.settings), sleep=NoSleep())]
    )
    return context


async def question_with_replies(ctx: Context, fake: FakeSlack, count: int) -> str:
    """Ask in C1; people reply in Slack, and no event of theirs reached the bot."""
    result = await ask_and_deliver(ctx, "C1")
    assert result.delivered and result.post.message_id
    for n in range(count):
        fake.add_message("C1", f"Reply {n}", user=f"U{n % 3 + 1}", thread_ts=result.post.message_id)
    return result.post.message_id


def digest_heads(fake: FakeSlack) -> list[FakeMessage]:
    return [
        m
        for m in fake.messages("C1")
        if not m.is_reply and "digest" in (post_key({"metadata": m.metadata}) or "")
    ]


async def digest_row(ctx: Context) -> Post:
    async with ctx.db.read() as session:
        (row,) = (await session.scalars(select(Post).where(Post.kind == "digest"))).all()
        return row


def last_friday_at_four() -> datetime:
    now = datetime.now(LONDON)
    friday = (now - timedelta(days=(now.weekday() - 4) % 7)).replace(
        hour=16, minute=0, second=0, microsecond=0
    )
    return friday if friday < now - timedelta(minutes=5) else friday - timedelta(days=7)


async def scheduled_digest_due(ctx: Context, fake: FakeSlack, clock: ManualClock) -> datetime:
    """A Friday 16:00 digest schedule, a question with three replies, the clock at 16:00:30."""
    friday = last_friday_at_four()
    clock.set((friday - timedelta(days=2, hours=6)).astimezone(UTC))  # Wednesday 10:00
    await schedules.set_schedule(ctx, "C1", weekday=4, time="16:00", kind="digest")
    await question_with_replies(ctx, fake, 3)
    clock.set((friday + timedelta(seconds=30)).astimezone(UTC))
    return friday


async def test_a_digest_whose_thread_cannot_be_read_says_it_may_be_incomplete(
    ctx: Context, fake: FakeSlack
) -> None:
    await question_with_replies(ctx, fake, 2)
    fake.inject("conversations.replies", *UNREADABLE)
    window = window_ending(ctx.clock() + timedelta(seconds=1), "Europe/London")
    digest = await build_channel_digest(ctx, "C1", window)
    assert (digest.complete, digest.unread_threads) == (False, 1)
    assert "may be incomplete: 1 thread could not be read" in summary_line(digest)
    for fmt in ("markdown", "text", "html"):
        assert "may be incomplete" in render(digest, fmt), fmt  # type: ignore[arg-type]
    data = json.loads(render(digest, "json"))
    assert (data["complete"], data["unread_threads"]) == (False, 1)

    fake.clear_faults()
    digest = await build_channel_digest(ctx, "C1", window)
    assert digest.complete and digest.reply_count == 2
    assert "incomplete" not in summary_line(digest)
    assert json.loads(render(digest, "json"))["complete"] is True


async def test_a_scheduled_digest_whose_reconciliation_failed_is_retried_not_sent_silently(
    ctx: Context, fake: FakeSlack, clock: ManualClock
) -> None:
    await scheduled_digest_due(ctx, fake, clock)
    fake.inject("conversations.replies", *UNREADABLE)
    await tick(ctx)
    assert digest_heads(fake) == []  # not sent without the replies it could not read
    row = await digest_row(ctx)
    assert row.status == "pending" and row.retry_at is not None
    assert "could not be read" in (row.error or "")

    fake.clear_faults()  # Slack answers again before the retry
    clock.advance(seconds=incomplete_retry_s(ctx) + 1)
    await tick(ctx)
    (head,) = digest_heads(fake)
    blocks = json.dumps(head.blocks)
    assert "3* replies from *3* people" in blocks and "incomplete" not in blocks
    assert (await digest_row(ctx)).status == "sent"


async def test_a_digest_still_unreadable_after_its_retries_is_sent_saying_it_may_be_incomplete(
    ctx: Context, fake: FakeSlack, clock: ManualClock
) -> None:
    friday = await scheduled_digest_due(ctx, fake, clock)
    fake.inject("conversations.replies", *UNREADABLE)
    for _ in range(10):
        await tick(ctx)
        if digest_heads(fake):
            break
        clock.advance(seconds=incomplete_retry_s(ctx) + 1)
    (head,) = digest_heads(fake)
    assert "may be incomplete: 1 thread could not be read" in json.dumps(head.blocks)
    row = await digest_row(ctx)
    assert row.status == "sent"
    # Sent within its grace window, not recorded as missed.
    assert row.sent_at is not None
    assert row.sent_at - friday < timedelta(hours=ctx.settings.grace_hours)
