"""Small things the hardening issue found: argument checks, time zone labels, outage logging."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.clock import ManualClock
from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.platform import SlackPlatform, post_key
from bot.port import PlatformError
from bot.scheduling import jobs, runner
from bot.scheduling.runner import BotScheduler
from bot.services import schedules
from bot.services.ask import ask_and_deliver
from bot.services.context import Context, Platforms
from tests.fakes.slack_api import FakeSlack

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def run(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    return call


# ----------------------------------------------------------------------------- arguments


def test_nudge_days_0_is_refused_like_the_help_says_1_to_6(run) -> None:
    out = run("schedule", "--channel", "console", "--day", "mon", "--time", "09:00")
    assert out.returncode == 0, out.stderr
    out = run(
        "schedule", "--channel", "console", "--day", "mon", "--time", "09:00", "--nudge-days", "0"
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "1-6" in out.stderr
    out = run(
        "schedule", "--channel", "console", "--day", "mon", "--time", "09:00", "--nudge-days", "off"
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("given", ["3", "q3", "Q3"])
def test_question_3_means_q3(run, given: str) -> None:
    out = run("ask", "--channel", "console", "--question", given)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "posted Q3 to console" in out.stdout


# ----------------------------------------------------------------------------- time zones


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user("U1", "ada", display_name="Ada")
        server.add_channel("C1", "leadership", members={"U1": "Ada"})
        yield server


@pytest.mark.parametrize("month", [1, 7])  # GMT in winter, BST in summer
async def test_a_posted_digest_says_gmt_or_bst_not_utc(
    fake: FakeSlack, make_context: Any, sqlite_url: str, clock: ManualClock, month: int
) -> None:
    ctx = await make_context(sqlite_url, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
    ctx.platforms = Platforms([SlackPlatform(build_web_client(ctx.settings))])
    # A Friday in that month of last year: 16:00 local is GMT or BST.
    friday = datetime(datetime.now().year - 1, month, 1, 16, 0, tzinfo=LONDON)
    friday += timedelta(days=(4 - friday.weekday()) % 7)
    clock.set((friday - timedelta(days=2)).astimezone(UTC))
    await schedules.set_schedule(ctx, "C1", weekday=4, time="16:00", kind="digest")
    result = await ask_and_deliver(ctx, "C1")
    assert result.delivered
    clock.set((friday + timedelta(seconds=30)).astimezone(UTC))
    await jobs.tick(ctx)
    (head,) = [
        m for m in fake.messages("C1") if "digest" in (post_key({"metadata": m.metadata}) or "")
    ]
    blocks = json.dumps(head.blocks)
    label = "GMT" if month == 1 else "BST"
    assert f"16:00 {label}" in blocks
    assert "UTC" not in blocks


# ----------------------------------------------------------------------------- outages


async def test_slack_unreachable_logs_one_line_with_backoff_not_a_traceback_each_sweep(
    make_context: Any, sqlite_url: str, caplog: Any, monkeypatch: Any
) -> None:
    ctx: Context = await make_context(sqlite_url)
    calls = 0

    async def unreachable(_ctx: Context) -> None:
        nonlocal calls
        calls += 1
        raise PlatformError("Cannot connect to host slack.com:443")

    monkeypatch.setattr(jobs, "tick", unreachable)
    scheduler = BotScheduler(ctx, sweep_seconds=10)
    await scheduler.rebuild()
    caplog.set_level(logging.INFO, logger=runner.__name__)
    for _ in range(5):
        await scheduler._sweep()
    assert calls == 1  # backed off: the next sweeps wait
    (record,) = [r for r in caplog.records if r.name == runner.__name__]
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert "PlatformError: Cannot connect to host slack.com:443" in record.getMessage()
    assert "next try in 10 s" in record.getMessage()

    # Past the pause it tries again, and waits twice as long after a second failure.
    scheduler._backoff["sweep"].until = 0.0
    await scheduler._sweep()
    assert calls == 2 and "next try in 20 s" in caplog.records[-1].getMessage()


async def test_a_genuine_bug_in_the_sweep_keeps_its_traceback(
    make_context: Any, sqlite_url: str, caplog: Any, monkeypatch: Any
) -> None:
    ctx: Context = await make_context(sqlite_url)

    async def bug(_ctx: Context) -> None:
        raise KeyError("payload")

    monkeypatch.setattr(jobs, "tick", bug)
    scheduler = BotScheduler(ctx, sweep_seconds=10)
    await scheduler.rebuild()
    caplog.set_level(logging.INFO, logger=runner.__name__)
    await scheduler._sweep()
    await scheduler._sweep()
    records = [r for r in caplog.records if r.name == runner.__name__]
    assert len(records) == 2 and all(r.exc_info for r in records)


@pytest.mark.parametrize("command", ["export", "forget"])
def test_an_empty_user_is_refused_in_one_line(command: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", command, "--user", ""],
        env={k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
        | {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not a user ID" in result.stderr


def test_empty_settings_from_env_example_mean_not_set(tmp_path: Path) -> None:
    """A copy of .env.example (empty SLACK_* lines) runs the console, not Slack with an
    empty token."""
    (tmp_path / ".env").write_text(
        (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    check = (
        "from bot.settings import Settings; s = Settings(); "
        "print(s.slack_configured, s.teams_configured, s.socket_mode)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "False"]
