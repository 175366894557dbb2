"""The Teams issue's acceptance, end to end: `leaderbot ask` and `leaderbot run` as real
processes against FakeTeams (served by this test process on 127.0.0.1, port 0), through 429s,
5xx, dropped connections and kill -9; a team without the app; and Slack and Teams served by
one process on one port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from bot.domain.questions import load_question_set
from bot.domain.schedule import DAY_NAMES, NATIONS, bank_holiday
from bot.platforms.teams.directory import TeamsDirectory
from bot.runtime import open_context, serving
from bot.services.ask import ask_and_deliver
from bot.services.inbound import Inbound
from bot.settings import BUNDLED_PROMPTS
from bot.store.db import Database
from bot.store.models import Reply
from tests.conftest import make_settings
from tests.fakes import eventually
from tests.fakes.signing import event_body, signed_headers
from tests.fakes.slack_api import FakeSlack
from tests.fakes.teams_api import (
    ADAPTIVE_CARD,
    Delay,
    DropAfterAccept,
    FakeTeams,
    HttpError,
    Message,
    RateLimit,
)
from tests.run_process import start_run
from tests.teams_support import GROUP, LEADERS, OWNER, STAFF, setup_team, teams_env

ELSEWHERE_GROUP = "99999999-8888-7777-6666-555555555555"
ELSEWHERE = "19:00000000000000000000000000000bad@thread.tacv2"  # the app is not in its team
SLACK_CHANNEL = "C0LEADERS"
SLACK_SECRET = "signing-secret-for-acceptance"
QUESTIONS = load_question_set(BUNDLED_PROMPTS)
# Long enough that the test kills the process well inside it; the fake stores the post after.
HELD_POST_S = 3.0


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    async with FakeTeams() as teams:
        setup_team(teams)
        teams.add_team(ELSEWHERE_GROUP, "Finance", installed=False, general_channel_id=ELSEWHERE)
        yield teams


@pytest.fixture
async def db(tmp_path: Path, fake: FakeTeams) -> Path:
    """The bot's database, migrated, knowing the Leadership team (as its install activity
    would have recorded it). The Finance team never installed the app: it is not there."""
    path = tmp_path / "bot.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.upgrade()
        await TeamsDirectory(database).record_team(
            group_id=GROUP,
            tenant_id=fake.tenant_id,
            service_url=fake.service_url,
            installed=True,
            channels=[(LEADERS, "General")],
        )
    finally:
        await database.dispose()
    return path


# --------------------------------------------------------------------------- helpers


def card_key(message: Message) -> str | None:
    for attachment in message.attachments:
        if attachment.get("contentType") == ADAPTIVE_CARD:
            for element in attachment["content"].get("body", []):
                if element.get("id") == "leaderbot-key":
                    return element.get("text")
    return None


def question_threads(fake: FakeTeams, channel: str = LEADERS) -> list[Message]:
    """New threads the bot started in the channel carrying a question's outbox key."""
    return [
        m
        for m in fake.messages(channel)
        if m.is_root and (card_key(m) or "").startswith(("ask:", "question:"))
    ]


def assert_a_listed_question(message: Message) -> None:
    card = json.dumps([a["content"] for a in message.attachments])
    assert any(q.id in card and json.dumps(q.text)[1:-1] in card for q in QUESTIONS.questions), card


def question_rows(db: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select key, status, message_id from posts where kind='question'"
        ).fetchall()


def process_env(fake: FakeTeams, db: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "LEADERBOT_", "TEAMS_", "DATABASE_"))
    }
    return (
        env
        | teams_env(fake)
        | {
            "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
            "LEADERBOT_PORT": "0",
            "LEADERBOT_ALLOW_PRIVATE_FEEDS": "true",
            **extra,
        }
    )


async def start_cli(env: dict[str, str], cwd: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,  # no stray .env file
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await start_cli(env, cwd, *args)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def kill_9(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await asyncio.wait_for(proc.wait(), 10)


async def stop(proc: asyncio.subprocess.Process, cwd: Path, log: str) -> None:
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, (cwd / log).read_text()


async def post_held(fake: FakeTeams) -> None:
    """Until the connector has the post in hand (Delay). The fake wakes its waiters when a
    call finishes, not when it arrives, so this one is polled."""

    async def arrived() -> bool:
        return bool(fake.calls("create_conversation"))

    await eventually(arrived, within=30)


async def held_post_landed(fake: FakeTeams, within: float = HELD_POST_S + 10) -> Message:
    """The connector held the post (Delay) and stores it once the wait is over."""
    await fake.wait_until(lambda: len(question_threads(fake)) == 1, within=within)
    [thread] = question_threads(fake)
    return thread


# --------------------------------------------------------------------------- leaderbot ask


async def test_ask_makes_exactly_one_new_thread_with_a_listed_question(
    fake: FakeTeams, db: Path, tmp_path: Path
) -> None:
    code, out, err = await cli(process_env(fake, db), tmp_path, "ask", "--channel", LEADERS)

    assert code == 0, err
    [thread] = question_threads(fake)
    assert_a_listed_question(thread)
    assert f"to {LEADERS}" in out and f"groupId={GROUP}" in out  # the thread's link
    [(key, status, message_id)] = question_rows(db)
    assert (card_key(thread), status, message_id) == (key, "sent", thread.id)
    [create] = fake.calls("create_conversation")
    assert create.json["isGroup"] is True
    assert create.json["channelData"]["channel"]["id"] == LEADERS


@pytest.mark.parametrize(
    "faults",
    [
        [RateLimit(retry_after=1)],
        [RateLimit(retry_after=1), RateLimit(retry_after=1)],
        [HttpError(500)],
        [HttpError(502), HttpError(503)],
        [DropAfterAccept()],
        [RateLimit(retry_after=1), DropAfterAccept()],
    ],
    ids=["429", "429-twice", "500", "502-then-503", "drop-after-accept", "429-then-drop"],
)
async def test_ask_through_throttling_errors_and_drops_posts_one_thread(
    fake: FakeTeams, db: Path, tmp_path: Path, faults: list[Any]
) -> None:
    fake.inject("create_conversation", *faults)

    code, out, err = await cli(process_env(fake, db), tmp_path, "ask", "--channel", LEADERS)

    assert code == 0, out + err
    [thread] = question_threads(fake)
    assert_a_listed_question(thread)
    assert fake.pending_faults("create_conversation") == 0
    [(key, status, message_id)] = question_rows(db)
    assert (card_key(thread), status, message_id) == (key, "sent", thread.id)
    posts = fake.calls("create_conversation")
    if isinstance(faults[-1], DropAfterAccept):
        # The drop was looked up through Graph and found: it was not posted again.
        assert len(posts) == len(faults)
        assert fake.calls("graph_messages")
    else:
        assert len(posts) == len(faults) + 1
    throttled = [c for c in posts if c.fault == "RateLimit"]
    assert len(throttled) == sum(isinstance(f, RateLimit) for f in faults)


async def test_a_kill_during_a_teams_post_never_posts_twice(
    fake: FakeTeams, db: Path, tmp_path: Path
) -> None:
    """`leaderbot ask` is killed (-9) while the connector holds its post; the post lands after.
    `leaderbot run` then finds it through Graph and records it, and does not post again."""
    env = process_env(fake, db, LEADERBOT_SEND_LEASE_SECONDS="1", LEADERBOT_SWEEP_SECONDS="0.5")
    fake.inject("create_conversation", Delay(HELD_POST_S))

    asking = await start_cli(env, tmp_path, "ask", "--channel", LEADERS)
    try:
        await post_held(fake)
    finally:
        await kill_9(asking)
    assert question_threads(fake) == []  # still held by the connector
    [(key, status, _)] = question_rows(db)
    assert status == "sending"

    thread = await held_post_landed(fake)
    assert card_key(thread) == key

    bot = await start_run(env, tmp_path, "run.log")
    try:

        async def recorded() -> bool:
            return question_rows(db) == [(key, "sent", thread.id)]

        await eventually(recorded, within=30)
        assert fake.calls("graph_messages"), "found by the Graph look-up"
        # Later sweeps change nothing: wait for more traffic, then count posts again.
        seen = len(fake.calls())
        await fake.wait_until(lambda: len(fake.calls()) > seen, within=15)
    finally:
        await stop(bot, tmp_path, "run.log")
    assert len(fake.calls("create_conversation")) == 1
    assert question_threads(fake) == [thread]


async def test_a_scheduled_question_posts_once_across_a_kill_and_restart_of_run(
    fake: FakeTeams, db: Path, tmp_path: Path
) -> None:
    """A weekly schedule whose time has just come: `leaderbot run` posts it; the connector
    holds the post while the process is killed (-9). Restarted, it records the post that
    landed and posts nothing more."""
    env = process_env(fake, db, LEADERBOT_SEND_LEASE_SECONDS="1", LEADERBOT_SWEEP_SECONDS="0.5")
    zone = ZoneInfo("Europe/London")
    due = datetime.now(zone) - timedelta(minutes=2)
    nation = next((n for n in NATIONS if not bank_holiday(n, due.date())), None)
    if nation is None:
        pytest.skip("a bank holiday in every UK nation today: the post would move")
    code, _, err = await cli(
        env,
        tmp_path,
        "schedule",
        "--channel",
        LEADERS,
        "--day",
        DAY_NAMES[due.weekday()],
        "--time",
        due.strftime("%H:%M"),
        "--nation",
        nation,
    )
    assert code == 0, err
    with sqlite3.connect(db) as conn:  # set an hour ago: this week's question is due now
        conn.execute("update schedules set updated_at = datetime('now', '-1 hour')")

    fake.inject("create_conversation", Delay(HELD_POST_S))
    first = await start_run(env, tmp_path, "first.log")
    try:
        await post_held(fake)
    finally:
        await kill_9(first)
    assert question_threads(fake) == []  # still held by the connector
    [(key, status, _)] = question_rows(db)
    assert key.startswith("question:") and status == "sending"

    thread = await held_post_landed(fake)
    assert card_key(thread) == key
    assert_a_listed_question(thread)

    second = await start_run(env, tmp_path, "second.log")
    try:

        async def recorded() -> bool:
            return question_rows(db) == [(key, "sent", thread.id)]

        await eventually(recorded, within=30)
        seen = len(fake.calls())
        await fake.wait_until(lambda: len(fake.calls()) > seen, within=15)
    finally:
        await stop(second, tmp_path, "second.log")
    assert len(fake.calls("create_conversation")) == 1
    assert question_threads(fake) == [thread]
    assert question_rows(db) == [(key, "sent", thread.id)]


NOT_INSTALLED_CASES = pytest.mark.parametrize(
    "known", [False, True], ids=["never-installed", "since-removed"]
)


async def ask_where_the_app_is_not(
    fake: FakeTeams, db: Path, tmp_path: Path, known: bool
) -> tuple[str, int, str, str]:
    """never-installed: the bot never heard of the team. since-removed: the bot still thinks
    the app is there, and Teams answers 403 BotNotInConversationRoster."""
    channel = ELSEWHERE
    if known:
        channel = LEADERS
        fake.uninstall(GROUP)
    code, out, err = await cli(process_env(fake, db), tmp_path, "ask", "--channel", channel)
    return channel, code, out, err


def says_to_install(line: str) -> bool:
    return "not installed in the team" in line and "install it in that team" in line


@NOT_INSTALLED_CASES
async def test_a_channel_of_a_team_without_the_app_fails_with_a_line_saying_to_install_it(
    fake: FakeTeams, db: Path, tmp_path: Path, known: bool
) -> None:
    channel, code, out, err = await ask_where_the_app_is_not(fake, db, tmp_path, known)

    assert code == 1
    assert "Traceback" not in out + err
    assert len([line for line in err.splitlines() if says_to_install(line)]) == 1, err
    assert len([line for line in out.splitlines() if says_to_install(line)]) <= 1, out
    assert fake.messages(channel) == []
    # Refused before anything is recorded when the bot knows the app is gone; else the post
    # is recorded as failed for good (and never retried).
    assert [(status, message_id) for _, status, message_id in question_rows(db)] in (
        [],
        [("failed", None)],
    )


@NOT_INSTALLED_CASES
async def test_a_channel_of_a_team_without_the_app_gets_only_that_one_line_on_stderr(
    fake: FakeTeams, db: Path, tmp_path: Path, known: bool
) -> None:
    _, code, _, err = await ask_where_the_app_is_not(fake, db, tmp_path, known)

    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and says_to_install(lines[0]), err


# --------------------------------------------------------------------------- both platforms


def _slack_env(slack: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_API_URL": slack.url,
    }


async def test_slack_and_teams_in_one_process_each_post_lands_on_its_own_platform(
    fake: FakeTeams, db: Path
) -> None:
    async with FakeSlack() as slack:
        slack.add_channel(SLACK_CHANNEL, "leadership-team")
        settings = make_settings(
            **_slack_env(slack), **teams_env(fake), DATABASE_URL=f"sqlite+aiosqlite:///{db}"
        )
        async with open_context(settings) as ctx:
            assert sorted(p.name for p in ctx.platforms) == ["slack", "teams"]

            on_slack = await ask_and_deliver(ctx, SLACK_CHANNEL, "Q2")
            on_teams = await ask_and_deliver(ctx, LEADERS, "Q3")

        assert on_slack.delivered and on_teams.delivered
        [slack_post] = [m for m in slack.messages(SLACK_CHANNEL) if not m.is_reply]
        assert slack_post.ts == on_slack.post.message_id
        [thread] = question_threads(fake)
        assert thread.id == on_teams.post.message_id and card_key(thread) == on_teams.post.key
        # Nothing crossed over: no Teams call for the Slack post, no Slack post for Teams.
        assert len(fake.calls("create_conversation")) == 1
        assert len(slack.calls("chat.postMessage")) == 1


async def test_one_port_serves_health_slack_events_and_teams_activities(
    fake: FakeTeams, db: Path
) -> None:
    async with FakeSlack() as slack:
        slack.add_channel(SLACK_CHANNEL, "leadership-team")
        slack.add_user("U1", "priya")
        settings = make_settings(
            **_slack_env(slack), **teams_env(fake), DATABASE_URL=f"sqlite+aiosqlite:///{db}"
        )
        async with open_context(settings) as ctx:
            on_slack = await ask_and_deliver(ctx, SLACK_CHANNEL)
            on_teams = await ask_and_deliver(ctx, LEADERS)
            assert on_slack.delivered and on_teams.delivered
            inbound = Inbound(ctx)
            try:
                async with (
                    serving(ctx, inbound, host="127.0.0.1", port=0) as server,
                    aiohttp.ClientSession() as http,
                ):
                    base = f"http://127.0.0.1:{server.port}"
                    async with http.get(base + "/healthz") as response:
                        health = await response.json()
                        assert response.status == 200, health
                    assert health["ok"] is True
                    assert set(health["platforms"]) == {"slack", "teams"}
                    assert all(p["ok"] for p in health["platforms"].values())

                    # A staff reply in each question's thread, each by its own platform.
                    slack_reply = slack.add_message(
                        SLACK_CHANNEL,
                        "Shared data team with the county.",
                        user="U1",
                        thread_ts=on_slack.post.message_id,
                    )
                    event = {
                        **slack_reply.to_api(),
                        "channel": SLACK_CHANNEL,
                        "channel_type": "channel",
                        "event_ts": slack_reply.ts,
                    }
                    body = event_body(event, event_id="EvAcceptance1")
                    async with http.post(
                        base + "/slack/events",
                        data=body,
                        headers=signed_headers(body, SLACK_SECRET),
                    ) as response:
                        assert response.status == 200

                    assert on_teams.post.message_id
                    teams_reply = fake.user_reply(
                        LEADERS, on_teams.post.message_id, STAFF, "We pooled our digital budget."
                    )
                    status, _ = await fake.send_activity(
                        base + "/api/messages", fake.message_activity(LEADERS, teams_reply)
                    )
                    assert status == 200

                    # An unsigned request on either route is refused.
                    async with http.post(base + "/slack/events", data=body) as response:
                        assert response.status == 401
                    status, _ = await fake.send_activity(
                        base + "/api/messages",
                        fake.message_activity(LEADERS, teams_reply),
                        token=None,
                    )
                    assert status == 401

                    async def both_stored() -> bool:
                        async with ctx.db.read() as session:
                            rows = (await session.scalars(select(Reply))).all()
                        return {(r.channel_id, r.message_id) for r in rows} == {
                            (SLACK_CHANNEL, slack_reply.ts),
                            (LEADERS, teams_reply),
                        }

                    await eventually(both_stored, within=15)
            finally:
                await inbound.close()


# --------------------------------------------------------------------------- digest and admin


async def test_replies_edits_deletions_bots_and_a_lost_reply_give_the_right_json_digest(
    fake: FakeTeams, db: Path, tmp_path: Path
) -> None:
    env = process_env(fake, db)
    code, out, err = await cli(env, tmp_path, "ask", "--channel", LEADERS)
    assert code == 0, err
    [root] = question_threads(fake)
    first = fake.user_reply(LEADERS, root.id, STAFF, "Fewer boards")
    gone = fake.user_reply(LEADERS, root.id, OWNER, "Posted in haste")
    top_level = fake.user_post(LEADERS, STAFF, "not in the question's thread")

    settings = make_settings(**teams_env(fake), DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    async with open_context(settings) as ctx:
        inbound = Inbound(ctx)
        try:
            async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
                url = f"http://127.0.0.1:{server.port}/api/messages"
                for message_id in (first, first, gone, top_level):  # `first` twice: a retry
                    status, _ = await fake.send_activity(
                        url, fake.message_activity(LEADERS, message_id)
                    )
                    assert status == 200
                fake.user_edit(LEADERS, first, "Fewer boards, one data platform")
                await fake.send_activity(url, fake.edit_activity(LEADERS, first))
                fake.user_delete(LEADERS, gone)
                await fake.send_activity(url, fake.delete_activity(LEADERS, gone))
                bots = fake.message_activity(LEADERS, first)
                bots |= {"id": "99999999999", "from": {"id": f"28:{fake.app_id}", "name": "bot"}}
                await fake.send_activity(url, bots)
        finally:
            await inbound.close()
    # A reply whose activity never reached the bot: the digest's reconciliation finds it.
    lost = fake.user_reply(LEADERS, root.id, OWNER, "Never delivered to the bot")

    code, out, err = await cli(env, tmp_path, "digest", "--channel", LEADERS, "--format", "json")

    assert code == 0, err
    [question] = json.loads(out)["questions"]
    assert [(r["ts"], r["user"], r["text"], r["edited"]) for r in question["replies"]] == [
        (first, STAFF, "Fewer boards, one data platform", True),
        (lost, OWNER, "Never delivered to the bot", False),
    ]


async def test_an_owners_schedule_from_teams_shows_in_leaderbot_schedules(
    fake: FakeTeams, db: Path, tmp_path: Path
) -> None:
    settings = make_settings(**teams_env(fake), DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    async with open_context(settings) as ctx:
        inbound = Inbound(ctx)
        try:
            async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
                url = f"http://127.0.0.1:{server.port}/api/messages"
                for who in (STAFF, OWNER):  # a member is refused; the team's owner is not
                    asked = fake.user_post(LEADERS, who, "schedule mon 09:00", mention_bot=True)
                    status, _ = await fake.send_activity(url, fake.message_activity(LEADERS, asked))
                    assert status == 200

                    async def answered(asked: str = asked) -> bool:
                        return any(m.by_bot for m in fake.thread(LEADERS, asked))

                    await eventually(answered, within=15)
        finally:
            await inbound.close()

    code, out, err = await cli(process_env(fake, db), tmp_path, "schedules")

    assert code == 0, err
    assert LEADERS in out and "Mon" in out and "09:00" in out, out
