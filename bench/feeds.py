"""bench/feeds: one watcher cycle over every feed (500 by default) on a local server with
100 ms latency.

    python -m bench.feeds [--feeds 500] [--latency 0.1] [--max-feeds N]
                          [--baseline bare|sequential|both|none] [--no-baseline]

The fake feed server runs in its own process (bench/fakes_process.py; its CPU is not counted
as the watcher's). Every cycle covers every feed: the cycle cap (`WatchOptions.max_feeds`,
1,000 in the bot) is raised to --feeds unless --max-feeds says otherwise, and each cycle
checks that it polled them all (a cycle that polled fewer says so). Cycles, each polling
every feed:
  1. first fetch: every feed answers 200 and its backlog is recorded (not alerted);
  2. the measured cycle: 20 % of feeds changed (one new item each), 80 % answer 304;
  3. nothing changed: every feed answers 304, for CPU per unchanged feed;
Baselines (--baseline, default bare):
  bare: conditional GETs alone, to the same fake server, every feed unchanged (304), at
        the same concurrency: httpx with (a) one AsyncClient with a pool of 32, (b) 32
        AsyncClients of one connection each; (c) aiohttp, one ClientSession with a pool of
        32 (the fetcher's transport sends through aiohttp). No database, no parsing, no
        address checks: the floor for cycle 3. Ratios: cycle 3's CPU over (b)'s and (c)'s.
  sequential: cycle 2's feeds sequentially without conditional GET (the way before the
        watcher), 100 ms x feeds of latency alone.
Targets: cycle 2 under 5 s; at most 0.5 ms CPU per unchanged feed ("Close to the floor");
peak RSS under 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import json
import logging
import time
import urllib.request
from dataclasses import dataclass

import aiohttp
import httpx

from bench import fakes_process
from bench._support import peak_rss_mb, temp_context
from bot.platforms.console.platform import ConsolePlatform
from bot.services.context import Context
from bot.services.feeds import admin
from bot.store.models_feeds import Feed
from bot.watch import parser
from bot.watch.cycle import CycleReport, WatchOptions, run_cycle

CPU_TARGET_MS = 0.5
BOT_CAP = WatchOptions().max_feeds  # the bot's cycle cap


@dataclass
class Figures:
    name: str
    wall: float
    cpu: float
    report: CycleReport | None = None


def _has_sniffio() -> bool:
    return importlib.util.find_spec("sniffio") is not None


SNIFFIO = _has_sniffio()


async def measured(name: str, ctx: Context, options: WatchOptions, feeds: int) -> Figures:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = await run_cycle(ctx, options, force=True)
    figures = Figures(name, time.perf_counter() - wall0, time.process_time() - cpu0, report)
    polled = len(report.outcomes)
    print(
        f"{name:<44} wall {figures.wall:6.2f} s  CPU {figures.cpu:6.2f} s  "
        f"{report.count('changed') + report.count('primed')} x 200, "
        f"{report.count('not_modified')} x 304, {report.count('failed')} failed"
        + ("" if polled == feeds else f"  ** polled {polled} of {feeds} feeds **")
    )
    return figures


def change(base: str, latency: float) -> int:
    """20 % of the feeds get a new item (and new validators)."""
    url = f"{base}_bench/change?every=5&latency={latency}"
    with urllib.request.urlopen(urllib.request.Request(url, method="POST")) as response:
        return int(json.loads(response.read())["changed"])


async def bare_conditional(base: str, feeds: int, concurrency: int, *, pooled: bool) -> Figures:
    """httpx alone: GET every feed once for its validators (not timed), then one conditional
    GET each (timed), `concurrency` at once; pooled = one client with a pool of `concurrency`,
    else `concurrency` clients of one connection each."""
    urls = [f"{base}feed/{i}" for i in range(feeds)]
    n_clients = 1 if pooled else concurrency
    per_client = concurrency if pooled else 1
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    clients = [httpx.AsyncClient(limits=limits, timeout=30) for _ in range(n_clients)]
    validators: dict[str, dict[str, str]] = {}
    statuses: list[int] = []

    async def worker(client: httpx.AsyncClient, todo: list[str], conditional: bool) -> None:
        while todo:
            url = todo.pop()
            if conditional:
                response = await client.get(url, headers=validators[url])
                statuses.append(response.status_code)
            else:
                response = await client.get(url)
                validators[url] = {
                    "If-None-Match": response.headers["etag"],
                    "If-Modified-Since": response.headers["last-modified"],
                }

    async def sweep(conditional: bool) -> None:
        todo = list(urls)
        await asyncio.gather(
            *(worker(clients[w % n_clients], todo, conditional) for w in range(concurrency))
        )

    try:
        await sweep(conditional=False)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await sweep(conditional=True)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        for client in clients:
            await client.aclose()
    how = f"1 client, pool of {concurrency}" if pooled else f"{concurrency} clients x 1 conn"
    name = f"bare httpx conditional GETs ({how})"
    print(
        f"{name:<44} wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
        f"{statuses.count(304)} x 304, {len(statuses) - statuses.count(304)} other"
    )
    return Figures(name, wall, cpu)


async def bare_aiohttp(base: str, feeds: int, concurrency: int) -> Figures:
    """aiohttp alone, as bare_conditional: one session with a pool of `concurrency`."""
    urls = [f"{base}feed/{i}" for i in range(feeds)]
    validators: dict[str, dict[str, str]] = {}
    statuses: list[int] = []
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession, todo: list[str], conditional: bool) -> None:
        while todo:
            url = todo.pop()
            async with session.get(url, headers=validators.get(url) if conditional else None) as r:
                await r.read()
                if conditional:
                    statuses.append(r.status)
                else:
                    validators[url] = {
                        "If-None-Match": r.headers["etag"],
                        "If-Modified-Since": r.headers["last-modified"],
                    }

    async with aiohttp.ClientSession(connector=connector) as session:
        for conditional in (False, True):
            todo = list(urls)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker(session, todo, conditional) for _ in range(concurrency)))
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    name = f"bare aiohttp conditional GETs (pool of {concurrency})"
    print(
        f"{name:<44} wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
        f"{statuses.count(304)} x 304, {len(statuses) - statuses.count(304)} other"
    )
    return Figures(name, wall, cpu)


async def main(feeds: int, latency: float, baseline: str, max_feeds: int | None) -> int:
    logging.basicConfig(level=logging.ERROR)
    with fakes_process.feed_server(feeds=feeds, latency=latency) as server:
        base = server["url"]
        async with temp_context(
            platform=ConsolePlatform(io.StringIO()), LEADERBOT_ALLOW_PRIVATE_FEEDS=True
        ) as ctx:
            settings, db = ctx.settings, ctx.db
            await admin.set_alerts(ctx, "C1", True, actor="bench")
            async with db.write() as session:
                for i in range(feeds):
                    session.add(
                        Feed(
                            url=f"{base}feed/{i}",
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
            cap = max(feeds, BOT_CAP) if max_feeds is None else max_feeds
            options = WatchOptions.from_settings(settings, seed_catalogue=False, max_feeds=cap)
            print(
                f"{feeds} feeds, {latency * 1000:.0f} ms latency, concurrency "
                f"{options.concurrency}, parse workers {parser.pool().size}, cycle cap "
                f"{options.max_feeds} (the bot's default: {BOT_CAP}); "
                f"fake feed server in process {server['pid']}"
            )
            await measured("1. first fetch (all 200, backlog recorded)", ctx, options, feeds)
            changed = change(base, latency)
            rss_before = peak_rss_mb()
            main_cycle = await measured(
                f"2. {changed} changed + {feeds - changed} x 304 (measured)", ctx, options, feeds
            )
            rss_cycle = peak_rss_mb()
            idle = await measured("3. nothing changed (all 304)", ctx, options, feeds)
            bare = bare_aio = seq = None
            if baseline in ("bare", "both"):
                await bare_conditional(base, feeds, options.concurrency, pooled=True)
                bare = await bare_conditional(base, feeds, options.concurrency, pooled=False)
                bare_aio = await bare_aiohttp(base, feeds, options.concurrency)
            if baseline in ("sequential", "both"):
                change(base, latency)
                sequential = WatchOptions.from_settings(
                    settings, seed_catalogue=False, concurrency=1, conditional=False, max_feeds=cap
                )
                seq = await measured(
                    "4. baseline: sequential, no conditional GET", ctx, sequential, feeds
                )
        parser.shutdown()
    assert idle.report is not None
    polled = len(idle.report.outcomes)
    per_unchanged_ms = idle.cpu / max(1, idle.report.count("not_modified")) * 1000
    print()
    print(f"cycle 2 wall:               {main_cycle.wall:.2f} s (target < 5 s)")
    print(
        f"CPU per unchanged feed:     {per_unchanged_ms:.2f} ms over {polled} feeds "
        f"(cycle 3; target <= {CPU_TARGET_MS} ms: "
        f"{'met' if per_unchanged_ms <= CPU_TARGET_MS and polled == feeds else 'NOT met'})"
    )
    for label, floor in (("bare httpx per feed:  ", bare), ("bare aiohttp per feed:", bare_aio)):
        if floor is None:
            continue
        bare_ms = floor.cpu / feeds * 1000
        print(
            f"{label}      {bare_ms:.2f} ms CPU -> the cycle is "
            f"{per_unchanged_ms / bare_ms:.1f}x it "
            f"({abs(per_unchanged_ms - bare_ms):.2f} ms a feed "
            f"{'above' if per_unchanged_ms >= bare_ms else 'below'} it)"
        )
    print(
        f"cycle 2 CPU:                {main_cycle.cpu:.2f} s in-process "
        f"(+ parsing in worker processes)"
    )
    print(
        f"peak RSS (watcher process): {peak_rss_mb():.0f} MB over the whole run "
        f"(target < 150 MB; {rss_before:.0f} MB before cycle 2, {rss_cycle:.0f} MB after it)"
    )
    print(f"sniffio importable:         {SNIFFIO}")
    if seq is not None:
        print(
            f"baseline (sequential, full GET): {seq.wall:.2f} s wall, {seq.cpu:.2f} s CPU "
            f"-> {seq.wall / main_cycle.wall:.0f}x the cycle's wall time"
        )
    return 0


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    cli.add_argument("--feeds", type=int, default=500)
    cli.add_argument("--latency", type=float, default=0.1)
    cli.add_argument(
        "--max-feeds",
        type=int,
        default=None,
        help="the cycle cap (default: max(--feeds, the bot's 1,000), so a cycle covers all)",
    )
    cli.add_argument("--baseline", choices=["bare", "sequential", "both", "none"], default="bare")
    cli.add_argument("--no-baseline", action="store_true", help="the same as --baseline none")
    args = cli.parse_args()
    which = "none" if args.no_baseline else args.baseline
    raise SystemExit(asyncio.run(main(args.feeds, args.latency, which, args.max_feeds)))
