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
    env["LEADERBOT_ALLOW_PRIVATE_FEEDS"] = "true"  # the fake server is on 127.0.0.1 (not for add)

    async def call(*args: str, private: bool = True) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env if private else {**env, "LEADERBOT_ALLOW_PRIVATE_FEEDS": "false"},
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

    code, out, err = await cli("feeds", "list")
    assert code == 0, err
    assert "Fake News" in out and "not polled yet" in out

    code, out, err = await cli("feeds", "poll")
    assert code == 0, err
    assert "feed 1 Fake News: primed" in out
    assert "1 first fetch (backlog recorded, not alerted)" in out

    code, out, _ = await cli("feeds", "poll")  # polled again, due or not
    assert "feed 1 Fake News: changed" in out

    code, out, _ = await cli("feeds", "list")
    assert "ok " in out

    code, out, err = await cli("feeds", "remove", "1")
    assert code == 0 and "removed feed 1" in out


REPORT = Item(
    title="Socitm publishes its annual digital trends report",
    link="https://news.example/trends",
    guid="r1",
)


async def test_a_feed_added_for_a_channel_alerts_that_channel(cli, server: FeedServer) -> None:
    server.feed("/news", rss([Item(title="Old story", guid="old")]))
    code, out, err = await cli("feeds", "add", server.url("/news"), "--channel", "C0100")
    assert code == 0, err
    assert "alerts to channel C0100 only" in out
    assert "alerts turned on in C0100" in out and "alerts off" not in out.split("(")[0]
    assert (await cli("feeds", "poll"))[0] == 0  # the backlog: recorded, not alerted

    server.feed("/news", rss([REPORT, Item(title="Old story", guid="old")]))
    code, out, err = await cli("feeds", "poll")

    assert code == 0, err
    assert "1 report(s), 1 alert(s) queued; 1 post(s) sent" in out
    assert REPORT.title in out  # the console platform printed the alert in C0100
    code, out, _ = await cli("audit")
    assert "alerts" in out and "C0100" in out


async def test_poll_sends_every_feed_not_only_the_due_ones(cli, server: FeedServer) -> None:
    server.feed("/news", rss([]))
    await cli("alerts", "on", "--channel", "C1")
    await cli("feeds", "add", server.url("/news"))
    await cli("feeds", "poll")
    server.feed("/news", rss([REPORT]))

    code, out, err = await cli("feeds", "poll")  # right after the last: nothing is due

    assert code == 0, err
    assert "feed 1 127.0.0.1: changed, 1 new item(s), 1 report(s), 1 alert(s) queued" in out
    assert "sent 1 post(s)" in out


async def test_alerts_on_and_off_for_a_channel(cli) -> None:
    code, out, err = await cli("alerts", "on", "--channel", "C7")
    assert (code, out.strip()) == (0, "alerts on in C7"), err
    code, out, _ = await cli("alerts", "on", "--channel", "C7")
    assert out.strip() == "alerts already on in C7"
    code, out, _ = await cli("alerts", "off", "--channel", "C7")
    assert (code, out.strip()) == (0, "alerts off in C7")


async def test_poll_exits_non_zero_when_every_feed_failed(cli, server: FeedServer) -> None:
    server.feed("/broken", b"", status=500)
    await cli("feeds", "add", server.url("/broken"))
    code, out, err = await cli("feeds", "poll")
    assert code == 1
    assert "failed [http_status] HTTP 500" in out
    assert "every feed failed" in err


async def test_a_failing_feed_beside_a_healthy_one_is_reported_by_poll(
    cli, server: FeedServer
) -> None:
    server.feed("/broken", b"", status=500)
    server.feed("/good", rss([]))
    await cli("feeds", "add", server.url("/broken"))
    await cli("feeds", "add", server.url("/good"))
    code, out, err = await cli("feeds", "poll")
    assert code == 0, err
    assert "feed 1 127.0.0.1: failed [http_status] HTTP 500" in out
    assert "feed 2 127.0.0.1: primed" in out


def assert_refused(code: int, err: str) -> None:
    """The CLI contract: exit 2 and one line naming what to type instead."""
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert "leaderbot" in err and "/leadership" not in err, err


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed", "not a url"])
async def test_bad_addresses_are_refused_with_a_reason(cli, url: str) -> None:
    assert_refused(*(await cli("feeds", "add", url))[::2])


async def test_feed_cli_errors_exit_2_with_cli_wording(cli, server: FeedServer) -> None:
    server.feed("/news", rss([]))
    assert (await cli("feeds", "add", server.url("/news")))[0] == 0
    code, _, err = await cli("feeds", "add", server.url("/news"))
    assert_refused(code, err)
    assert "already watched, as feed 1" in err
    code, _, err = await cli("feeds", "remove", "9")
    assert_refused(code, err)
    assert "no feed 9" in err and "`leaderbot feeds list`" in err
    assert_refused(*(await cli("feeds", "add"))[::2])


@pytest.mark.parametrize(
    "command", [("feeds", "add", "https://example.com/feed"), ("alerts", "on")]
)
async def test_an_empty_channel_is_refused(cli, command: tuple[str, ...]) -> None:
    code, _, err = await cli(*command, "--channel", "")
    assert_refused(code, err)
    assert "--channel" in err


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/feed",
        "http://localhost/feed",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/feed",
        "http://10.1.2.3/rss",
    ],
)
async def test_a_private_feed_address_is_refused_at_add(cli, url: str) -> None:
    code, _, err = await cli("feeds", "add", url, private=False)
    assert_refused(code, err)
    assert "not a public address" in err and "LEADERBOT_ALLOW_PRIVATE_FEEDS" in err
    code, out, _ = await cli("feeds", "list", private=False)
    assert "no feeds yet" in out
