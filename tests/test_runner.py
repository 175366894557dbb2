"""The scheduler wiring: jobs rebuilt from the database, catch-up at start, the console run."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.platforms.console.platform import ConsolePlatform
from bot.scheduling.runner import BotScheduler
from bot.services import schedules
from tests.platforms import only_platform

# APScheduler fires by the real clock: keep these tests' times in the future.
FUTURE = datetime(2030, 1, 16, 12, 0, tzinfo=UTC)  # a Wednesday


async def test_jobs_follow_the_database(sqlite_url, make_context, clock) -> None:
    clock.set(FUTURE)
    ctx = await make_context(sqlite_url)
    runner = BotScheduler(ctx, sweep_seconds=3600)
    await runner.start()
    try:
        await schedules.set_schedule(ctx, "general", weekday=0, time="09:00")
        assert runner._reload_task is not None
        await runner._reload_task
        # One job per due time: Monday's question, and the default Friday digest.
        assert runner.due_jobs() == {
            datetime(2030, 1, 21, 9, 0, tzinfo=UTC): 1,
            datetime(2030, 1, 18, 16, 0, tzinfo=UTC): 1,
        }
        job = runner.scheduler.get_job("due:2030-01-21T09:00:00+00:00")
        assert job is not None
        assert job.next_run_time == datetime(2030, 1, 21, 9, 0, tzinfo=UTC)

        await schedules.turn_off(ctx, "general")
        await runner._reload_task
        assert runner.scheduler.get_job("due:2030-01-21T09:00:00+00:00") is None
        assert runner.scheduler.get_job("sweep") is not None
    finally:
        await runner.shutdown()


async def test_start_catches_up_on_a_post_due_while_down(sqlite_url, make_context, clock):
    ctx = await make_context(sqlite_url)
    await schedules.set_schedule(ctx, "general", weekday=0, time="09:00")
    clock.set(datetime(2026, 1, 19, 11, 0, tzinfo=UTC))  # down over Monday 09:00
    runner = BotScheduler(ctx, sweep_seconds=3600)
    await runner.start()
    await runner.shutdown()
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform)
    assert await platform.latest_question("general") is not None


async def test_the_fired_job_posts_and_moves_to_next_week(sqlite_url, make_context, clock):
    clock.set(FUTURE)
    ctx = await make_context(sqlite_url)
    runner = BotScheduler(ctx, sweep_seconds=3600)
    await runner.start()
    try:
        await schedules.set_schedule(ctx, "general", weekday=0, time="09:00")
        await runner._reload_task
        clock.set(datetime(2030, 1, 21, 9, 0, 1, tzinfo=UTC))
        await runner._fire(datetime(2030, 1, 21, 9, 0, tzinfo=UTC))
        assert isinstance(only_platform(ctx), ConsolePlatform)
        assert await only_platform(ctx).latest_question("general") is not None
        job = runner.scheduler.get_job("due:2030-01-28T09:00:00+00:00")
        assert job.next_run_time == datetime(2030, 1, 28, 9, 0, tzinfo=UTC)
    finally:
        await runner.shutdown()


def test_console_run_replies_and_exits_cleanly_on_eof(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/run.db"
    out = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        input="hello before any question\n/ask Q3\nWe pay apprentices to learn.\n/ask Q99\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "No question has been posted yet" in out.stdout
    assert "Leadership question Q3" in out.stdout
    assert "reply recorded" in out.stdout
    assert "there is no Q99" in out.stdout
    assert out.stdout.rstrip().endswith("bye")
