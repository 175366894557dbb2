"""Issue 2's acceptance on Slack: exactly one question (or nudge) through 429s, dropped
connections, 5xx, lapsed leases, a second process, and a kill -9 between send and record."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.schedule import DAY_NAMES, NATIONS, bank_holiday
from bot.platforms.slack.platform import READ_ATTEMPTS
from bot.services import outbox
from bot.services.ask import ask_and_deliver, ask_now
from bot.store.db import Database
from tests.fakes import eventually
from tests.fakes.slack_api import DropAfterAccept, FakeSlack, HttpError, Latency, RateLimit
from tests.run_process import start_run

CHANNEL = "C0LEADERS"


def questions_in(fake: FakeSlack) -> list[str]:
    """Top-level question posts in the channel (tagged with a question outbox key)."""
    return [
        m.text
        for m in fake.messages(CHANNEL)
        if not m.is_reply
        and (m.metadata or {})
        .get("event_payload", {})
        .get("key", "")
        .startswith(("ask:", "question:"))
    ]


@pytest.fixture
async def slack_ctx(database_url: str, slack_context):
    return await slack_context(database_url)


async def test_ask_posts_exactly_one_tagged_question(slack_ctx, fake) -> None:
    result = await ask_and_deliver(slack_ctx, CHANNEL)
    assert result.delivered
    [call] = fake.calls("chat.postMessage")
    assert call.body["metadata"]["event_payload"]["key"] == result.post.key
    assert call.body.get("unfurl_links") in (False, "false", "0", 0)
    assert result.post.link and result.post.message_id
    assert len(questions_in(fake)) == 1


async def test_429s_are_waited_out_and_post_once(slack_ctx, fake) -> None:
    fake.inject("chat.postMessage", RateLimit(0.2), RateLimit(0.2))
    result = await ask_and_deliver(slack_ctx, CHANNEL)
    assert result.delivered
    assert len(fake.calls("chat.postMessage")) == 3
    assert len(questions_in(fake)) == 1


async def test_connection_dropped_after_accept_does_not_duplicate(slack_ctx, fake) -> None:
    fake.inject("chat.postMessage", DropAfterAccept())
    result = await ask_and_deliver(slack_ctx, CHANNEL)
    assert result.delivered and result.report.found == [result.post.key]
    assert len(fake.calls("chat.postMessage")) == 1  # looked, found it, did not re-post
    assert len(questions_in(fake)) == 1


async def test_server_errors_are_retried_once_delivered(slack_ctx, fake) -> None:
    fake.inject("chat.postMessage", HttpError(500), HttpError(503))
    result = await ask_and_deliver(slack_ctx, CHANNEL)
    assert result.delivered and result.report.sent == [result.post.key]
    assert len(questions_in(fake)) == 1


async def test_a_channel_that_does_not_exist_fails_clearly(slack_ctx, fake) -> None:
    result = await ask_and_deliver(slack_ctx, "C0NOPE")
    assert not result.delivered
    assert result.post.status == "failed"
    assert "channel" in (result.post.error or "").lower()


def top_level_posts(fake: FakeSlack) -> list[str]:
    return [m.text for m in fake.messages(CHANNEL) if not m.is_reply]


async def test_a_send_that_outlives_its_lease_is_not_posted_twice(
    fake, sqlite_url, slack_context, clock
) -> None:
    """A sweep that finds the lease run out while chat.postMessage is still in flight (waiting
    on the gate, the pacer, Retry-After or a slow Slack) must not post a second copy."""
    ctx = await slack_context(sqlite_url)
    row = await ask_now(ctx, CHANNEL)
    fake.inject("chat.postMessage", Latency(1.5))  # the first send is slow
    first = asyncio.create_task(outbox.deliver_due(ctx, only_keys=[row.key]))

    async def first_send_in_flight() -> bool:
        return bool(fake.calls("chat.postMessage"))

    await eventually(first_send_in_flight, within=2)
    # The send is still running when its lease (default 120 s) runs out; a sweep runs.
    clock.advance(seconds=ctx.settings.send_lease_s + 1)
    await outbox.deliver_due(ctx, only_keys=[row.key])
    await first
    posts = top_level_posts(fake)
    assert len(posts) == 1, f"{len(posts)} copies of the question posted"


async def test_a_look_up_that_outlives_the_lease_does_not_lead_to_a_second_post(
    fake, sqlite_url, slack_context, clock
) -> None:
    """A look-up (rate-limit waits, many pages) can outlast the lease; another process then
    takes the row over and posts. The first sender must not post after its look either."""
    ctx = await slack_context(sqlite_url)
    row = await ask_now(ctx, CHANNEL)
    # First claim: a long 429, nothing posted; handed back (attempts = 1, so next: look).
    fake.inject("chat.postMessage", RateLimit(31))
    report = await outbox.deliver_due(ctx, only_keys=[row.key])
    assert report.deferred == [row.key]
    clock.advance(seconds=32)

    # Process A: its look-up is slow.
    fake.inject("conversations.history", Latency(1.0))
    first = asyncio.create_task(outbox.deliver_due(ctx, only_keys=[row.key]))

    async def look_up_in_flight() -> bool:
        return bool(fake.calls("conversations.history"))

    await eventually(look_up_in_flight, within=2)
    # A's lease runs out while it looks; process B (its own in-flight set) sweeps.
    clock.advance(seconds=ctx.settings.send_lease_s + 1)
    process_b = dataclasses.replace(ctx, db=Database(ctx.settings.database_url))
    fake.inject("chat.postMessage", Latency(1.5))  # B's post lands after A has looked
    try:
        await outbox.deliver_due(process_b, only_keys=[row.key])
    finally:
        await process_b.db.dispose()
    await first
    posts = top_level_posts(fake)
    assert len(posts) == 1, f"{len(posts)} copies of the question posted"


async def test_a_rate_limited_look_up_after_a_lost_answer_does_not_post_blind(
    fake, sqlite_url, slack_context
) -> None:
    """Slack took the post but the answer was lost; the look-up for it is then rate limited
    beyond the platform's bounded waits. The next attempt must look again, not post."""
    ctx = await slack_context(sqlite_url)
    fake.inject("chat.postMessage", DropAfterAccept())  # stored, answer lost
    fake.inject("conversations.history", *[RateLimit(0.01)] * READ_ATTEMPTS)
    await ask_and_deliver(ctx, CHANNEL)
    posts = top_level_posts(fake)
    assert len(posts) == 1, f"{len(posts)} copies of the question posted"


async def test_a_nudge_whose_answer_is_lost_is_found_in_its_thread_not_posted_twice(
    fake, sqlite_url, slack_context
) -> None:
    """A post made into a thread is looked for in that thread (conversations.history does not
    list thread replies), so a dropped answer does not lead to a second nudge."""
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


# -- real processes ---------------------------------------------------------------------------


def _env(fake: FakeSlack, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    return env | {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": fake.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "LEADERBOT_PORT": "0",
        **extra,
    }


async def _cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_cli_ask_through_faults_posts_once(fake, tmp_path: Path) -> None:
    env = _env(fake, tmp_path / "bot.db")
    fake.inject("chat.postMessage", RateLimit(0.1), DropAfterAccept())
    code, out, err = await _cli(env, tmp_path, "ask", "--channel", CHANNEL)
    assert code == 0, err
    assert f"posted Q1 to {CHANNEL}" in out
    assert len(questions_in(fake)) == 1


def _db_status(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("select key, status from posts where kind='question'").fetchall()


async def test_kill_9_between_send_and_record_then_restart_posts_once(fake, tmp_path) -> None:
    """`leaderbot run` posts a due question; Slack accepts it, and the process is killed before
    it records the post as sent. The restarted bot finds the tagged message and records it."""
    db = tmp_path / "bot.db"
    env = _env(fake, db, LEADERBOT_SEND_LEASE_SECONDS="1", LEADERBOT_SWEEP_SECONDS="0.5")
    zone = ZoneInfo("Europe/London")
    due = datetime.now(zone) - timedelta(minutes=2)
    nation = next((n for n in NATIONS if not bank_holiday(n, due.date())), None)
    if nation is None:
        pytest.skip("a bank holiday in every UK nation today: the post would move")
    code, _, err = await _cli(
        env,
        tmp_path,
        "schedule",
        "--channel",
        CHANNEL,
        "--day",
        DAY_NAMES[due.weekday()],
        "--time",
        due.strftime("%H:%M"),
        "--nation",
        nation,
    )
    assert code == 0, err
    with sqlite3.connect(db) as conn:  # the schedule was set an hour ago: this week is due
        conn.execute("update schedules set updated_at = datetime('now', '-1 hour')")

    # Slack accepts the post; the look-up of the workspace's URL that follows (auth.test, for
    # the permalink, once per process) hangs, so the process is caught after the send and
    # before the record.
    fake.inject("auth.test", Latency(60))
    first = await start_run(env, tmp_path, "first.log")
    try:

        async def posted() -> bool:
            return len(questions_in(fake)) == 1 and bool(fake.calls("auth.test"))

        await eventually(posted, within=30)
        assert [s for _, s in _db_status(db)] == ["sending"]
    finally:
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), 10)
    fake.clear_faults()

    second = await start_run(env, tmp_path, "second.log")
    try:

        async def recorded() -> bool:
            return [s for _, s in _db_status(db)] == ["sent"]

        await eventually(recorded, within=30)
        # And it stays once: another sweep or two changes nothing.
        sweeps = len(fake.calls("conversations.history"))
        await eventually(
            lambda: _later(fake, sweeps),
            within=10,
            what="more API traffic after the record, with still one chat.postMessage",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 15)
        assert code == 0, (tmp_path / "second.log").read_text()
    assert len(questions_in(fake)) == 1
    assert len(fake.calls("chat.postMessage")) == 1


async def _later(fake: FakeSlack, calls_before: int) -> bool:
    # Any API traffic after recording shows the bot kept running; posts must not grow.
    return len(fake.calls()) > calls_before and len(fake.calls("chat.postMessage")) == 1


async def test_cli_refuses_a_channel_name_on_slack(fake, tmp_path: Path) -> None:
    env = _env(fake, tmp_path / "bot.db")
    code, _, err = await _cli(env, tmp_path, "ask", "--channel", "leadership-team")
    assert code == 2 and "not a Slack channel ID" in err
    assert fake.calls("chat.postMessage") == []
