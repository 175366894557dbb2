"""bench/fanout: one question to 200 channels at 50 ms per call, on the fake Slack and on the
fake Teams (200 channels spread over a few teams).

    python -m bench.fanout [--platform teams|slack|both] [--channels 200] [--latency 0.05]
                           [--teams 4] [--concurrency 50] [--no-sequential]
    python -m bench.fanout --postgres postgresql+asyncpg://user@host/db [--processes 1,3]
                           [--channels 2000]

Prints, for each platform, wall time, posts/s, CPU per post (time.process_time of this process,
which also runs the fake), duplicates and lost posts, for the concurrent outbox and for the
same run one post at a time (the baseline), and the peak RSS of the process so far.
On Slack it also runs the bare loop: the same posts through the same client and connection
pool with no outbox ("bare"), and the bare loop plus the outbox's own writes, i.e. one batched
claim and one batched record of the outcomes ("bare+writes"), the floor the outbox is held to.
Targets: under 2 s for 200 channels, 0 duplicates, 0 lost; at most 2 ms CPU per post; within
1.3x of bare+writes.

With --postgres (a server where the given user may create databases), it posts notices to
--channels channels on the fake Slack from 1 and then from 3 processes (`leaderbot run`'s
sweep: deliver_due until nothing is left), each run on a fresh database, and prints the wall
time from the agreed start to the last post, duplicates and lost posts. Target: three
processes at least 1.8x faster than one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import bindparam, update

from bench._support import MachineCpu, peak_rss_mb, percent, temp_context
from bench.teams_fake import LatentTeams, record_teams, spread_channels, teams_settings
from bot.domain.content import Notice
from bot.platforms.slack.blocks import render
from bot.platforms.slack.platform import SlackPlatform
from bot.services import outbox
from bot.services.ask import ask_now
from bot.store.models import Post
from tests.fakes.slack_api import FakeSlack


async def one_run(channels: int, latency: float, concurrency: int) -> dict[str, float]:
    async with FakeSlack(latency=latency) as fake:
        ids = [f"C{n:06d}" for n in range(channels)]
        for cid in ids:
            fake.add_channel(cid)
        async with temp_context(
            SLACK_BOT_TOKEN=fake.bot_token,
            SLACK_API_URL=fake.url,
            LEADERBOT_MAX_CONCURRENT_POSTS=concurrency,
        ) as ctx:
            keys = [(await ask_now(ctx, cid, "Q1")).key for cid in ids]
            started, cpu = time.perf_counter(), time.process_time()
            report = await outbox.deliver_due(ctx, only_keys=keys)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        per_channel = Counter(m.channel for m in fake.messages() if not m.is_reply)
        return {
            "wall_s": wall,
            "cpu_ms_per_post": cpu * 1000 / max(len(report.sent), 1),
            "posts_per_s": len(report.sent) / wall,
            "sent": len(report.sent),
            "duplicates": sum(n - 1 for n in per_channel.values() if n > 1),
            "lost": sum(1 for cid in ids if per_channel[cid] == 0),
        }


async def one_teams_run(
    channels: int, latency: float, concurrency: int, teams: int = 4
) -> dict[str, float]:
    async with LatentTeams(latency=latency) as fake:
        placed = spread_channels(fake, channels, teams)
        ids = [cid for _, cids in placed for cid in cids]
        async with temp_context(
            **teams_settings(fake), LEADERBOT_MAX_CONCURRENT_POSTS=concurrency
        ) as ctx:
            await record_teams(ctx.db, fake, placed)
            keys = [(await ask_now(ctx, cid, "Q1")).key for cid in ids]
            started, cpu = time.perf_counter(), time.process_time()
            report = await outbox.deliver_due(ctx, only_keys=keys)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        per_channel = Counter(cid for cid in ids for m in fake.messages(cid) if m.is_root)
        return {
            "wall_s": wall,
            "cpu_ms_per_post": cpu * 1000 / max(len(report.sent), 1),
            "posts_per_s": len(report.sent) / wall,
            "sent": len(report.sent),
            "duplicates": sum(n - 1 for n in per_channel.values() if n > 1),
            "lost": sum(1 for cid in ids if per_channel[cid] == 0),
            "calls": len(fake.calls("create_conversation")),
        }


async def bare_run(
    channels: int, latency: float, concurrency: int, *, writes: bool
) -> dict[str, float]:
    """The floor: one chat.postMessage per channel through the same pooled client,
    `concurrency` at a time, with no outbox; with `writes`, plus one claim UPDATE for all rows
    and the outcomes recorded RECORD_BATCH rows per transaction (the outbox's own writes)."""
    async with FakeSlack(latency=latency) as fake:
        ids = [f"C{n:06d}" for n in range(channels)]
        for cid in ids:
            fake.add_channel(cid)
        async with temp_context(
            SLACK_BOT_TOKEN=fake.bot_token,
            SLACK_API_URL=fake.url,
            LEADERBOT_MAX_CONCURRENT_POSTS=concurrency,
        ) as ctx:
            keys = [(await ask_now(ctx, cid, "Q1")).key for cid in ids]
            slack = ctx.platforms.named("slack")
            assert isinstance(slack, SlackPlatform)
            gate = asyncio.Semaphore(concurrency)
            done: list[tuple[str, str]] = []
            started, cpu = time.perf_counter(), time.process_time()
            if writes:
                async with ctx.db.write() as session:
                    await session.execute(
                        update(Post)
                        .where(Post.key.in_(keys))
                        .values(status="sending", lease_until=ctx.clock() + timedelta(minutes=2))
                    )

            async def one(cid: str, key: str) -> None:
                async with gate:
                    _, ts = await slack.send(cid, render(Notice("Q1")), key=key)
                done.append((key, ts))

            await asyncio.gather(*(one(cid, key) for cid, key in zip(ids, keys, strict=True)))
            if writes:
                table = Post.__table__
                record = (
                    table.update()
                    .where(table.c.key == bindparam("b_key"), table.c.status == "sending")
                    .values(status="sent", message_id=bindparam("b_ts"), lease_until=None)
                )
                for i in range(0, len(done), outbox.RECORD_BATCH):
                    batch = done[i : i + outbox.RECORD_BATCH]
                    async with ctx.db.write() as session:
                        await session.execute(record, [{"b_key": k, "b_ts": t} for k, t in batch])
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        per_channel = Counter(m.channel for m in fake.messages() if not m.is_reply)
        return {
            "wall_s": wall,
            "cpu_ms_per_post": cpu * 1000 / max(len(done), 1),
            "posts_per_s": len(done) / wall,
            "sent": len(done),
            "duplicates": sum(n - 1 for n in per_channel.values() if n > 1),
            "lost": sum(1 for cid in ids if per_channel[cid] == 0),
        }


def show(label: str, figures: dict[str, float]) -> None:
    print(
        f"{label:<12} wall {figures['wall_s']:6.2f} s   {figures['posts_per_s']:7.1f} posts/s   "
        f"CPU {figures['cpu_ms_per_post']:5.2f} ms/post   sent {figures['sent']:.0f}   "
        f"duplicates {figures['duplicates']:.0f}   lost {figures['lost']:.0f}"
    )


async def pg_worker(args: argparse.Namespace) -> None:
    """One process of the PostgreSQL run: sweep until nothing is left to claim."""
    async with temp_context(
        DATABASE_URL=args.worker_db,
        SLACK_BOT_TOKEN=args.worker_token,
        SLACK_API_URL=args.worker_slack,
        LEADERBOT_MAX_CONCURRENT_POSTS=args.concurrency,
    ) as ctx:
        await asyncio.sleep(max(0.0, args.worker_start - time.time()))
        started, cpu, sent = time.time(), time.process_time(), 0
        while True:
            report = await outbox.deliver_due(ctx)
            sent += len(report.sent)
            if not (report.sent or report.found or report.deferred):
                break
        figures = {"start": started, "end": time.time(), "cpu": time.process_time() - cpu}
        print(json.dumps(figures | {"sent": sent}))


async def pg_run(url: str, processes: int, channels: int, latency: float, concurrency: int):
    from bot.store.db import Database
    from tests.scratch_database import scratch_database

    async with scratch_database(url, "leaderbot_bench") as db_url:
        async with FakeSlack(latency=latency) as fake:
            ids = [f"C{n:06d}" for n in range(channels)]
            for cid in ids:
                fake.add_channel(cid)
            db = Database(db_url)
            await db.upgrade()
            async with temp_context(DATABASE_URL=db_url) as ctx:
                due = ctx.clock() - timedelta(seconds=1)
                await outbox.enqueue_many(
                    ctx,
                    [
                        {"key": f"n:{cid}", "kind": "notice", "channel_id": cid, "due_at": due}
                        | {"payload": {"text": "Q1"}}
                        for cid in ids
                    ],
                )
            await db.dispose()
            start_at = time.time() + 4.0  # time enough for every process to import and connect
            workers = [
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bench.fanout",
                    "--worker-db",
                    db_url,
                    "--worker-slack",
                    fake.url,
                    "--worker-token",
                    fake.bot_token,
                    "--worker-start",
                    str(start_at),
                    "--concurrency",
                    str(concurrency),
                    stdout=asyncio.subprocess.PIPE,
                )
                for _ in range(processes)
            ]
            meter = MachineCpu()

            async def start_meter() -> None:
                await asyncio.sleep(max(0.0, start_at - time.time()))
                meter.start()

            starting = asyncio.create_task(start_meter())
            outputs = [await worker.communicate() for worker in workers]
            await starting
            machine_busy = meter.busy()
        results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
        per_channel = Counter(m.channel for m in fake.messages() if not m.is_reply)
        return {
            "wall_s": max(r["end"] for r in results) - min(r["start"] for r in results),
            "cpu_ms_per_post": sum(r["cpu"] for r in results) * 1000 / channels,
            "sent": sum(r["sent"] for r in results),
            "by_process": [r["sent"] for r in results],
            "duplicates": sum(n - 1 for n in per_channel.values() if n > 1),
            "lost": sum(1 for cid in ids if per_channel[cid] == 0),
            "machine_busy": machine_busy,
        }


def postgres_main(args: argparse.Namespace) -> None:
    print(
        f"PostgreSQL fan-out: {args.channels} notices, {args.latency * 1000:.0f} ms/call, "
        f"{args.concurrency} concurrent posts per process"
    )
    walls: dict[int, float] = {}
    for processes in (int(n) for n in args.processes.split(",")):
        figures = asyncio.run(
            pg_run(args.postgres, processes, args.channels, args.latency, args.concurrency)
        )
        walls[processes] = figures["wall_s"]
        print(
            f"{processes} process(es)  wall {figures['wall_s']:6.2f} s   "
            f"CPU {figures['cpu_ms_per_post']:5.2f} ms/post (workers)   sent {figures['sent']} "
            f"{figures['by_process']}   duplicates {figures['duplicates']}   "
            f"lost {figures['lost']}   machine CPU busy {percent(figures['machine_busy'])}"
        )
    if 1 in walls:
        for processes, wall in walls.items():
            if processes != 1:
                print(f"{processes} processes vs 1: {walls[1] / wall:.2f}x faster")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--platform", choices=["teams", "slack", "both"], default="both")
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake API call")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--teams", type=int, default=4, help="Teams: teams the channels are in")
    parser.add_argument(
        "--no-sequential", action="store_true", help="skip the one-at-a-time run (slow)"
    )
    parser.add_argument("--postgres", help="PostgreSQL URL: the 1 vs 3 processes run")
    parser.add_argument("--processes", default="1,3", help="with --postgres: process counts")
    for name in ("--worker-db", "--worker-slack", "--worker-token"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--worker-start", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_db:
        asyncio.run(pg_worker(args))
        return
    if args.postgres:
        postgres_main(args)
        return
    runs = {
        "slack": lambda c: one_run(args.channels, args.latency, c),
        "teams": lambda c: one_teams_run(args.channels, args.latency, c, args.teams),
    }
    for platform in ("slack", "teams") if args.platform == "both" else (args.platform,):
        where = f" in {args.teams} teams" if platform == "teams" else ""
        print(
            f"{platform} fan-out: 1 question to {args.channels} channels{where}, "
            f"{args.latency * 1000:.0f} ms/call"
        )
        concurrent = asyncio.run(runs[platform](args.concurrency))
        show("concurrent", concurrent)
        if platform == "slack":
            for label, writes in (("bare", False), ("bare+writes", True)):
                floor = asyncio.run(
                    bare_run(args.channels, args.latency, args.concurrency, writes=writes)
                )
                show(label, floor)
                print(f"{'':<12} outbox / {label}: {concurrent['wall_s'] / floor['wall_s']:.2f}x")
        if not args.no_sequential:
            sequential = asyncio.run(runs[platform](1))
            show("sequential", sequential)
            print(f"speed-up {sequential['wall_s'] / concurrent['wall_s']:.1f}x")
        print(f"peak RSS {peak_rss_mb():.0f} MB (this process so far)")


if __name__ == "__main__":
    main()
