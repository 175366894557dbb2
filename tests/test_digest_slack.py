"""The weekly digest posted to Slack: head, continuations in its thread, chart; exactly once
through faults, retries and restarts. Real HTTP to the fake Slack Web API, no mocks."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.domain.clock import ManualClock
from bot.domain.digest_render import render
from bot.domain.schedule import bank_holiday
from bot.platforms.slack.blocks import escape_mrkdwn
from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.digest_blocks import (
    MAX_BLOCKS,
    MESSAGE_TEXT_BUDGET,
    SECTION_LIMIT,
    digest_messages,
    slack_len,
)
from bot.platforms.slack.listeners.events import parse_message_event
from bot.platforms.slack.platform import CHART_FILENAME, SlackPlatform, post_key
from bot.scheduling.jobs import tick
from bot.services import outbox, schedules
from bot.services.ask import ask_and_deliver
from bot.services.context import Context, Platforms
from bot.services.digest import (
    build_channel_digest,
    digest_post,
    post_digest_now,
    window_ending,
)
from bot.services.reply_writer import apply_batch
from bot.store.db import Database
from bot.store.models import Post
from tests.fakes.slack_api import (
    DropAfterAccept,
    FakeMessage,
    FakeSlack,
    HttpError,
    Pass,
    RateLimit,
    SlackError,
)
from tests.platforms import only_platform

LONDON = ZoneInfo("Europe/London")
PEOPLE = {f"U{n:03d}": f"Person {n}" for n in range(40)}
PLATFORM_LOGGER = "bot.platforms.slack.platform"


class RecordingSleep:
    """Stands in for asyncio.sleep in the platform: Retry-After waits are checked, not waited."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def clock() -> ManualClock:
    # The fake stamps messages with the real time; keep the bot's clock near it.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(replies_page_size=200) as server:
        for uid, name in PEOPLE.items():
            server.add_user(uid, name.lower().replace(" ", ""), display_name=name)
        server.add_channel("C1", "leadership", members=PEOPLE)
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def ctx(fake: FakeSlack, make_context: Any, sqlite_url: str, sleep: RecordingSleep):
    context = await make_context(sqlite_url, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
    context.platforms = Platforms([SlackPlatform(build_web_client(context.settings), sleep=sleep)])
    return context


async def question_with_replies(ctx: Context, fake: FakeSlack, count: int) -> str:
    """Ask in C1; `count` people reply in its thread (read back by reconciliation)."""
    result = await ask_and_deliver(ctx, "C1")
    assert result.delivered and result.post.message_id
    for n in range(count):
        user = f"U{n % len(PEOPLE):03d}"
        text = f"Reply {n:03d} <&> " + " ".join(f"point{n}-{w}" for w in range(40))
        fake.add_message("C1", text, user=user, thread_ts=result.post.message_id)
    return result.post.message_id


def top_level(fake: FakeSlack) -> list[FakeMessage]:
    return [m for m in fake.messages("C1") if not m.is_reply]


def digest_heads(fake: FakeSlack) -> list[FakeMessage]:
    return [
        m for m in top_level(fake) if (post_key({"metadata": m.metadata}) or "").count("digest")
    ]


def keys_in(fake: FakeSlack, thread_ts: str) -> list[str | None]:
    return [post_key({"metadata": m.metadata}) for m in fake.replies("C1", thread_ts)]


def section_texts(message: FakeMessage) -> list[str]:
    texts = []
    for block in message.blocks or []:
        if block["type"] in ("section", "header"):
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts += [e.get("text", "") for e in block["elements"]]
    return texts


def within_limits(message: FakeMessage) -> bool:
    blocks = message.blocks or []
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    return (
        len(blocks) <= MAX_BLOCKS
        and all(slack_len(t) <= SECTION_LIMIT for t in sections)
        and sum(slack_len(t) for t in section_texts(message)) <= MESSAGE_TEXT_BUDGET
    )


async def digest_rows(ctx: Context) -> list[Post]:
    async with ctx.db.read() as session:
        query = select(Post).where(Post.kind == "digest").order_by(Post.id)
        return list((await session.scalars(query)).all())


def last_week(ctx: Context):
    return window_ending(ctx.clock() + timedelta(seconds=1), "Europe/London")


# ----------------------------------------------------------------------------- posting


async def test_a_short_digest_is_one_message_with_its_chart_in_the_thread(
    ctx: Context, fake: FakeSlack
) -> None:
    await question_with_replies(ctx, fake, 3)
    row, report = await post_digest_now(ctx, "C1", last_week(ctx), None)
    assert report.sent == [row.key]
    (head,) = digest_heads(fake)
    assert post_key({"metadata": head.metadata}) == row.key
    assert fake.replies("C1", head.ts) == []  # it all fitted in one message
    assert "3* replies from *3* people" in json.dumps(head.blocks)
    (chart,) = fake.files.values()
    assert (chart.completed, chart.channel, chart.thread_ts) == (True, "C1", head.ts)
    assert chart.filename == CHART_FILENAME and chart.data and chart.data.startswith(b"\x89PNG")
    assert chart.alt_txt and chart.alt_txt.startswith("Bar chart of people taking part")


async def test_a_long_digest_continues_in_its_thread_within_limits_with_every_reply(
    ctx: Context, fake: FakeSlack
) -> None:
    await question_with_replies(ctx, fake, 400)
    row, report = await post_digest_now(ctx, "C1", last_week(ctx), None)
    assert report.sent == [row.key]

    (head,) = digest_heads(fake)
    parts = fake.replies("C1", head.ts)
    assert len(parts) >= 5
    assert head.metadata["event_payload"] == {"key": row.key, "parts": len(parts) + 1}
    assert keys_in(fake, head.ts) == [f"{row.key}#{n}" for n in range(2, len(parts) + 2)]
    assert all(within_limits(m) for m in [head, *parts])
    assert "continued (2 of" in parts[0].text
    everything = "\n".join(t for m in [head, *parts] for t in section_texts(m))
    for n in range(400):
        text = f"Reply {n:03d} <&> " + " ".join(f"point{n}-{w}" for w in range(40))
        assert escape_mrkdwn(text) in everything, n
    (chart,) = fake.files.values()
    assert chart.thread_ts == head.ts


async def test_continuations_survive_500s_drops_and_rate_limits_without_duplicates(
    ctx: Context, fake: FakeSlack, sleep: RecordingSleep
) -> None:
    await question_with_replies(ctx, fake, 400)
    fake.inject(
        "chat.postMessage",
        Pass(),  # the head
        HttpError(500),  # part 2, first try: nothing stored
        DropAfterAccept(),  # part 2, second try: stored, answer lost
        RateLimit(retry_after=7),  # part 3: told to wait
    )
    row, report = await post_digest_now(ctx, "C1", last_week(ctx), None)
    assert report.sent == [row.key]
    (head,) = digest_heads(fake)
    keys = keys_in(fake, head.ts)
    assert keys == [f"{row.key}#{n}" for n in range(2, len(keys) + 2)]  # each once, in order
    assert fake.pending_faults("chat.postMessage") == 0
    assert [c.fault for c in fake.calls("chat.postMessage")][1:6] == [  # [0]: the question
        "Pass",
        "HttpError",
        "DropAfterAccept",
        "RateLimit",
        None,
    ]
    assert 7 in sleep.waits


async def test_a_part_that_cannot_be_posted_is_reported_in_the_thread_not_raised(
    ctx: Context, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    await question_with_replies(ctx, fake, 400)
    fake.inject("chat.postMessage", Pass(), SlackError("invalid_blocks"))
    row, report = await post_digest_now(ctx, "C1", last_week(ctx), None)
    assert report.sent == [row.key]  # the head is out: the outbox must not post it again
    (head,) = digest_heads(fake)
    keys = keys_in(fake, head.ts)
    assert f"{row.key}#2" not in keys and f"{row.key}#3" in keys
    assert keys[-1] == f"{row.key}#missing"
    notice = fake.replies("C1", head.ts)[-1].text
    assert "Parts 2 of" in notice and "leaderbot digest --channel C1 --since" in notice
    assert any("parts 2 of" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


async def test_a_failed_chart_upload_leaves_the_digest_posted(
    ctx: Context, fake: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    await question_with_replies(ctx, fake, 2)
    fake.inject("files.getUploadURLExternal", SlackError("missing_scope"))
    row, report = await post_digest_now(ctx, "C1", last_week(ctx), None)
    assert report.sent == [row.key] and len(digest_heads(fake)) == 1
    assert not any(f.completed for f in fake.files.values())
    assert any("chart" in r.getMessage() for r in caplog.records if r.name == PLATFORM_LOGGER)


@pytest.mark.parametrize("fault", [HttpError(500), DropAfterAccept()], ids=["500", "drop"])
async def test_a_head_that_fails_is_retried_and_never_duplicated(
    ctx: Context, fake: FakeSlack, fault: Any
) -> None:
    await question_with_replies(ctx, fake, 400)
    fake.inject("chat.postMessage", fault)
    row, report = await post_digest_now(ctx, "C1", last_week(ctx), None)
    assert fake.pending_faults("chat.postMessage") == 0
    assert report.sent + report.found == [row.key]
    (head,) = digest_heads(fake)
    (stored,) = await digest_rows(ctx)
    assert (stored.status, stored.message_id) == ("sent", head.ts)
    keys = keys_in(fake, head.ts)
    assert keys == [f"{row.key}#{n}" for n in range(2, len(keys) + 2)]
    assert len(fake.files) == 1


async def test_an_interrupted_digest_is_resumed_not_reposted(ctx: Context, fake: FakeSlack) -> None:
    """A crash after the head and part 2: the outbox does not count the digest as found, and
    posting it again adds only the missing parts."""
    await question_with_replies(ctx, fake, 400)
    slack = only_platform(ctx)
    assert isinstance(slack, SlackPlatform)
    content = digest_post(await build_channel_digest(ctx, "C1", last_week(ctx)))
    messages = digest_messages(content.digest)
    channel, head_ts = await slack.send("C1", messages[0], key="k", parts=len(messages))
    await slack.send(channel, messages[1], key="k#2", thread_ts=head_ts)
    since = content.digest.window.end

    partial = await slack.find_post("C1", "k", since)
    assert partial is not None and not partial.complete and partial.message_id == head_ts
    sent = await slack.post("C1", content, key="k")
    assert sent.message_id == head_ts and len(digest_heads_keyed(fake, "k")) == 1
    assert keys_in(fake, head_ts) == [f"k#{n}" for n in range(2, len(messages) + 1)]
    found = await slack.find_post("C1", "k", since)
    assert found is not None and found.complete and found.message_id == head_ts
    assert await slack.post("C1", content, key="k") == sent  # nothing more to do
    assert len(fake.replies("C1", head_ts)) == len(messages) - 1


def digest_heads_keyed(fake: FakeSlack, key: str) -> list[FakeMessage]:
    return [m for m in top_level(fake) if post_key({"metadata": m.metadata}) == key]


# ----------------------------------------------------------------------------- names


async def test_users_info_failure_falls_back_to_the_user_id(ctx: Context, fake: FakeSlack) -> None:
    result = await ask_and_deliver(ctx, "C1")
    q = result.post.message_id
    assert q
    fake.add_message("C1", "From a known person", user="U001", thread_ts=q)
    fake.add_message("C1", "From someone Slack cannot name", user="U404", thread_ts=q)
    fake.inject("users.info", HttpError(500))  # U001's look-up fails this once

    digest = await build_channel_digest(ctx, "C1", last_week(ctx))
    replies = json.loads(render(digest, "json"))["questions"][0]["replies"]
    assert [(r["user"], r["user_name"]) for r in replies] == [("U001", "U001"), ("U404", "U404")]

    _, report = await post_digest_now(ctx, "C1", last_week(ctx), None)
    assert report.sent
    (head,) = digest_heads(fake)
    assert "*Person 1*" in json.dumps(head.blocks)  # asked again: the failure was not cached
    assert "*U404*" in json.dumps(head.blocks)


# ----------------------------------------------------------------------------- scheduled


def last_friday_at_four() -> datetime:
    """The last Friday 16:00 (London) that is not a bank holiday: near the real time, as the
    fake stamps messages with it, but never one the holiday rules would move (Good Friday,
    Christmas), whatever today is."""
    now = datetime.now(LONDON)
    friday = (now - timedelta(days=(now.weekday() - 4) % 7)).replace(
        hour=16, minute=0, second=0, microsecond=0
    )
    if friday >= now - timedelta(minutes=5):
        friday -= timedelta(days=7)
    while bank_holiday("england-and-wales", friday.date()):
        friday -= timedelta(days=7)
    return friday


async def test_a_scheduled_digest_posts_once_across_ticks_and_a_restart(
    fake: FakeSlack, make_context: Any, sqlite_url: str, clock: ManualClock, caplog: Any
) -> None:
    caplog.set_level(logging.INFO)
    settings = {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_API_URL": fake.url}
    friday = last_friday_at_four()
    clock.set((friday - timedelta(days=2, hours=6)).astimezone(UTC))  # Wednesday 10:00
    first = await make_context(sqlite_url, **settings)
    first.platforms = Platforms([SlackPlatform.from_settings(first.settings)])
    await schedules.set_schedule(first, "C1", weekday=4, time="16:00", kind="digest")
    await question_with_replies(first, fake, 5)

    clock.set((friday + timedelta(seconds=30)).astimezone(UTC))
    await tick(first)
    await tick(first)
    (head,) = digest_heads(fake)

    # A restart: a new process on the same database, a new Slack client.
    second = await make_context(sqlite_url, **settings)
    second.platforms = Platforms([SlackPlatform.from_settings(second.settings)])
    await tick(second)
    clock.set((friday + timedelta(hours=1)).astimezone(UTC))
    await tick(second)

    assert digest_heads(fake) == [head]
    (row,) = await digest_rows(second)
    assert (row.status, row.message_id, row.occurrence) == ("sent", head.ts, friday.date())
    assert "5* replies from *5* people" in json.dumps(head.blocks)
    assert len(fake.files) == 1


# A long digest outlasting its send lease must not get its continuations twice.
async def test_a_digest_slower_than_its_lease_does_not_get_its_parts_twice(ctx, fake, clock):
    await question_with_replies(ctx, fake, 400)
    # Another process: its own platform client and its own database handle.
    other = dataclasses.replace(
        ctx,
        platforms=Platforms(
            [SlackPlatform(build_web_client(ctx.settings), sleep=RecordingSleep())]
        ),
        db=Database(ctx.settings.database_url),
    )
    swept = False

    async def slow_sleep(seconds: float) -> None:
        nonlocal swept
        if swept or not digest_heads(fake):
            return
        swept = True
        # Parts are rate limited: the wait takes the first sender past its lease, and a
        # sweep in another process runs meanwhile.
        clock.advance(seconds=ctx.settings.send_lease_s + 1)
        (row,) = await digest_rows(ctx)
        await outbox.deliver_due(other, only_keys=[row.key])

    only_platform(ctx)._sleep = slow_sleep
    try:
        await post_digest_now(ctx, "C1", last_week(ctx), None)
    finally:
        await other.db.dispose()
    assert swept
    (head,) = digest_heads(fake)
    keys = Counter(post_key({"metadata": m.metadata}) for m in fake.replies("C1", head.ts))
    twice = sorted(k for k, n in keys.items() if n > 1)
    assert not twice, f"continuations posted twice: {twice}"


# A digest whose head is in Slack but whose continuations are not is resumed, even past grace.
async def test_a_half_posted_digest_past_grace_is_not_recorded_as_missed(ctx, fake, clock):
    await question_with_replies(ctx, fake, 400)

    async def stop_after_head(seconds: float) -> None:
        if digest_heads(fake):
            raise RuntimeError("the sender stops here (a crash, a database hiccup)")

    real_sleep = only_platform(ctx)._sleep
    only_platform(ctx)._sleep = stop_after_head
    await post_digest_now(ctx, "C1", last_week(ctx), None)
    only_platform(ctx)._sleep = real_sleep
    assert len(digest_heads(fake)) == 1
    clock.advance(hours=ctx.settings.grace_hours, seconds=60)
    await outbox.deliver_due(ctx)
    (row,) = await digest_rows(ctx)
    assert row.status != "missed", f"posted head {digest_heads(fake)[0].ts} recorded as missed"


async def test_a_reply_typed_with_ampersands_and_angle_brackets_is_escaped_once_in_the_digest(
    sqlite_url: str, make_context: Any, clock: ManualClock
) -> None:
    """Slack sends message text with &, < and > as entities; the reply is stored as typed, so
    the Slack digest escapes it once and the exports carry the text people wrote."""
    ctx = await make_context(sqlite_url)
    asked = await ask_and_deliver(ctx, "C1")
    ts = asked.post.message_id
    assert ts
    # What Slack delivers when someone types:  R&D <matters>
    body = {
        "event_id": "Ev1",
        "team_id": "T1",
        "event": {
            "type": "message",
            "channel": "C1",
            "user": "U1",
            "ts": f"{float(ts) + 1:.6f}",
            "thread_ts": ts,
            "text": "R&amp;D &lt;matters&gt;",
        },
    }
    await apply_batch(ctx, [parse_message_event(body)])
    window = window_ending(clock() + timedelta(minutes=1), "Europe/London")
    digest = await build_channel_digest(ctx, "C1", window, reconcile=False)

    exported = json.loads(render(digest, "json"))["questions"][0]["replies"][0]["text"]
    assert exported == "R&D <matters>"
    shown = [
        block["text"]["text"]
        for message in digest_messages(digest)
        for block in message["blocks"]
        if block.get("type") == "section" and "matters" in block["text"]["text"]
    ]
    assert shown and all("&amp;amp;" not in text and "&amp;lt;" not in text for text in shown)
