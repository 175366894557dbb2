"""`leaderbot feeds add|list|poll|remove` as a user meets it: a real process against the fake
feed server (run asynchronously, so the server keeps serving while the CLI runs)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.feed_server import FeedServer, Item, rss


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as fake:
        yield fake


@pytest.fixture
def cli(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    env["LEADERBOT_ALLOW_PRIVATE_FEEDS"] = "true"  # the fake server is on 127.0.0.1

    async def call(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    return call


async def test_add_list_poll_remove(cli, server: FeedServer) -> None:
    server.feed("/news", rss([Item(title="Socitm publishes report", guid="1")]))
    code, out, err = await cli(
        "feeds", "add", server.url("/news"), "--channel", "C1", "--keywords", "digital",
        "--exclude", "webinar", "--name", "Fake News",
    )  # fmt: skip
    assert code == 0, err
    assert "added feed 1: Fake News" in out and "channel C1 only" in out
    assert "digital -webinar" in out
    assert "C1 has alerts off" in out

    code, out, err = await cli("feeds", "list")
    assert code == 0, err
    assert "Fake News" in out and "not polled yet" in out

    code, out, err = await cli("feeds", "poll")
    assert code == 0, err
    assert "feed 1 Fake News: primed" in out
    assert "1 first fetch (backlog recorded, not alerted)" in out

    code, out, _ = await cli("feeds", "poll")
    assert "0 feed(s) polled" in out  # not due again yet
    code, out, _ = await cli("feeds", "poll", "--all")
    assert "feed 1 Fake News: changed" in out

    code, out, _ = await cli("feeds", "list")
    assert "ok " in out

    code, out, err = await cli("feeds", "add", server.url("/news"))
    assert code == 1 and "already watched, as feed 1" in err

    code, out, err = await cli("feeds", "remove", "1")
    assert code == 0 and "removed feed 1" in out
    code, out, err = await cli("feeds", "remove", "1")
    assert code == 1 and "no feed 1" in err


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed", "not a url"])
async def test_bad_addresses_are_refused_with_a_reason(cli, url: str) -> None:
    code, _, err = await cli("feeds", "add", url)
    assert code == 1 and "leaderbot feeds:" in err


async def test_a_failing_feed_is_reported_by_poll(cli, server: FeedServer) -> None:
    server.feed("/broken", b"", status=500)
    await cli("feeds", "add", server.url("/broken"))
    code, out, err = await cli("feeds", "poll")
    assert code == 0, err
    assert "failed [http_status] HTTP 500" in out
