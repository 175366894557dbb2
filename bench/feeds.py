"""bench/feeds: one watcher cycle over 500 feeds on a local server with 100 ms latency.

    python -m bench.feeds [--feeds 500] [--latency 0.1] [--no-baseline]

The fake feed server runs in its own process (so its CPU is not counted as the watcher's).
Cycles, each polling every feed:
  1. first fetch: every feed answers 200 and its backlog is recorded (not alerted);
  2. the measured cycle: 20 % of feeds changed (one new item each), 80 % answer 304;
  3. nothing changed: every feed answers 304, for CPU per unchanged feed;
  4. baseline: the same as 2 (20 % changed), done sequentially without conditional GET.
Targets: cycle 2 under 5 s, under 1 ms CPU per unchanged feed, peak RSS under 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import json
import logging
import sys
import time
import urllib.request
from dataclasses import dataclass

from bench._support import peak_rss_mb, temp_context
from bot.platforms.console.platform import ConsolePlatform
from bot.services.context import Context
from bot.services.feeds import admin
from bot.store.models_feeds import Feed
from bot.watch import parser
from bot.watch.cycle import CycleReport, WatchOptions, run_cycle


@dataclass
class Figures:
    name: str
    wall: float
    cpu: float
    report: CycleReport


def _has_sniffio() -> bool:
    return importlib.util.find_spec("sniffio") is not None


SNIFFIO = _has_sniffio()


async def measured(name: str, ctx: Context, options: WatchOptions) -> Figures:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = await run_cycle(ctx, options, force=True)
    figures = Figures(name, time.perf_counter() - wall0, time.process_time() - cpu0, report)
    print(
        f"{name:<44} wall {figures.wall:6.2f} s  CPU {figures.cpu:6.2f} s  "
        f"{report.count('changed') + report.count('primed')} x 200, "
        f"{report.count('not_modified')} x 304, {report.count('failed')} failed"
    )
    return figures


async def spawn_server(feeds: int, latency: float) -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.feed_server",
        "--feeds",
        str(feeds),
        "--latency",
        str(latency),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    return process, int(json.loads(line)["port"])


def change(port: int, latency: float) -> int:
    """20 % of the feeds get a new item (and new validators)."""
    url = f"http://127.0.0.1:{port}/_bench/change?every=5&latency={latency}"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST")) as response:
        return int(json.loads(response.read())["changed"])


async def main(feeds: int, latency: float, baseline: bool) -> int:
    logging.basicConfig(level=logging.ERROR)
    server, port = await spawn_server(feeds, latency)
    try:
        async with temp_context(
            platform=ConsolePlatform(io.StringIO()), LEADERBOT_ALLOW_PRIVATE_FEEDS=True
        ) as ctx:
            settings, db = ctx.settings, ctx.db
            await admin.set_alerts(ctx, "C1", True, actor="bench")
            async with db.write() as session:
                for i in range(feeds):
                    session.add(
                        Feed(
                            url=f"http://127.0.0.1:{port}/feed/{i}",
                            source=f"Feed {i}",
                            poll_interval_s=3600,
                            enabled=True,
                            primed=False,
                            from_catalogue=False,
                            publisher_is_subject=False,
                            consecutive_failures=0,
                            failure_notified=False,
                        )
                    )
            options = WatchOptions.from_settings(settings, seed_catalogue=False)
            print(
                f"{feeds} feeds, {latency * 1000:.0f} ms latency, concurrency "
                f"{options.concurrency}, parse workers {parser.pool().size}"
            )
            await measured("1. first fetch (all 200, backlog recorded)", ctx, options)
            changed = change(port, latency)
            rss_before = peak_rss_mb()
            main_cycle = await measured(
                f"2. {changed} changed + {feeds - changed} x 304 (measured)", ctx, options
            )
            rss_cycle = peak_rss_mb()
            idle = await measured("3. nothing changed (all 304)", ctx, options)
            base = None
            if baseline:
                change(port, latency)
                sequential = WatchOptions.from_settings(
                    settings, seed_catalogue=False, concurrency=1, conditional=False
                )
                base = await measured(
                    "4. baseline: sequential, no conditional GET", ctx, sequential
                )
        parser.shutdown()
        per_unchanged_ms = idle.cpu / feeds * 1000
        print()
        print(f"cycle 2 wall:               {main_cycle.wall:.2f} s (target < 5 s)")
        print(f"CPU per unchanged feed:     {per_unchanged_ms:.2f} ms (target < 1 ms; cycle 3)")
        print(
            f"cycle 2 CPU:                {main_cycle.cpu:.2f} s in-process "
            f"(+ parsing in worker processes)"
        )
        print(
            f"peak RSS (watcher process): {peak_rss_mb():.0f} MB over the whole run "
            f"(target < 150 MB; "
            f"{rss_before:.0f} MB before cycle 2, {rss_cycle:.0f} MB after it)"
        )
        print(
            f"sniffio importable:         {SNIFFIO} (without it httpcore retries the import, "
            "failing, several times per request)"
        )
        if base is not None:
            print(
                f"baseline (sequential, full GET): {base.wall:.2f} s wall, {base.cpu:.2f} s CPU "
                f"-> {base.wall / main_cycle.wall:.0f}x the cycle's wall time"
            )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            await asyncio.wait_for(server.wait(), 5)
        except TimeoutError:
            server.kill()
    return 0


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cli.add_argument("--feeds", type=int, default=500)
    cli.add_argument("--latency", type=float, default=0.1)
    cli.add_argument("--no-baseline", action="store_true")
    args = cli.parse_args()
    raise SystemExit(asyncio.run(main(args.feeds, args.latency, not args.no_baseline)))
