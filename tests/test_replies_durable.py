"""An acknowledged reply is a stored reply: kill -9 right after the acks loses none of them.

Real processes: `leaderbot run` in HTTP mode against the fake Slack Web API, signed events over
HTTP, SIGKILL, a restart while `conversations.replies` answers 500, then `leaderbot digest`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.fakes import eventually
from tests.fakes.signing import event_body, signed_headers
from tests.fakes.slack_api import FakeSlack, HttpError

SECRET = "durable-signing-secret"
REPLIES = 60


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        for n in range(REPLIES):
            server.add_user(f"U{n:03d}", f"person{n}", display_name=f"Person {n}")
        server.add_channel("C1", "leadership")
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(fake: FakeSlack, db: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    return env | {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "LEADERBOT_PORT": str(port),
    }


async def cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=env, cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def start_run(env: dict[str, str], cwd: Path, log: str) -> asyncio.subprocess.Process:
    with (cwd / log).open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=cwd,
            stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    url = f"http://127.0.0.1:{env['LEADERBOT_PORT']}/healthz"

    async def healthy() -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(healthy, within=30, every=0.1)
    return proc


def reply_event(n: int, thread_ts: str) -> dict[str, object]:
    ts = f"{time.time():.6f}"
    return {
        "type": "message",
        "channel": "C1",
        "channel_type": "channel",
        "user": f"U{n:03d}",
        "text": f"Acked reply {n}",
        "ts": f"{ts[:-3]}{n:03d}",
        "thread_ts": thread_ts,
        "event_ts": ts,
    }


async def test_kill_9_after_60_acks_then_an_unreadable_thread_loses_no_acked_reply(
    fake: FakeSlack, tmp_path: Path
) -> None:
    db = tmp_path / "bot.db"
    env = environment(fake, db, free_port())
    code, out, err = await cli(env, tmp_path, "ask", "--channel", "C1")
    assert code == 0, err
    (question,) = [m for m in fake.messages("C1") if not m.is_reply]

    bot = await start_run(env, tmp_path, "first.log")
    url = f"http://127.0.0.1:{env['LEADERBOT_PORT']}/slack/events"
    # Hold SQLite's write lock while the events arrive: a bot that acks before it writes
    # acks all 60 with nothing stored, and the kill below loses them all.
    lock = sqlite3.connect(db, isolation_level=None, timeout=10)
    lock.execute("BEGIN IMMEDIATE")

    async def release_soon() -> None:
        await asyncio.sleep(1.0)
        lock.execute("ROLLBACK")

    release = asyncio.ensure_future(release_soon())
    try:
        async with aiohttp.ClientSession() as session:

            async def send(n: int) -> int:
                body = event_body(reply_event(n, question.ts), event_id=f"EvDurable{n:03d}")
                async with session.post(url, data=body, headers=signed_headers(body, SECRET)) as r:
                    return r.status

            statuses = await asyncio.gather(*(send(n) for n in range(REPLIES)))
        assert statuses == [200] * REPLIES  # every one acked...
    finally:
        bot.send_signal(signal.SIGKILL)  # ...and the process killed at once
        await asyncio.wait_for(bot.wait(), 10)
        await release
        lock.close()

    # Restart while Slack cannot read the thread back: reconciliation cannot repair anything.
    fake.inject("conversations.replies", *[HttpError(500)] * 500)
    bot = await start_run(env, tmp_path, "second.log")
    try:
        code, out, err = await cli(env, tmp_path, "digest", "--channel", "C1", "--format", "json")
    finally:
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), 15)
    digest = json.loads(out)
    (item,) = digest["questions"]
    assert sorted(r["text"] for r in item["replies"]) == sorted(
        f"Acked reply {n}" for n in range(REPLIES)
    )
    # And the digest says the thread could not be read back: a warning and exit 1.
    assert digest["complete"] is False and digest["unread_threads"] == 1
    assert code == 1 and "may be incomplete" in err
