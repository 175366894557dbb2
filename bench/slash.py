"""bench/slash: `/leadership` at 50 commands/s for 30 s, HTTP mode, SQLite, open loop.

    python -m bench.slash [--rate 50] [--seconds 30] [--latency 0.05] [--no-baseline]

Three processes, so that no one's event loop slows another's clock: the fake Slack Web API
(with the response_url endpoint, the "catcher"), the app under test (`SlackServer` with every
listener, a temporary SQLite database), and this one, which sends signed slash commands
open loop: command n is due at start + n/rate, whether or not earlier ones have been
answered, and every latency is measured from that scheduled time, not from when its task
got round to sending it (no coordinated omission: a stall in this process or in the app
shows as latency of every command due during it). The bodies are built and signed before
the clock starts.

- ack: scheduled send -> the HTTP response read;
- answer: scheduled send -> the response_url POST arriving at the catcher (wall clocks of
  two processes on one machine).

Baseline (unless --no-baseline): the same commands, same rate, same client, to a bare aiohttp
app in its own process that checks the signature, answers 200 at once and POSTs a one-line
answer to the response_url: the floor this machine and this client give. Its figures and
the ratio are printed beside the app's.

Warm-up, then the steady state. A council sets a channel's schedule once; that first
`schedule` joins the channel (conversations.join, one Slack round trip) and creates its rows,
and later commands there find the bot known to be in it. So first each of the 20 channels gets
one `schedule` (open loop at the same rate, printed as "cold"), then the measured window sends
the mix (the "steady" figures, which the targets apply to). The bare app gets the same warm-up.

The mix: status, help, questions and admins from members; schedule, pause and resume from a
workspace admin (each one a users.info look-up, a write and an audit entry), over 20 channels.
Targets: answer p99 under 30 ms ("Close to the floor"); ack p99 under 100 ms and never over
3 s (Slack's limit).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from bench import fakes_process
from tests.fakes.signing import FORM, command_body, signature, signed_headers

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
ANSWER_TARGET, ACK_TARGET, ACK_LIMIT = 0.030, 0.100, 3.0


# ----------------------------------------------------------------------------- the servers


@asynccontextmanager
async def app_under_test(fake_url: str, token: str) -> AsyncIterator[dict[str, Any]]:
    """The bot: every listener on one HTTP server, as `leaderbot run` serves it (SQLite)."""
    from bench._support import temp_context
    from bot.runtime import serving
    from bot.services.inbound import Inbound

    async with temp_context(
        SLACK_BOT_TOKEN=token, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake_url
    ) as ctx:
        inbound = Inbound(ctx)
        try:
            async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
                yield {"url": f"http://127.0.0.1:{server.port}/slack/events"}
        finally:
            await inbound.close()


@asynccontextmanager
async def bare_app() -> AsyncIterator[dict[str, Any]]:
    """The floor: check the signature, answer 200 at once, then POST a one-line answer to the
    response_url (one pooled client session), as the app does for a command that needs no
    Web API call and no database."""
    from urllib.parse import parse_qs

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    pending: set[asyncio.Task[None]] = set()

    async def answer(url: str) -> None:
        async with session.post(url, json={"text": "ok"}) as response:
            await response.read()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        ts = request.headers["X-Slack-Request-Timestamp"]
        if request.headers["X-Slack-Signature"] != signature(body, SECRET, ts):
            return web.Response(status=401)
        url = parse_qs(body.decode())["response_url"][0]
        task = asyncio.create_task(answer(url))
        pending.add(task)
        task.add_done_callback(pending.discard)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield {"url": f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"}
    finally:
        await runner.cleanup()
        await session.close()


# ----------------------------------------------------------------------------- the load


Command = tuple[str, dict[str, str], str]  # body, headers, the command's first word


def signed(n: int, user: str, text: str, channel: str, catcher: str, run: str) -> Command:
    body = command_body(
        "/leadership",
        text,
        user_id=user,
        channel_id=channel,
        channel_name="bench",
        response_url=f"{catcher}r/{run}-{n}",
    )
    return body, signed_headers(body, SECRET, content_type=FORM), text.split()[0]


def commands(total: int, catcher: str, run: str) -> list[Command]:
    """`total` signed commands (same seed, same mix every run); answers go to
    {catcher}r/{run}-{n}."""
    rng = random.Random(4)
    weights = [w for w, _, _ in MIX]
    built = []
    for n in range(total):
        _, user, template = rng.choices(MIX, weights=weights)[0]
        text = template.format(day=rng.choice(DAYS), hour=rng.randrange(7, 18))
        built.append(signed(n, user, text, rng.choice(CHANNELS), catcher, run))
    return built


def warm_up(catcher: str, run: str) -> list[Command]:
    """Each channel's first schedule: the one that joins the channel and creates its rows."""
    return [
        signed(n, ADMIN, f"schedule {DAYS[n % len(DAYS)]} 9:00", channel, catcher, run)
        for n, channel in enumerate(CHANNELS)
    ]


async def load(
    url: str, catcher: str, run: str, rate: float, todo: list[Command]
) -> dict[str, Any]:
    """Send `todo` open loop at `rate` a second; every latency from the scheduled send."""
    total = len(todo)
    acks: list[float] = []
    failures: list[str] = []
    lag: list[float] = []  # how late each send started against its schedule (this process)
    connector = aiohttp.TCPConnector(limit=0)  # never queue in the client: we time the app
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(due: float, body: str, headers: dict[str, str]) -> None:
            lag.append(time.perf_counter() - due)
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as exc:
                failures.append(type(exc).__name__)
                return
            acks.append(time.perf_counter() - due)  # from the scheduled send time
            if status != 200:
                failures.append(f"HTTP {status}")

        start = time.perf_counter() + 0.1
        start_wall = time.time() + (start - time.perf_counter())
        tasks = []
        for n, (body, headers, _) in enumerate(todo):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, body, headers)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - start

        # The answers come after the acks: wait (bounded) until every one has arrived.
        answers: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with session.get(f"{catcher}answers") as response:
                answers = {
                    k: v for k, v in (await response.json()).items() if k.startswith(f"{run}-")
                }
            if len(answers) >= total:
                break
            await asyncio.sleep(0.25)
    answer_s, by_kind = [], defaultdict(list)
    for key, arrived in answers.items():
        n = int(key.split("-")[1])
        answer_s.append(arrived - (start_wall + n / rate))
        by_kind[todo[n][2]].append(answer_s[-1])
    return {
        "total": total,
        "wall": wall,
        "acks": acks,
        "failures": failures,
        "answers": answer_s,
        "lag": lag,
        "by_kind": dict(by_kind),
    }


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def show(label: str, figures: dict[str, Any], *, detail: bool = False) -> None:
    acks, answers, lag = figures["acks"], figures["answers"], figures["lag"]
    ms = 1000
    print(
        f"{label}: acks {len(acks)}/{figures['total']} in {figures['wall']:.1f} s "
        f"({len(acks) / figures['wall']:.1f}/s), failures {len(figures['failures'])}, "
        f"send lag p99 {percentile(lag, 99) * ms:.1f} ms"
    )
    for name, values in (("ack", acks), ("answer", answers)):
        print(
            f"  {name:<7} p50 {percentile(values, 50) * ms:6.1f} ms   "
            f"p99 {percentile(values, 99) * ms:6.1f} ms   "
            f"max {max(values, default=float('nan')) * ms:7.1f} ms   "
            f"mean {statistics.fmean(values) * ms if values else float('nan'):6.1f} ms   "
            f"({len(values)}/{figures['total']})"
        )
    if detail:
        print(
            "  answer p50/p99 by command: "
            + ", ".join(
                f"{kind} {percentile(v, 50) * ms:.0f}/{percentile(v, 99) * ms:.0f} ms"
                for kind, v in sorted(figures["by_kind"].items())
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to send")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake API call")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare app's run")
    args = parser.parse_args()

    print(
        f"slash: {args.rate:g} commands/s for {args.seconds:g} s, open loop (timed from each "
        f"scheduled send), HTTP mode, SQLite, fake Slack at {args.latency * 1000:.0f} ms/call"
    )
    users = {ADMIN: True, MEMBER: False}
    with fakes_process.slack(
        latency=args.latency, users=users, channels=CHANNELS, catcher=True
    ) as fake:
        catcher = fake["catcher"]
        total = int(args.rate * args.seconds)

        def both(url: str, run: str) -> tuple[dict[str, Any], dict[str, Any]]:
            cold = asyncio.run(
                load(url, catcher, f"{run}cold", args.rate, warm_up(catcher, f"{run}cold"))
            )
            steady = asyncio.run(load(url, catcher, run, args.rate, commands(total, catcher, run)))
            return cold, steady

        with fakes_process.run(
            "bench.slash:app_under_test", fake_url=fake["url"], token=fake["bot_token"]
        ) as app:
            cold, bot = both(app["url"], "app")
        show("app  cold (each channel's first schedule)", cold)
        show("app  steady", bot, detail=True)
        bare = None
        if not args.no_baseline:
            with fakes_process.run("bench.slash:bare_app") as floor:
                _, bare = both(floor["url"], "bare")
            show("bare steady", bare)
    p99_ack, p99_answer = percentile(bot["acks"], 99), percentile(bot["answers"], 99)
    if bare is not None:
        b_ack, b_answer = percentile(bare["acks"], 99), percentile(bare["answers"], 99)
        print(
            f"ratio app/bare: ack p99 {p99_ack / b_ack:.1f}x, answer p99 "
            f"{p99_answer / b_answer:.1f}x (p50: ack "
            f"{percentile(bot['acks'], 50) / percentile(bare['acks'], 50):.1f}x, answer "
            f"{percentile(bot['answers'], 50) / percentile(bare['answers'], 50):.1f}x)"
        )
    complete = not bot["failures"] and len(bot["answers"]) == bot["total"]
    ok_answer = p99_answer < ANSWER_TARGET and complete
    ok_ack = p99_ack < ACK_TARGET and max(bot["acks"], default=9e9) < ACK_LIMIT and complete
    print(
        f"target    answer p99 < {ANSWER_TARGET * 1000:.0f} ms: "
        f"{'met' if ok_answer else 'NOT met'} ({p99_answer * 1000:.1f} ms)"
    )
    print(
        f"target    ack p99 < {ACK_TARGET * 1000:.0f} ms, max < {ACK_LIMIT:g} s: "
        f"{'met' if ok_ack else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
