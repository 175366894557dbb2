"""Outside input at POST /slack/events, over real HTTP: every malformed or unauthenticated
request gets a 4xx (or, when Slack signed it and expects an ack, a 200 with one warning), never
a 500 and never a traceback in the log; a replayed command is carried out once; slow and idle
clients are disconnected within the read timeout."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.platforms.slack.app import SlackServer, build_bolt_app
from bot.platforms.slack.listeners import commands, home
from bot.platforms.slack.replays import ReplayGuard
from bot.serving import HttpServer
from bot.settings import Settings
from bot.store.models import ProcessedEvent
from tests.fakes.signing import FORM, command_body, interactivity_body, signature, signed_headers
from tests.fakes.slack_api import FakeSlack
from tests.slack_harness import ADMIN, SECRET, Slack, running_app

READ_TIMEOUT = 0.5


def quiet(caplog: pytest.LogCaptureFixture) -> None:
    """No ERROR record and no traceback anywhere in the log."""
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]
    assert not loud, [r.getMessage() for r in loud]
    assert "Traceback" not in caplog.text


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def post(
    port: int, body: str | bytes, headers: dict[str, str] | None = None
) -> tuple[int, str, float]:
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers or {}
        ) as response,
    ):
        text = await response.text()
    return response.status, text, time.perf_counter() - started


def settings_for(fake: FakeSlack, **extra: Any) -> Settings:
    return Settings(
        slack_bot_token=fake.bot_token,
        slack_signing_secret=SECRET,
        slack_api_url=fake.url,
        _env_file=None,  # type: ignore[call-arg]
        **extra,
    )


@pytest.fixture
async def server() -> AsyncIterator[SlackServer]:
    """The Slack endpoint with a short read timeout and no listeners of its own."""
    async with FakeSlack() as fake:
        settings = settings_for(fake, http_read_timeout_s=READ_TIMEOUT)
        slack = SlackServer(build_bolt_app(settings), settings, host="127.0.0.1", port=0)
        await slack.start()
        try:
            yield slack
        finally:
            await slack.stop()


def block_actions(**fields: Any) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0FAKE", "domain": "fake"},
        "user": {"id": ADMIN, "team_id": "T0FAKE"},
        "api_app_id": "AFAKE",
        "trigger_id": "trigger.1",
        "actions": [{"action_id": home.OPEN_SCHEDULE, "value": "C1", "type": "button"}],
        **fields,
    }


def signed_form(payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    body = interactivity_body(payload)
    return body, signed_headers(body, SECRET, content_type=FORM)


# ---------------------------------------------------------------- unauthenticated input


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "9" * 400, "１２３", " 1700000000"])
async def test_a_malformed_timestamp_gets_401_not_500(
    server: SlackServer, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    caplog.set_level(logging.INFO)
    body = json.dumps({"type": "url_verification", "challenge": "c"})
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(body, SECRET, timestamp),
    }
    status, text, _ = await post(server.port or 0, body, headers)
    assert status == 401
    assert "c" not in json.loads(text).get("challenge", "")
    quiet(caplog)
    assert len(warnings(caplog)) == 1


async def test_an_unsigned_body_that_is_not_utf8_gets_401_not_500(
    server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    status, _, _ = await post(server.port or 0, b"\xff\xfe{\x80", {"Content-Type": FORM})
    assert status == 401
    quiet(caplog)


async def test_a_stale_or_future_timestamp_gets_401(
    server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = json.dumps({"type": "url_verification", "challenge": "c"})
    for skew in (-6 * 60, 6 * 60):
        headers = signed_headers(body, SECRET, timestamp=int(time.time()) + skew)
        assert (await post(server.port or 0, body, headers))[0] == 401
    quiet(caplog)


# ---------------------------------------------------------------- signed but malformed


async def test_a_signed_body_that_is_not_utf8_is_acked_with_a_warning_not_500(
    server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    raw = b"payload=\xff\xfe\x80"
    status, _, _ = await post(server.port or 0, raw, signed_headers(raw, SECRET, content_type=FORM))
    assert status == 200
    quiet(caplog)
    assert warnings(caplog) == ["malformed request acked and dropped: body is not UTF-8"]


@pytest.mark.parametrize("form", [False, True], ids=["json", "interactivity-form"])
async def test_deeply_nested_json_is_acked_with_a_warning_not_a_recursion_error(
    server: SlackServer, caplog: pytest.LogCaptureFixture, form: bool
) -> None:
    caplog.set_level(logging.INFO)
    nested = "[" * 200_000 + "]" * 200_000
    body = f'{{"type": "event_callback", "event": {nested}}}'
    if form:
        body = "payload=" + nested
    headers = signed_headers(body, SECRET, content_type=FORM if form else "application/json")
    status, _, _ = await post(server.port or 0, body, headers)
    assert status == 200
    quiet(caplog)
    assert len(warnings(caplog)) == 1


async def test_a_body_over_the_size_limit_gets_413(
    server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = "x" * (server.settings.http_max_body_bytes + 1)
    status, _, _ = await post(server.port or 0, body, signed_headers(body, SECRET))
    assert status == 413
    quiet(caplog)


# ---------------------------------------------------------------- through the real listeners


@pytest.fixture
async def slack(make_context: Any, database_url: str) -> AsyncIterator[Slack]:
    async with running_app(make_context, database_url) as app:
        yield app


@pytest.mark.parametrize(
    "payload",
    [
        block_actions(actions=[1]),
        block_actions(actions="not a list"),
        block_actions(actions=[{"value": "C1"}]),
        block_actions(user="U0ADMIN"),
        block_actions(user={"name": "no id"}),
        block_actions(team=7),
        block_actions(view=[]),
        {"type": "view_submission", "view": {"callback_id": home.SCHEDULE_MODAL}},
        {"type": "workflow_step_edit", "callback_id": "x"},
        {"type": "event_callback", "event": {"type": "message", "user": 5}},
        {
            "type": "event_callback",
            "event": {"type": "message", "channel_type": "im", "message": 1},
        },
        block_actions(actions=[{"action_id": home.OPEN_SCHEDULE, "value": 7}]),
        block_actions(actions=[{"action_id": home.RESUME}]),
        [1, 2],
    ],
    ids=[
        "actions-[1]",
        "actions-not-a-list",
        "action-without-id",
        "user-is-a-string",
        "user-without-id",
        "team-is-a-number",
        "view-is-a-list",
        "view-without-type",
        "workflow-step-without-step",
        "event-user-is-a-number",
        "event-message-is-a-string",
        "value-is-a-number",
        "resume-without-channel",
        "payload-is-a-list",
    ],
)
async def test_malformed_block_actions_are_acked_at_once_with_a_warning_not_500(
    slack: Slack, caplog: pytest.LogCaptureFixture, payload: Any
) -> None:
    caplog.set_level(logging.INFO)
    body = interactivity_body(payload)
    status, _, took = await post(
        slack.server.port or 0, body, signed_headers(body, SECRET, content_type=FORM)
    )
    assert status == 200
    assert took < 1.0  # no 404 after Bolt's 3-second wait
    await asyncio.sleep(0.2)  # anything the listener would log after the ack
    quiet(caplog)
    assert len(warnings(caplog)) == 1
    assert not slack.fake.calls("views.open")


@pytest.mark.parametrize(
    "metadata", ["not json", "[1, 2]", '{"channel": 5}', "null", "[" * 5000], ids=str.split
)
async def test_app_home_modal_with_unexpected_private_metadata_shows_an_error_not_500(
    slack: Slack, caplog: pytest.LogCaptureFixture, metadata: str
) -> None:
    caplog.set_level(logging.INFO)
    payload = {
        "type": "view_submission",
        "team": {"id": "T0FAKE"},
        "user": {"id": ADMIN, "team_id": "T0FAKE"},
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": home.SCHEDULE_MODAL,
            "private_metadata": metadata,
            "state": {"values": {"day": {"value": {"selected_option": {"value": "mon"}}}}},
        },
    }
    body, headers = signed_form(payload)
    status, text, _ = await post(slack.server.port or 0, body, headers)
    assert status == 200
    answer = json.loads(text)
    assert answer["response_action"] == "errors"
    assert answer["errors"]["channel"] == "Pick a channel."
    await asyncio.sleep(0.1)
    quiet(caplog)


async def test_app_home_modal_with_odd_state_values_shows_errors_not_500(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    payload = {
        "type": "view_submission",
        "team": {"id": "T0FAKE"},
        "user": {"id": ADMIN, "team_id": "T0FAKE"},
        "view": {
            "type": "modal",
            "callback_id": home.SCHEDULE_MODAL,
            "private_metadata": json.dumps({"channel": "C1"}),
            "state": {
                "values": {"day": [1], "time": {"value": 5}, "zone": {"value": {"value": []}}}
            },
        },
    }
    body, headers = signed_form(payload)
    status, text, _ = await post(slack.server.port or 0, body, headers)
    assert status == 200
    assert json.loads(text)["response_action"] == "errors"
    quiet(caplog)


# ---------------------------------------------------------------- replays


async def test_a_signed_command_replayed_byte_for_byte_is_carried_out_once(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = command_body(
        "/leadership", "ask", user_id=ADMIN, channel_id="C1", response_url=slack.catcher.url("1")
    )
    headers = signed_headers(body, SECRET, content_type=FORM)
    port = slack.server.port or 0
    assert (await post(port, body, headers))[0] == 200
    await slack.catcher.reply("1")
    assert (await post(port, body, headers))[0] == 200  # the replay: acked, dropped
    await asyncio.sleep(0.3)
    assert len(slack.catcher.replies["1"]) == 1
    assert len(slack.fake.messages("C1")) == 1
    assert "replayed request acked and dropped (seen within 5 minutes)" in warnings(caplog)
    quiet(caplog)


async def test_a_command_replayed_to_another_process_is_carried_out_once(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    """Two servers (as two processes would be) on one database: the second refuses it."""
    caplog.set_level(logging.INFO)
    servers, response_urls = [], []
    for _ in range(2):
        app = build_bolt_app(slack.ctx.settings)
        response_urls.append(commands.register(app, slack.ctx))
        server = SlackServer(app, slack.ctx.settings, host="127.0.0.1", port=0, db=slack.ctx.db)
        await server.start()
        servers.append(server)
    try:
        body = command_body(
            "/leadership",
            "ask",
            user_id=ADMIN,
            channel_id="C1",
            response_url=slack.catcher.url("7"),
        )
        headers = signed_headers(body, SECRET, content_type=FORM)
        assert (await post(servers[0].port or 0, body, headers))[0] == 200
        await slack.catcher.reply("7")
        assert (await post(servers[1].port or 0, body, headers))[0] == 200
        assert (await post(servers[0].port or 0, body, headers))[0] == 200
        await asyncio.sleep(0.3)
        assert len(slack.catcher.replies["7"]) == 1
        assert len(slack.fake.messages("C1")) == 1
        async with slack.ctx.db.read() as session:
            ids = list((await session.scalars(select(ProcessedEvent.event_id))).all())
        assert len(ids) == 1 and ids[0].startswith("cmd:T0FAKE:")
        quiet(caplog)
    finally:
        for server in servers:
            await server.stop()
        for urls in response_urls:
            await urls.close()


async def test_the_ack_does_not_wait_for_the_database_replay_check(
    slack: Slack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database check (SQLite's single writer, under load) comes after the ack: a slow
    one delays the answer, never the ack; the command is still carried out, once."""
    caplog.set_level(logging.INFO)
    slow = asyncio.Event()
    checked: list[str] = []

    async def slow_check(self: ReplayGuard, key: str) -> bool:
        checked.append(key)
        await slow.wait()
        return True

    monkeypatch.setattr(ReplayGuard, "first_time_in_database", slow_check)
    app = build_bolt_app(slack.ctx.settings)
    response_urls = commands.register(app, slack.ctx)
    server = SlackServer(app, slack.ctx.settings, host="127.0.0.1", port=0, db=slack.ctx.db)
    await server.start()
    try:
        body = command_body(
            "/leadership",
            "help",
            user_id=ADMIN,
            channel_id="C1",
            response_url=slack.catcher.url("9"),
        )
        headers = signed_headers(body, SECRET, content_type=FORM)
        status, _, took = await asyncio.wait_for(post(server.port or 0, body, headers), 2)
        assert status == 200 and took < 1.0
        await asyncio.sleep(0.1)
        assert len(checked) == 1 and "9" not in slack.catcher.replies  # not carried out yet
        slow.set()
        assert "leaderbot" in (await slack.catcher.reply("9"))["text"].lower()
        quiet(caplog)
    finally:
        slow.set()
        await server.stop()
        await response_urls.close()


async def test_two_different_commands_are_both_carried_out(slack: Slack) -> None:
    assert "leaderbot" in (await slack.say("help")).lower()
    assert "leaderbot" in (await slack.say("help")).lower()


# ---------------------------------------------------------------- slow and idle clients


async def _closed_within(port: int, sent: bytes, within: float) -> tuple[bytes, float]:
    """Open a raw socket, send `sent`, then stall; how long until the server closes it, and
    what it said meanwhile."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    try:
        if sent:
            writer.write(sent)
            await writer.drain()
        received = b""
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                received += chunk
        return received, time.perf_counter() - started
    finally:
        writer.close()


async def test_half_sent_headers_are_disconnected_within_the_read_timeout(
    server: SlackServer,
) -> None:
    partial = b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slack-Sig"
    _, took = await _closed_within(server.port or 0, partial, within=READ_TIMEOUT + 3)
    assert took < READ_TIMEOUT + 2


async def test_an_idle_connection_is_disconnected_within_the_read_timeout(
    server: SlackServer,
) -> None:
    _, took = await _closed_within(server.port or 0, b"", within=READ_TIMEOUT + 3)
    assert took < READ_TIMEOUT + 2


async def test_a_half_sent_body_gets_408_within_the_read_timeout(
    server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = (
        b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"type": '
    )
    received, took = await _closed_within(server.port or 0, request, within=READ_TIMEOUT + 3)
    assert received.startswith(b"HTTP/1.1 408")
    assert took < READ_TIMEOUT + 2
    quiet(caplog)


async def test_the_shared_server_disconnects_half_sent_headers_within_the_read_timeout() -> None:
    settings = Settings(http_read_timeout_s=READ_TIMEOUT, _env_file=None)  # type: ignore[call-arg]
    shared = HttpServer([], host="127.0.0.1", port=0, settings=settings)
    port = await shared.start()
    try:
        partial = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        _, took = await _closed_within(port, partial, within=READ_TIMEOUT + 3)
        assert took < READ_TIMEOUT + 2
        idle, took = await _closed_within(port, b"", within=READ_TIMEOUT + 3)
        assert idle == b"" and took < READ_TIMEOUT + 2
    finally:
        await shared.stop()


def test_the_shared_server_defaults_to_a_ten_second_read_timeout_and_a_deep_backlog() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    shared = HttpServer([], host="127.0.0.1", port=0, settings=settings)
    assert shared.read_timeout_s == 10.0
    assert shared.max_body_bytes == 1024 * 1024
    assert shared.backlog >= 1024
