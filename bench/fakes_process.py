"""Run a fake (FakeSlack, the feed server, a bare app...) in its own process and hand back its
URL, so that its CPU and event loop are not the bot's.

    from bench import fakes_process

    with fakes_process.slack(latency=0.05, users={"U1": True}, channels=["C1"]) as fake:
        fake["url"], fake["bot_token"], fake["catcher"]        # the Web API base, ...
    with fakes_process.feed_server(feeds=500, latency=0.1) as fake:
        fake["url"], fake["port"]                              # http://127.0.0.1:PORT/

Any fake can be run this way: `run("module:function", **options)` where the function is an
async context manager (`@asynccontextmanager`) that takes `options` (keyword arguments,
picklable), starts the fake, and yields a picklable dict describing it (at least "url").
The child is a fresh interpreter (multiprocessing "spawn"): it runs until the `with` block
ends, then it is stopped (and terminated if it does not stop within a few seconds). A failure
to start is raised in the parent with the child's traceback.

Usable from async code too: the only blocking wait is for the child to start (once).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing as mp
import queue
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiohttp import web

START_TIMEOUT = 60.0


class FakeFailed(RuntimeError):
    """The fake's process could not start (its traceback is the message)."""


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


async def _child_main(target: str, options: dict[str, Any], out: Any, stop: Any) -> None:
    factory = _resolve(target)
    async with factory(**options) as info:
        out.put(("ok", info))
        # A process-wide event: wait for it off the loop, so the fake keeps serving.
        await asyncio.to_thread(stop.wait)


def _child(target: str, options: dict[str, Any], out: Any, stop: Any) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(_child_main(target, options, out, stop))
    except BaseException:
        out.put(("error", traceback.format_exc()))  # raised in the parent, with this traceback
        raise SystemExit(1) from None


@contextmanager
def run(target: str, /, **options: Any) -> Iterator[dict[str, Any]]:
    """Run `target` ("module:function", see the module's docstring) in a child process for the
    duration of the block; yield the dict it describes itself with, plus "pid"."""
    spawn = mp.get_context("spawn")
    out = spawn.Queue()
    stop = spawn.Event()
    process = spawn.Process(target=_child, args=(target, options, out, stop), daemon=True)
    process.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                status, info = out.get(timeout=0.5)
                break
            except queue.Empty:
                if not process.is_alive():
                    raise FakeFailed(
                        f"{target} exited ({process.exitcode}) before starting"
                    ) from None
                if time.monotonic() > deadline:
                    raise FakeFailed(f"{target} did not start within {START_TIMEOUT} s") from None
        if status != "ok":
            raise FakeFailed(f"{target} failed to start:\n{info}")
        yield {**info, "pid": process.pid}
    finally:
        stop.set()
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)


# ----------------------------------------------------------------------------- the fakes


@asynccontextmanager
async def _catcher() -> AsyncIterator[tuple[web.AppRunner, dict[str, float]]]:
    """POST /r/{n} records when answer n arrived (time.time()); GET /answers lists them."""
    answers: dict[str, float] = {}

    async def receive(request: web.Request) -> web.Response:
        answers[request.match_info["n"]] = time.time()
        await request.read()
        return web.Response(text="ok")

    async def report(request: web.Request) -> web.Response:
        return web.json_response(answers)

    app = web.Application()
    app.router.add_post("/r/{n}", receive)
    app.router.add_get("/answers", report)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner, answers
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _poster_report(fake: Any) -> AsyncIterator[str]:
    """GET {url}posts: the top-level messages the fake holds, as {"channel": [ts, ...]}: what
    a benchmark counts duplicates and lost posts from, and times the last post by.
    GET {url}tokens: the chat.postMessage calls by whose token they came with:
    {"own": n, "wrong": n, "unknown": n} ("wrong": a token of another workspace than the
    channel's, which the fake refuses with channel_not_found, as Slack does)."""

    async def report(request: web.Request) -> web.Response:
        posts: dict[str, list[str]] = {}
        for message in fake.messages():
            if not message.is_reply:
                posts.setdefault(message.channel, []).append(message.ts)
        return web.json_response(posts)

    async def tokens(request: web.Request) -> web.Response:
        counts = {"own": 0, "wrong": 0, "unknown": 0}
        for call in fake.calls("chat.postMessage"):
            grant = fake.tokens.get(_bearer(call.headers, call.body))
            channel = fake.channels.get(str(call.body.get("channel") or ""))
            if grant is None or channel is None:
                counts["unknown"] += 1
            else:
                counts["own" if grant.team_id == channel.team_id else "wrong"] += 1
        return web.json_response(counts)

    app = web.Application()
    app.router.add_get("/posts", report)
    app.router.add_get("/tokens", tokens)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


def _bearer(headers: Any, body: dict[str, Any]) -> str:
    header = str(headers.get("Authorization", ""))
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return str(body.get("token") or "")


@asynccontextmanager
async def slack_fake(
    latency: float = 0.0,
    users: dict[str, bool] | None = None,
    channels: list[str] | None = None,
    catcher: bool = False,
    report: bool = False,
    workspaces: dict[str, list[str]] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """FakeSlack (tests/fakes/slack_api.py) with `latency` per Web API call, `users` ({id:
    is workspace admin}) and `channels` (every user a member). With `catcher`, also a
    response_url receiver: "catcher" is its base URL (POST {catcher}r/{n}, GET
    {catcher}answers). With `report`, "report" is the base URL of GET {report}posts (see
    `_poster_report`). With `workspaces` ({team id: its channel ids}), each is a workspace of
    its own with a bot token of its own, issued as an install would ("tokens": {team id:
    token}; "client_id" and "client_secret" are the app's, for OAuth mode)."""
    from tests.fakes.slack_api import FakeSlack

    async with FakeSlack(latency=latency) as fake, contextlib.AsyncExitStack() as stack:
        members = list(users or {})
        for uid, is_admin in (users or {}).items():
            fake.add_user(uid, uid.lower(), is_admin=is_admin)
        for cid in channels or []:
            fake.add_channel(cid, cid.lower(), members=members)
        info: dict[str, Any] = {"url": fake.url, "bot_token": fake.bot_token, "port": fake.port}
        if workspaces is not None:
            tokens: dict[str, str] = {}
            for team, team_channels in workspaces.items():
                fake.add_team(team, f"Council {team}")
                tokens[team] = fake.issue_token(team)
                for cid in team_channels:
                    fake.add_channel(cid, cid.lower(), members=members, team_id=team)
            info.update(tokens=tokens, client_id=fake.client_id, client_secret=fake.client_secret)
        if report:
            info["report"] = await stack.enter_async_context(_poster_report(fake))
        if not catcher:
            yield info
            return
        async with _catcher() as (runner, _):
            info["catcher"] = f"http://127.0.0.1:{runner.addresses[0][1]}/"
            yield info


def slack(**options: Any) -> Any:
    """`run` FakeSlack; see `slack_fake` for the options."""
    return run("bench.fakes_process:slack_fake", **options)


@asynccontextmanager
async def feed_server_fake(feeds: int = 500, latency: float = 0.1) -> AsyncIterator[dict[str, Any]]:
    """The fake feed server in benchmark mode: /feed/0 ... /feed/{feeds-1}, `latency` seconds
    before each answer, POST /_bench/change?every=5 gives every 5th feed a new item."""
    from tests.fakes.feed_server import FeedServer

    server = FeedServer()
    server.bench_feeds(feeds, latency)
    async with server:
        yield {"url": server.url("/"), "port": server.port}


def feed_server(**options: Any) -> Any:
    """`run` the fake feed server; see `feed_server_fake` for the options."""
    return run("bench.fakes_process:feed_server_fake", **options)
