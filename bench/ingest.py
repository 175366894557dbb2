"""bench/ingest: signed reply events over HTTP to the bot in HTTP mode, as fast as it acks them.

    python -m bench.ingest [--events 10000] [--concurrency 32] [--threads 10] [--batch-size 500]
                           [--preload 200000] [--database-url postgresql+asyncpg://...]
                           [--no-baseline]

The bot (every Slack listener on the one HTTP server as `run` serves them, SQLite in a
temporary directory) runs in this process; the fake Slack Web API and the load each run in a
process of their own, so neither's CPU is counted against the bot's. Prints events/s, p50/p99
ack latency, the time until every reply is stored, the bot process's CPU per event, peak RSS,
and how many were lost (replies counted in the database once the background writes drain).
Then the floor: the same client against a bare aiohttp app that checks the signature and acks
once a plain sqlite3 group commit holds the reply (`bare_app`), and the ratio. Target ("Close
to the floor"): >= 3,000 events/s stored end to end, ack p99 < 50 ms, none lost.
`--batch-size 1` writes one transaction per event.

Since acks wait for the group commit of the batch holding their event, an acked event is a
stored event: "stored after the last ack" should be ~0 s, and the acked rate is the end-to-end
rate. With few connections the rate is bounded by connections / commit latency; Slack itself
sends with more concurrency (try `--concurrency 128`).

`--preload N` stores N replies (in a thread of their own) before the load, so the figures show
whether ingest keeps its pace on a large table. `--database-url` runs the bot on that server
instead of SQLite: a PostgreSQL URL names a server and an existing database to connect to
first; the bench creates a database of its own there and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import func, insert, select, update

from bench import fakes_process

SECRET = "bench-signing-secret"
TARGET_PER_S, TARGET_P99_MS = 3_000, 50  # "Close to the floor"


# ----------------------------------------------------------------------------- the load


def reply_body(n: int, channel: str, thread_ts: str, base: int) -> str:
    from tests.fakes.signing import event_body

    ts = f"{base + n // 1_000_000}.{n % 1_000_000:06d}"
    event = {
        "type": "message",
        "channel": channel,
        "channel_type": "channel",
        "user": f"U{n % 500:05d}",
        "text": f"Reply {n}: fewer meetings, more shared platforms & better data.",
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
    }
    return event_body(event, event_id=f"EvBench{n:08d}")


async def send_all(
    url: str, threads: list[list[str]], events: int, concurrency: int
) -> dict[str, Any]:
    """Send `events` signed replies with `concurrency` connections; ack latencies in ms."""
    from tests.fakes.signing import signed_headers

    base = int(time.time()) + 1
    bodies = [reply_body(n, *threads[n % len(threads)], base) for n in range(events)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(bodies):
                body = bodies[next_index]
                next_index += 1
                headers = signed_headers(body, SECRET)  # signed now: the timestamp is checked
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"wall_s": wall, "latencies_ms": latencies, "statuses": statuses}


def client_main(args: argparse.Namespace) -> None:
    threads = json.loads(args.threads_json)
    result = asyncio.run(send_all(args.url, threads, args.events, args.concurrency))
    print(json.dumps(result))


# ----------------------------------------------------------------------------- the bot


async def count_replies(ctx: Any) -> int:
    from bot.store.models import Reply

    async with ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Reply)) or 0)


async def wait_for_replies(ctx: Any, expected: int, quiet_s: float = 5.0) -> int:
    """Wait until `expected` replies are stored, or nothing moves for `quiet_s` seconds."""
    from bot.services.reply_writer import writer_for

    last, last_change = -1, time.monotonic()
    while True:
        await writer_for(ctx).drain()
        stored = await count_replies(ctx)
        if stored >= expected:
            return stored
        if stored != last:
            last, last_change = stored, time.monotonic()
        elif time.monotonic() - last_change > quiet_s:
            return stored
        await asyncio.sleep(0.05)


@asynccontextmanager
async def bench_database(url: str | None) -> AsyncIterator[dict[str, str]]:
    """Settings for the bot's database: SQLite in a temporary directory (temp_context's own),
    or a fresh PostgreSQL database on the server `url` names, dropped afterwards."""
    if url is None or url.startswith("sqlite"):
        yield {"DATABASE_URL": url} if url else {}
        return
    from tests.scratch_database import scratch_database

    async with scratch_database(url, "leaderbot_bench") as scratch:
        yield {"DATABASE_URL": scratch}


PRELOAD_CHUNK = 5_000


async def preload(ctx: Any, post_id: int, channel: str, thread_ts: str, count: int) -> None:
    """Store `count` replies in one thread, as the ingest path would have, in bulk. The thread
    is an earlier month's question: catching up at start reconciles only this week's threads
    (and the fake Slack does not hold these messages)."""
    from bot.store.models import Post, ProcessedEvent, Reply

    now = datetime.now(UTC)
    async with ctx.db.write() as session:
        await session.execute(
            update(Post).where(Post.id == post_id).values(sent_at=now - timedelta(days=30))
        )
    for start in range(0, count, PRELOAD_CHUNK):
        numbers = range(start, min(count, start + PRELOAD_CHUNK))
        async with ctx.db.write() as session:
            await session.execute(
                insert(Reply.__table__),
                [
                    {
                        "post_id": post_id,
                        "channel_id": channel,
                        "workspace_id": None,
                        "user_id": f"U{n % 500:05d}",
                        "text": f"Preloaded reply {n}: an earlier week's answer.",
                        "message_id": f"{1_000_000_000 + n // 1_000_000}.{n % 1_000_000:06d}",
                        "thread_id": thread_ts,
                        "edited": False,
                        "edited_at": None,
                        "posted_at": now,
                        "updated_at": now,
                    }
                    for n in numbers
                ],
            )
            await session.execute(
                insert(ProcessedEvent.__table__),
                [{"event_id": f"EvPreload{n:08d}", "received_at": now} for n in numbers],
            )


async def run_client(url: str, threads: list[list[str]], events: int, concurrency: int) -> Any:
    """The load, from a process of its own (its CPU is not the server's)."""
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ingest",
        "--client",
        url,
        "--events",
        str(events),
        "--concurrency",
        str(concurrency),
        "--threads-json",
        json.dumps(threads),
        stdout=asyncio.subprocess.PIPE,
        env=os.environ | {"PYTHONPATH": str(Path.cwd())},
    )
    out, _ = await client.communicate()
    if client.returncode != 0:
        raise SystemExit(f"the load client failed (exit {client.returncode})")
    return json.loads(out)


def figures_of(load: dict[str, Any], events: int) -> dict[str, Any]:
    latencies = sorted(load["latencies_ms"])
    return {
        "events": events,
        "wall_s": load["wall_s"],
        "events_per_s": events / load["wall_s"],
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": latencies[-1],
        "statuses": load["statuses"],
    }


async def run(
    events: int,
    concurrency: int,
    thread_count: int,
    batch_size: int,
    preloaded: int = 0,
    database_url: str | None = None,
) -> dict[str, Any]:
    """The bot under the load; the fake Slack Web API in a process of its own."""
    channels = [f"C{n:06d}" for n in range(thread_count)]
    with fakes_process.slack(channels=[*channels, "CPRELOAD"]) as fake:
        async with bench_database(database_url) as database:
            return await _run_bot(
                fake, database, channels, events, concurrency, batch_size, preloaded
            )


async def _run_bot(
    fake: dict[str, Any],
    database: dict[str, str],
    channels: list[str],
    events: int,
    concurrency: int,
    batch_size: int,
    preloaded: int,
) -> dict[str, Any]:
    # Imported here, not at the top: the load-generating child process needs none of it.
    from bench._support import MachineCpu, peak_rss_mb, temp_context
    from bot.runtime import serving
    from bot.services.ask import ask_and_deliver
    from bot.services.inbound import Inbound
    from bot.services.reply_writer import writer_for

    async with temp_context(
        SLACK_BOT_TOKEN=fake["bot_token"],
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake["url"],
        LEADERBOT_LOG_LEVEL="WARNING",
        **database,
    ) as ctx:
        threads = []
        for cid in channels:
            result = await ask_and_deliver(ctx, cid)
            threads.append([cid, result.post.message_id])
        if preloaded:
            old = await ask_and_deliver(ctx, "CPRELOAD")
            assert old.post.message_id is not None
            await preload(ctx, old.post.id, "CPRELOAD", old.post.message_id, preloaded)
        writer_for(ctx).batch_size = batch_size
        inbound = Inbound(ctx)
        cpu_before = time.process_time()
        async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
            url = f"http://127.0.0.1:{server.port}/slack/events"
            meter = MachineCpu().start()  # from the client's start-up on: a slight undercount
            load = await run_client(url, threads, events, concurrency)
            machine_busy = meter.busy()
            acked_at = time.perf_counter()
            stored = await wait_for_replies(ctx, events + preloaded) - preloaded
            drain_s = time.perf_counter() - acked_at
        cpu_s = time.process_time() - cpu_before
        await inbound.close()  # writes replies acked but still queued
    return figures_of(load, events) | {
        "drain_s": drain_s,
        "stored_per_s": stored / (load["wall_s"] + drain_s),
        "stored": stored,
        "lost": events - stored,
        "cpu_ms_per_event": cpu_s * 1000 / events,
        "machine_busy": machine_busy,
        "peak_rss_mb": peak_rss_mb(),
    }


# ----------------------------------------------------------------------------- the floor


@asynccontextmanager
async def bare_app(directory: str) -> AsyncIterator[dict[str, Any]]:
    """The floor: an aiohttp app that checks the signature, reads the JSON, and acks once the
    reply is committed to SQLite (sqlite3 in a thread, one INSERT per reply, group commit as
    the bot's writer does it): what this machine and this client give for the same work
    without leaderbot's checks, dedupe and thread look-ups."""
    import sqlite3

    from tests.fakes.signing import signature

    database = sqlite3.connect(
        Path(directory) / "bare.db", isolation_level=None, check_same_thread=False
    )
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=NORMAL")
    database.execute(
        "CREATE TABLE replies (channel TEXT, ts TEXT, user TEXT, text TEXT, UNIQUE (channel, ts))"
    )
    queue: asyncio.Queue[tuple[tuple[str, str, str, str], asyncio.Future[None]]]
    queue = asyncio.Queue()

    def commit(rows: list[tuple[str, str, str, str]]) -> None:
        database.execute("BEGIN IMMEDIATE")
        database.executemany("INSERT OR IGNORE INTO replies VALUES (?, ?, ?, ?)", rows)
        database.execute("COMMIT")

    async def writer() -> None:
        while True:
            batch = [await queue.get()]
            await asyncio.sleep(0.001)
            while not queue.empty():
                batch.append(queue.get_nowait())
            await asyncio.to_thread(commit, [row for row, _ in batch])
            for _, done in batch:
                done.set_result(None)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        ts = request.headers["X-Slack-Request-Timestamp"]
        if request.headers["X-Slack-Signature"] != signature(body, SECRET, ts):
            return web.Response(status=401)
        event = json.loads(body)["event"]
        done = asyncio.get_running_loop().create_future()
        await queue.put(((event["channel"], event["ts"], event["user"], event["text"]), done))
        await done
        return web.Response(status=200)

    task = asyncio.create_task(writer())
    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield {"url": f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"}
    finally:
        await runner.cleanup()
        task.cancel()
        database.close()


async def run_bare(events: int, concurrency: int, thread_count: int) -> dict[str, Any]:
    import tempfile

    threads = [[f"C{n:06d}", "1700000000.000100"] for n in range(thread_count)]
    with (
        tempfile.TemporaryDirectory() as directory,
        fakes_process.run("bench.ingest:bare_app", directory=directory) as bare,
    ):
        load = await run_client(bare["url"], threads, events, concurrency)
    return figures_of(load, events)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32, help="client connections")
    parser.add_argument("--threads", type=int, default=10, help="question threads replied to")
    parser.add_argument("--batch-size", type=int, default=500, help="events per transaction")
    parser.add_argument(
        "--preload", type=int, default=0, metavar="N", help="replies stored before the load"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="PostgreSQL server to run on (a database is created there and dropped); "
        "default SQLite in a temporary directory",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare app's run")
    parser.add_argument("--client", metavar="URL", dest="url", help=argparse.SUPPRESS)
    parser.add_argument("--threads-json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.url:
        client_main(args)
        return
    figures = asyncio.run(
        run(
            args.events,
            args.concurrency,
            args.threads,
            args.batch_size,
            args.preload,
            args.database_url,
        )
    )
    from bench._support import percent

    backend = "PostgreSQL" if args.database_url and "postgres" in args.database_url else "SQLite"
    print(
        f"{backend}, {args.preload} replies stored before; "
        f"{figures['events']} events, {args.concurrency} connections, "
        f"batches of up to {args.batch_size}: "
        f"{figures['events_per_s']:.0f} events/s acked "
        f"(p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
        f"max {figures['max_ms']:.1f} ms; HTTP {figures['statuses']})"
    )
    print(
        f"all stored {figures['drain_s']:.2f} s after the last ack "
        f"({figures['stored_per_s']:.0f} events/s end to end); "
        f"stored {figures['stored']}, lost {figures['lost']}; "
        f"CPU {figures['cpu_ms_per_event']:.2f} ms an event in the bot's process; machine CPU "
        f"busy {percent(figures['machine_busy'])} during the load; "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB"
    )
    if not args.no_baseline:
        bare = asyncio.run(run_bare(args.events, args.concurrency, args.threads))
        print(
            f"bare aiohttp + sqlite3 (same client, same connections): "
            f"{bare['events_per_s']:.0f} events/s (p50 {bare['p50_ms']:.1f} ms, "
            f"p99 {bare['p99_ms']:.1f} ms) -> leaderbot at "
            f"{figures['events_per_s'] / bare['events_per_s']:.2f}x the floor's rate"
        )
    met = (
        figures["stored_per_s"] >= TARGET_PER_S
        and figures["p99_ms"] < TARGET_P99_MS
        and figures["lost"] == 0
    )
    print(
        f"target (>= {TARGET_PER_S} events/s stored end to end, ack p99 < {TARGET_P99_MS} ms, "
        f"none lost): {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
