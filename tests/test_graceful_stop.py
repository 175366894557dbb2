"""A normal stop mid-job: `leaderbot run` given SIGTERM during a fan-out to a slow Slack waits
for the posts in flight (up to LEADERBOT_SHUTDOWN_GRACE_SECONDS), then cancels what is left
with one line; either way no traceback in its log, and after a restart every channel has
exactly one post."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.clock import ManualClock
from bot.services.ask import ask_now
from tests.fakes import eventually
from tests.fakes.slack_api import FakeSlack, Latency
from tests.run_process import start_run

FANOUT = 20
LATE = "C0LATE"  # asked while the bot is stopped: its post shows a restarted bot has swept


@pytest.fixture
def clock() -> ManualClock:
    # Now, so that the questions asked here are due (and within their grace) for a real process.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def _channels() -> list[str]:
    return [f"C0STOP{i:03d}" for i in range(FANOUT)]


def _posts(fake: FakeSlack, channels: list[str]) -> dict[str, int]:
    return {ch: sum(1 for m in fake.messages(ch) if not m.is_reply) for ch in channels}


def _statuses(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("select channel_id, status from posts").fetchall())


def _env(fake: FakeSlack, db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    return env | {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": fake.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "LEADERBOT_PORT": "0",
        "LEADERBOT_SWEEP_SECONDS": "1",
        **extra,
    }


async def _ask(slack_context, db: Path, channels: list[str]) -> None:
    ctx = await slack_context(f"sqlite+aiosqlite:///{db}")
    for channel in channels:
        await ask_now(ctx, channel)
    await ctx.db.dispose()


async def _stop_mid_fanout(
    fake: FakeSlack, slack_context, tmp_path: Path, *, hold_s: float, **extra: str
) -> tuple[Path, dict[str, str], str]:
    """A question due in each of FANOUT channels, every post held `hold_s` by Slack; the bot
    is sent SIGTERM with half of them in flight (in its sweep job). Returns the database, the
    environment and the first run's log; the run has exited 0."""
    db = tmp_path / "bot.db"
    for channel in [*_channels(), LATE]:
        fake.add_channel(channel, channel.lower())
    fake.inject("chat.postMessage", *[Latency(hold_s)] * FANOUT)
    env = _env(fake, db, **extra)
    first = await start_run(env, tmp_path, "first.log")
    try:

        async def serving() -> bool:
            return "serving slack" in (tmp_path / "first.log").read_text()

        await eventually(serving, within=30, what="the bot serving")
        # Asked now, so the bot's sweep job (not its catch-up at start) fans them out.
        await _ask(slack_context, db, _channels())

        async def in_flight() -> bool:
            return len(fake.calls("chat.postMessage")) >= FANOUT // 2

        await eventually(in_flight, within=30, what="posts in flight")
        assert sum(_posts(fake, _channels()).values()) == 0  # all still held by Slack
    finally:
        first.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(first.wait(), 30)
    log = (tmp_path / "first.log").read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert "CancelledError" not in log, log
    return db, env, log


async def _restart_until_swept(
    fake: FakeSlack, slack_context, tmp_path: Path, db: Path, env: dict[str, str]
) -> str:
    """Restart; ask once more (in LATE) and wait for that post, and every fan-out channel
    recorded sent: the restarted bot has swept at least once. Returns its log."""
    await _ask(slack_context, db, [LATE])
    second = await start_run(env, tmp_path, "second.log")
    try:

        async def swept() -> bool:
            statuses = _statuses(db)
            return _posts(fake, [LATE]) == {LATE: 1} and set(statuses.values()) == {"sent"}

        await eventually(swept, within=40, every=0.1, what="the restarted bot's sweep")
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 30)
    log = (tmp_path / "second.log").read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    return log


async def test_sigterm_mid_fanout_waits_for_the_posts_in_flight_without_a_traceback(
    fake, slack_context, tmp_path
) -> None:
    db, env, log = await _stop_mid_fanout(fake, slack_context, tmp_path, hold_s=2)
    assert "waiting up to 8 s for 1 running job(s)" in log
    assert "cancelled" not in log
    # Waited for: every post landed and was recorded before the process ended.
    assert _posts(fake, _channels()) == dict.fromkeys(_channels(), 1)
    assert set(_statuses(db).values()) == {"sent"}
    await _restart_until_swept(fake, slack_context, tmp_path, db, env)
    assert _posts(fake, _channels()) == dict.fromkeys(_channels(), 1)  # nothing again


async def test_sigterm_beyond_the_grace_cancels_quietly_and_a_restart_posts_each_once(
    fake, slack_context, tmp_path
) -> None:
    db, env, log = await _stop_mid_fanout(
        fake, slack_context, tmp_path, hold_s=4, LEADERBOT_SHUTDOWN_GRACE_SECONDS="1"
    )
    [line] = [line for line in log.splitlines() if "cancelled" in line]
    assert "1 job(s) still running after 1 s" in line
    assert "sending" in _statuses(db).values()  # cut short: claims left for the next start
    fake.clear_faults()
    await _restart_until_swept(fake, slack_context, tmp_path, db, env)
    # The posts that were in flight landed; the restart looked before posting: each once.
    assert _posts(fake, _channels()) == dict.fromkeys(_channels(), 1)
