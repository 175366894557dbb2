"""bench/scale: many workspaces on one deployment, everyone's weekly question due at one minute.

    python -m bench.scale [--workspaces 1000] [--channels-per-workspace 5] [--latency 0.05]
                          [--postgres URL] [--processes N] [--lead 20] [--wait 600]

N workspaces × 5 channels, each with a weekly question due at the same minute, posted to the
fake Slack (tests/fakes/slack_api.py, in a process of its own via bench/fakes_process.py) at
`--latency` per Web API call. On SQLite (a temporary file) one bot process posts; with
`--postgres URL` (a server and an existing database to connect to first: the bench creates a
database of its own there and drops it afterwards) three do, all due at the same minute.

Each bot process is `leaderbot run` without its HTTP listeners: `open_context` (migrations,
platforms), the heartbeat (`processes.alive`), and `BotScheduler` as `run` starts it, which
plans the due minute and delivers through the outbox. Every process's clock is shifted by the
same offset so that it reads the due minute `--lead` seconds after the bench starts, and the
due-minute job is moved to fire then (as bench/scheduled does); nothing else is changed.

Prints: workspaces, channels, processes, the wall time from the due minute to the last post
(stamped by the fake Slack as it stores each message), posts/s over that time, duplicates
(a channel with more than one question), lost (a channel with none), how the posts split
between the processes, each process's peak RSS, and the load average before and after.

Workspaces: the bot runs in OAuth distribution mode (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET,
SLACK_STATE_SECRET, LEADERBOT_SECRET_KEY set). Workspace n is team T{n:06d} in the fake Slack,
with its channels and a bot token of its own; `seed_workspaces` stores one installation per
workspace through the installation store (`DatabaseInstallationStore`, the token encrypted),
as the install flow would, beside its channels (their workspace_id set). Every post must go
out with its own workspace's token: the fake refuses another workspace's token for a channel
(channel_not_found), and the bench counts each post made with a wrong token as an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import func, insert, select

from bench import fakes_process
from bench._support import peak_rss_mb
from bot.platforms.slack.installations import DatabaseInstallationStore
from bot.store.db import Database
from bot.store.models import Channel, Post, Schedule
from bot.store.token_cipher import TokenCipher, new_key

DUE = datetime(2030, 1, 21, 9, 0, tzinfo=UTC)  # a Monday, 09:00 Europe/London (GMT)
SEED_BATCH = 1000  # rows per insert
STATE_SECRET = "bench-scale-state-secret-0123456789"  # the install flow's; unused here


def workspace_ids(workspaces: int) -> list[str]:
    return [f"T{n:06d}" for n in range(workspaces)]


def channel_ids(workspace: str, per_workspace: int) -> list[str]:
    return [f"C{workspace[1:]}{k:02d}" for k in range(per_workspace)]


async def seed_workspaces(
    db: Database, tokens: dict[str, str], per_workspace: int, secret_key: str
) -> list[str]:
    """Install each workspace of `tokens` ({team id: its bot token}) through the installation
    store (the token encrypted with `secret_key`), and store its channels (their workspace_id
    set) with a weekly question due Mondays 09:00; returns the channel ids."""
    now = DUE - timedelta(days=1)
    workspaces = list(tokens)
    store = DatabaseInstallationStore(db, TokenCipher(secret_key), clock=lambda: now)
    for team, token in tokens.items():
        await store.async_save(
            Installation(
                app_id="A0FAKE",
                team_id=team,
                team_name=f"Council {team}",
                bot_token=token,
                bot_id="B0FAKE",
                bot_user_id="UBOT",
                bot_scopes="chat:write,channels:read,channels:history",
                user_id="UINSTALLER",
                installed_at=now.timestamp(),
            )
        )
    channels = [
        {"id": cid, "platform": "slack", "workspace_id": ws, "name": cid.lower(), "created_at": now}
        for ws in workspaces
        for cid in channel_ids(ws, per_workspace)
    ]
    schedules = [
        {
            "channel_id": row["id"],
            "kind": "question",
            "weekday": DUE.weekday(),
            "time": DUE.strftime("%H:%M"),
            "timezone": "Europe/London",
            "nation": "england-and-wales",
            "holiday_policy": "move",
            "enabled": True,
            "nudge_after_days": None,
            "created_at": now,
            "updated_at": now,
        }
        for row in channels
    ]
    async with db.write() as session:
        for start in range(0, len(channels), SEED_BATCH):
            await session.execute(insert(Channel), channels[start : start + SEED_BATCH])
            await session.execute(insert(Schedule), schedules[start : start + SEED_BATCH])
    return [row["id"] for row in channels]


# ------------------------------------------------------------------------ a bot process


async def bot_process(database_url: str, slack: dict[str, str], fire_epoch: float) -> None:
    """One `leaderbot run`-like process until SIGTERM; prints "ready", then its figures."""
    from bot.runtime import open_context
    from bot.scheduling import jobs
    from bot.scheduling.runner import BotScheduler
    from bot.services import processes
    from bot.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=database_url,
        SLACK_CLIENT_ID=slack["client_id"],
        SLACK_CLIENT_SECRET=slack["client_secret"],
        SLACK_STATE_SECRET=STATE_SECRET,
        LEADERBOT_SECRET_KEY=slack["secret_key"],
        SLACK_API_URL=slack["url"],
    )
    fire = datetime.fromtimestamp(fire_epoch, UTC)
    offset = DUE - fire

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    # When this process's planning pass ran (relative to the due minute) and how many rows it
    # recorded: with several processes, the others find those rows recorded.
    planning: list[tuple[float, float, int]] = []

    def timed(planner: Any) -> Any:
        async def wrapper(ctx: Any) -> Any:
            started = time.time() - fire_epoch
            keys = await planner(ctx)
            planning.append((started, time.time() - fire_epoch, len(keys)))
            return keys

        wrapper.__name__ = planner.__name__
        return wrapper

    jobs.PLANNERS = tuple(  # type: ignore[misc]
        timed(p) if p.__name__ == "plan_questions" else p for p in jobs.PLANNERS
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    cpu = time.process_time()
    async with open_context(settings, clock=clock) as ctx, processes.alive(ctx):
        scheduler = BotScheduler(ctx)
        await scheduler.start()
        try:
            due = scheduler.due_jobs().get(DUE, 0)
            scheduler.scheduler.modify_job(f"due:{DUE.isoformat()}", next_run_time=fire)
            print(json.dumps({"ready": True, "due": due}), flush=True)
            await stop.wait()
        finally:
            await scheduler.shutdown()
    print(
        json.dumps(
            {
                "rss_mb": peak_rss_mb(),
                "cpu_s": time.process_time() - cpu,
                "planning": [p for p in planning if p[0] >= -1][:1],
            }
        ),
        flush=True,
    )


# ------------------------------------------------------------------------------ the run


@asynccontextmanager
async def database(postgres: str | None) -> AsyncIterator[str]:
    """A migrated, empty database: SQLite in a temporary directory, or a scratch PostgreSQL
    database on the server of `postgres`, dropped afterwards."""
    if postgres is None:
        with tempfile.TemporaryDirectory(prefix="leaderbot-scale-") as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'scale.db'}"
        return
    from tests.scratch_database import scratch_database

    async with scratch_database(postgres, "leaderbot_scale") as url:
        yield url


async def _start_bot(
    database_url: str, slack: dict[str, Any], secret_key: str, fire_epoch: float
) -> asyncio.subprocess.Process:
    spec = json.dumps(
        {
            "database_url": database_url,
            "slack": {
                "url": slack["url"],
                "client_id": slack["client_id"],
                "client_secret": slack["client_secret"],
                "secret_key": secret_key,
            },
            "fire_epoch": fire_epoch,
        }
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.scale",
        "--bot-process",
        spec,
        stdout=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))},
    )


async def _line(process: asyncio.subprocess.Process, within: float) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), within)
    if not line:
        raise RuntimeError(f"bot process {process.pid} exited ({await process.wait()})")
    return dict(json.loads(line))


async def _sent(database_url: str) -> dict[str, int]:
    """Question posts recorded sent, by the process (owner) that claimed them."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            rows = await session.execute(
                select(Post.status, func.count(Post.id))
                .where(Post.kind == "question")
                .group_by(Post.status)
            )
            return {status: count for status, count in rows}
    finally:
        await db.dispose()


async def run(
    workspaces: int,
    per_workspace: int,
    latency: float,
    postgres: str | None,
    n_processes: int,
    lead: float,
    wait_s: float,
) -> dict[str, Any]:
    spaces = {ws: channel_ids(ws, per_workspace) for ws in workspace_ids(workspaces)}
    all_channels = [cid for channels in spaces.values() for cid in channels]
    secret_key = new_key()
    load_before = os.getloadavg()
    async with database(postgres) as url:
        with fakes_process.slack(latency=latency, workspaces=spaces, report=True) as slack:
            db = Database(url)
            try:
                await db.upgrade()
                seeded = await seed_workspaces(db, slack["tokens"], per_workspace, secret_key)
            finally:
                await db.dispose()
            assert seeded == all_channels
            fire_epoch = time.time() + lead
            bots = [
                await _start_bot(url, slack, secret_key, fire_epoch) for _ in range(n_processes)
            ]
            try:
                ready = [await _line(bot, lead + 60) for bot in bots]
                late = time.time() - fire_epoch
                assert all(r["due"] == len(all_channels) for r in ready), ready
                deadline = time.monotonic() + max(lead, 0) + wait_s
                sent: dict[str, int] = {}
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    sent = await _sent(url)
                    if sent.get("sent", 0) >= len(all_channels):
                        break
                for bot in bots:
                    bot.send_signal(signal.SIGTERM)
                figures = [await _line(bot, 60) for bot in bots]
            finally:
                for bot in bots:
                    if bot.returncode is None:
                        bot.kill()
                    await bot.wait()
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{slack['report']}posts") as response,
            ):
                posts: dict[str, list[str]] = await response.json()
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{slack['report']}tokens") as response,
            ):
                tokens: dict[str, int] = await response.json()
        owners = await _owners(url)
    per_channel = {cid: len(posts.get(cid, [])) for cid in all_channels}
    stamps = sorted(float(ts) for tss in posts.values() for ts in tss)
    last_s = stamps[-1] - fire_epoch if stamps else float("nan")
    return {
        "workspaces": workspaces,
        "channels": len(all_channels),
        "processes": n_processes,
        "backend": "PostgreSQL" if postgres else "SQLite",
        "ready_margin_s": -late,
        "first_s": stamps[0] - fire_epoch if stamps else float("nan"),
        "last_s": last_s,
        "posts": len(stamps),
        "posts_per_s": len(stamps) / last_s if stamps else 0.0,
        "duplicates": sum(n - 1 for n in per_channel.values() if n > 1),
        "lost": sum(1 for n in per_channel.values() if n == 0),
        "wrong_token": tokens["wrong"] + tokens["unknown"],
        "own_token": tokens["own"],
        "statuses": sent,
        "by_process": owners,
        "rss_mb": [f["rss_mb"] for f in figures],
        "cpu_s": [f["cpu_s"] for f in figures],
        "planning": [f["planning"][0] if f["planning"] else None for f in figures],
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


async def _owners(database_url: str) -> list[int]:
    """How many posts each process recorded (by the owner prefix of the claim token),
    largest first."""
    db = Database(database_url)
    try:
        async with db.read() as session:
            tokens = (
                await session.scalars(
                    select(Post.claimed_by).where(Post.kind == "question", Post.status == "sent")
                )
            ).all()
    finally:
        await db.dispose()
    by_owner = Counter(":".join(str(t).split(":")[:3]) for t in tokens if t)
    return sorted(by_owner.values(), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--channels-per-workspace", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake API call")
    parser.add_argument("--postgres", metavar="URL", help="three processes on this PostgreSQL")
    parser.add_argument("--processes", type=int, help="default: 1 on SQLite, 3 on PostgreSQL")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds until the due minute")
    parser.add_argument("--wait", type=float, default=600.0, help="give up after this long")
    parser.add_argument("--bot-process", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bot_process:
        spec = json.loads(args.bot_process)
        asyncio.run(bot_process(spec["database_url"], spec["slack"], spec["fire_epoch"]))
        return
    n_processes = args.processes or (3 if args.postgres else 1)
    print(
        f"scale: {args.workspaces} workspaces × {args.channels_per_workspace} channels, "
        f"{args.latency * 1000:.0f} ms per Slack call, {n_processes} process(es) on "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}, one question each due at one minute"
    )
    f = asyncio.run(
        run(
            args.workspaces,
            args.channels_per_workspace,
            args.latency,
            args.postgres,
            n_processes,
            args.lead,
            args.wait,
        )
    )
    print(f"channels            {f['channels']} in {f['workspaces']} workspaces")
    print(f"processes ready     {f['ready_margin_s']:.1f} s before the due minute")
    print(f"first post          {f['first_s']:.2f} s after the due minute")
    print(f"wall time           {f['last_s']:.2f} s (due minute to the last post)")
    print(f"posts/s             {f['posts_per_s']:.0f} ({f['posts']} posts)")
    print(f"duplicates          {f['duplicates']}")
    print(f"lost                {f['lost']}")
    print(f"wrong-token posts   {f['wrong_token']} ({f['own_token']} with their own)")
    print(f"outbox              {f['statuses']}")
    print(f"posts per process   {f['by_process']}")
    print("peak RSS            " + ", ".join(f"{mb:.0f} MB" for mb in f["rss_mb"]))
    print("CPU per process     " + ", ".join(f"{s:.1f} s" for s in f["cpu_s"]))
    print(
        "planning pass       "
        + ", ".join(
            f"{p[0]:.2f}-{p[1]:.2f} s ({p[2]} rows)" if p else "none" for p in f["planning"]
        )
        + " (after the due minute; rows this process recorded)"
    )
    print(
        "load average        before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
            *f["load_before"], *f["load_after"]
        )
    )


if __name__ == "__main__":
    main()
