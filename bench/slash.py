"""bench/slash: `/leadership` ack latency at 50 commands/s for 30 s, HTTP mode, SQLite.

    python -m bench.slash [--rate 50] [--seconds 30] [--latency 0.05]

Three processes, so that no one's event loop slows another's clock: the fake Slack Web API
(with the response_url endpoint), the app under test (`SlackServer` with every listener, a
temporary SQLite database), and this one, which sends signed slash commands open-loop (on a
fixed timetable, whether or not earlier ones have been answered) and times each HTTP ack.
The answers that follow the ack (through response_url) are counted and timed too.

The mix: status, help, questions and admins from members; schedule, pause and resume from a
workspace admin (each one a users.info look-up, a write and an audit entry), over 20 channels.
Target: ack p99 under 100 ms, never over 3 s (Slack's limit).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import time
from multiprocessing.queues import Queue
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.signing import FORM, command_body, signed_headers

CHANNELS = [f"C{n:07d}" for n in range(20)]
ADMIN, MEMBER = "U0ADMIN", "U0MEMBER"
SECRET = "bench-signing-secret"
# (weight, who, text): reads from members, changes from an admin.
MIX = [
    (40, MEMBER, "status"),
    (15, MEMBER, "help"),
    (10, MEMBER, "questions"),
    (5, MEMBER, "admins"),
    (15, ADMIN, "schedule {day} {hour}:00"),
    (8, ADMIN, "pause until 2099-01-01"),
    (7, ADMIN, "resume"),
]
DAYS = ["mon", "tue", "wed", "thu", "fri"]


# ----------------------------------------------------------------------------- process 1


async def _fake_main(out: Queue, stop: Any, latency: float) -> None:
    from tests.fakes.slack_api import FakeSlack

    answers: dict[str, float] = {}

    async def receive(request: web.Request) -> web.Response:
        answers[request.match_info["n"]] = time.time()
        await request.read()
        return web.Response(text="ok")

    async def report(request: web.Request) -> web.Response:
        return web.json_response(answers)

    catcher = web.Application()
    catcher.router.add_post("/r/{n}", receive)
    catcher.router.add_get("/answers", report)
    runner = web.AppRunner(catcher, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    async with FakeSlack(latency=latency) as fake:
        fake.add_user(ADMIN, "admin", is_admin=True)
        fake.add_user(MEMBER, "member")
        for cid in CHANNELS:
            fake.add_channel(cid, cid.lower(), members=[ADMIN, MEMBER])
        out.put((fake.url, fake.bot_token, runner.addresses[0][1]))
        await asyncio.to_thread(stop.wait)  # a process-wide event: wait for it off the loop
    await runner.cleanup()


def fake_process(out: Queue, stop: Any, latency: float) -> None:
    asyncio.run(_fake_main(out, stop, latency))


# ----------------------------------------------------------------------------- process 2


async def _app_main(out: Queue, stop: Any, fake_url: str, token: str) -> None:
    from bench._support import temp_context
    from bot.runtime import serving
    from bot.services.inbound import Inbound

    async with temp_context(
        SLACK_BOT_TOKEN=token, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake_url
    ) as ctx:
        # Every listener on the one HTTP server, as in `run`.
        inbound = Inbound(ctx)
        async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
            out.put(server.port)
            await asyncio.to_thread(stop.wait)
        await inbound.close()


def app_process(out: Queue, stop: Any, fake_url: str, token: str) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_app_main(out, stop, fake_url, token))


# ----------------------------------------------------------------------------- the load


def _command(n: int, rng: random.Random, catcher_port: int) -> tuple[str, str]:
    weights = [w for w, _, _ in MIX]
    _, user, template = rng.choices(MIX, weights=weights)[0]
    text = template.format(day=rng.choice(DAYS), hour=rng.randrange(7, 18))
    body = command_body(
        "/leadership",
        text,
        user_id=user,
        channel_id=rng.choice(CHANNELS),
        channel_name="bench",
        response_url=f"http://127.0.0.1:{catcher_port}/r/{n}",
    )
    return body, text.split()[0]


async def load(app_port: int, catcher_port: int, rate: float, seconds: float) -> dict[str, Any]:
    rng = random.Random(4)
    total = int(rate * seconds)
    acks: list[float] = []
    failures: list[str] = []
    sent_at: dict[str, float] = {}
    url = f"http://127.0.0.1:{app_port}/slack/events"
    connector = aiohttp.TCPConnector(limit=0)  # never queue in the client: we time the app
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(n: int) -> None:
            body, _ = _command(n, rng, catcher_port)
            headers = signed_headers(body, SECRET, content_type=FORM)
            sent_at[str(n)] = time.time()
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as exc:
                failures.append(type(exc).__name__)
                return
            acks.append(time.perf_counter() - started)
            if status != 200:
                failures.append(f"HTTP {status}")

        start = time.perf_counter()
        tasks = []
        for n in range(total):
            # Open loop: command n leaves at start + n/rate, however slow the earlier ones.
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start

        # The answers come after the acks: wait (bounded) until every one has arrived.
        answers: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with session.get(f"http://127.0.0.1:{catcher_port}/answers") as response:
                answers = await response.json()
            if len(answers) >= total:
                break
            await asyncio.sleep(0.25)
    answer_s = [answers[n] - sent_at[n] for n in answers if n in sent_at]
    return {
        "total": total,
        "wall": wall,
        "acks": acks,
        "failures": failures,
        "answers": answer_s,
    }


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def show(figures: dict[str, Any]) -> None:
    acks, answers = figures["acks"], figures["answers"]
    ms = 1000
    print(
        f"acks      {len(acks)}/{figures['total']} in {figures['wall']:.1f} s "
        f"({len(acks) / figures['wall']:.1f}/s)   failures {len(figures['failures'])}"
    )
    print(
        f"ack       p50 {percentile(acks, 50) * ms:6.1f} ms   p99 {percentile(acks, 99) * ms:6.1f} "
        f"ms   max {max(acks, default=float('nan')) * ms:6.1f} ms   "
        f"mean {statistics.fmean(acks) * ms if acks else float('nan'):6.1f} ms"
    )
    print(
        f"answer    p50 {percentile(answers, 50) * ms:6.1f} ms   "
        f"p99 {percentile(answers, 99) * ms:6.1f} ms   "
        f"max {max(answers, default=float('nan')) * ms:6.1f} ms   "
        f"received {len(answers)}/{figures['total']}"
    )
    p99, worst = percentile(acks, 99), max(acks, default=float("inf"))
    verdict = "met" if p99 < 0.1 and worst < 3.0 and not figures["failures"] else "NOT met"
    print(f"target    ack p99 < 100 ms, max < 3 s: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake API call")
    args = parser.parse_args()

    spawn = mp.get_context("spawn")
    stop = spawn.Event()
    fake_out: Queue = spawn.Queue()
    app_out: Queue = spawn.Queue()
    fake = spawn.Process(target=fake_process, args=(fake_out, stop, args.latency), daemon=True)
    fake.start()
    fake_url, token, catcher_port = fake_out.get(timeout=60)
    app = spawn.Process(target=app_process, args=(app_out, stop, fake_url, token), daemon=True)
    app.start()
    try:
        app_port = app_out.get(timeout=60)
        print(
            f"slash: {args.rate:g} commands/s for {args.seconds:g} s, HTTP mode, SQLite, "
            f"fake Slack at {args.latency * 1000:.0f} ms/call"
        )
        show(asyncio.run(load(app_port, catcher_port, args.rate, args.seconds)))
    finally:
        stop.set()
        for process in (app, fake):
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()


if __name__ == "__main__":
    main()
