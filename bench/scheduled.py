"""bench/scheduled: 1,000 channels whose weekly question is due at the same minute, through the
real scheduler path, against the fake Slack at 50 ms per call.

    python -m bench.scheduled [--channels 1000] [--latency 0.05] [--lead 3]

`BotScheduler` is started as `leaderbot run` starts it (its sweep included) and builds its
due-time job from the database; the job is then moved to fire `--lead` seconds from now, and
the bot's clock is shifted so that, when it fires, the clock reads exactly the due minute (no
waiting for a real minute boundary). Everything else is as in production: the job's one
planning pass, the outbox's delivery, SQLite in a temporary directory, a pooled Slack client.

Prints: channels, the time to record the rows (the planning pass, and its one insert), the
first and last post after the due minute (stamped by the fake Slack when it stores each
message), duplicates, lost posts, the cost of a sweep once everything is recorded (it plans
every schedule again), and peak RSS. Target: last post under 5 s after the due
minute, 0 duplicates, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench._support import peak_rss_mb, temp_context
from bot.scheduling import jobs
from bot.scheduling.runner import BotScheduler
from bot.services import outbox, schedules
from bot.store.models import Post
from tests.fakes.slack_api import FakeSlack

DUE = datetime(2030, 1, 21, 9, 0, tzinfo=UTC)  # a Monday, 09:00 Europe/London (GMT)


def _timed(fn: Any, into: list[float]) -> Any:
    """Wrap `fn`, appending the duration of each call that returned something."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = await fn(*args, **kwargs)
        if result:
            into.append(time.perf_counter() - started)
        return result

    wrapper.__name__ = getattr(fn, "__name__", "timed")
    return wrapper


async def run(channels: int, latency: float, lead: float, wait_s: float) -> dict[str, float]:
    planning_s: list[float] = []
    insert_s: list[float] = []
    # Time the question planner and the outbox insert as the job calls them.
    jobs.PLANNERS = tuple(  # type: ignore[misc]
        _timed(p, planning_s) if p.__name__ == "plan_questions" else p for p in jobs.PLANNERS
    )
    outbox.enqueue_many = _timed(outbox.enqueue_many, insert_s)  # type: ignore[assignment]

    async with FakeSlack() as fake:  # no latency while setting up
        ids = [f"C{n:06d}" for n in range(channels)]
        for cid in ids:
            fake.add_channel(cid)
        async with temp_context(SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url) as ctx:
            ctx.clock = lambda: DUE - timedelta(hours=1)  # set up just before
            for cid in ids:
                await schedules.set_schedule(ctx, cid, weekday=0, time="09:00")
            fake.latency = latency
            fake.clear_calls()

            # From here the bot's clock runs in real time, reading DUE `lead` s from now.
            fire_real = datetime.now(UTC) + timedelta(seconds=lead)
            offset = DUE - fire_real
            ctx.clock = lambda: datetime.now(UTC) + offset
            runner = BotScheduler(ctx)
            await runner.start()
            try:
                assert runner.due_jobs().get(DUE) == channels, runner.due_jobs()
                runner.scheduler.modify_job(f"due:{DUE.isoformat()}", next_run_time=fire_real)
                due_epoch = fire_real.timestamp()
                deadline = time.monotonic() + lead + wait_s
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                    async with ctx.db.read() as session:
                        done = await session.scalar(
                            select(func.count(Post.id)).where(
                                Post.kind == "question", Post.status == "sent"
                            )
                        )
                    if done == channels:
                        break
                all_recorded_s = time.time() - due_epoch
                next_jobs = runner.due_jobs()
                started = time.perf_counter()
                await jobs.tick(ctx)  # what every sweep does once all is recorded
                sweep_s = time.perf_counter() - started
            finally:
                await runner.shutdown()
        posts = [m for m in fake.messages() if not m.is_reply]
        per_channel = Counter(m.channel for m in posts)
        stamps = sorted(float(m.ts) - due_epoch for m in posts)
        return {
            "channels": channels,
            "planning_s": planning_s[0] if planning_s else float("nan"),
            "insert_s": max(insert_s, default=float("nan")),
            "first_s": stamps[0] if stamps else float("nan"),
            "last_s": stamps[-1] if stamps else float("nan"),
            "all_recorded_s": all_recorded_s,
            "duplicates": sum(n - 1 for n in per_channel.values() if n > 1),
            "lost": sum(1 for cid in ids if per_channel[cid] == 0),
            "jobs_after": len(next_jobs),
            "sweep_s": sweep_s,
            "post_calls": len(fake.calls("chat.postMessage")),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake API call")
    parser.add_argument("--lead", type=float, default=3.0, help="seconds until the due minute")
    parser.add_argument("--wait", type=float, default=120.0, help="give up after this long")
    args = parser.parse_args()
    print(
        f"scheduled: {args.channels} channels due at one minute, "
        f"{args.latency * 1000:.0f} ms per Slack call, through BotScheduler"
    )
    f = asyncio.run(run(args.channels, args.latency, args.lead, args.wait))
    print(f"channels            {f['channels']:.0f}")
    print(
        f"record the rows     {f['planning_s']:.2f} s "
        f"(the planning pass; its one insert {f['insert_s']:.2f} s)"
    )
    print(f"first post          {f['first_s']:.2f} s after the due minute")
    print(f"last post           {f['last_s']:.2f} s after the due minute")
    print(f"all recorded sent   {f['all_recorded_s']:.2f} s after the due minute")
    print(f"duplicates          {f['duplicates']:.0f}")
    print(f"lost                {f['lost']:.0f}")
    print(f"a sweep after it    {f['sweep_s']:.2f} s (plans every schedule, nothing new)")
    print(f"peak RSS            {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
