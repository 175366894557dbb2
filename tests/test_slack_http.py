"""The Bolt app served over HTTP (signed requests) and over Socket Mode (the fake's websocket),
with /healthz, against the fake Slack Web API."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp

from bot.platforms.slack.app import (
    SlackServer,
    build_bolt_app,
)
from bot.settings import Settings
from tests.fakes import eventually
from tests.fakes.signing import FORM, command_body, signed_headers
from tests.fakes.slack_api import FakeSlack

SECRET = "signing-secret-for-tests"


def settings_for(fake: FakeSlack, *, socket: bool = False) -> Settings:
    return Settings(
        slack_bot_token=fake.bot_token,
        slack_signing_secret=SECRET,
        slack_app_token=fake.app_token if socket else None,
        slack_api_url=fake.url,
        _env_file=None,  # type: ignore[call-arg]
    )


def register(app: AsyncApp, ctx: Any) -> None:
    """A listener module's entry point (this test module stands in for one)."""

    @app.command("/leadership")
    async def leadership(ack: Any, command: dict[str, Any], client: Any) -> None:
        await ack("on it")
        # Through Bolt's per-request client: proves base_url reached it.
        await client.chat_postMessage(channel=command["channel_id"], text=f"ctx={ctx}")

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any]) -> None:
        return None


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_channel("C1", "leadership")
        yield server


@pytest.fixture
async def http_server(fake: FakeSlack) -> AsyncIterator[SlackServer]:
    settings = settings_for(fake)
    app = build_bolt_app(settings)
    register(app, "the-context")
    server = SlackServer(app, settings, host="127.0.0.1", port=0)
    await server.start()
    yield server
    await server.stop()


async def request(
    server: SlackServer, method: str, path: str, body: str = "", headers: dict | None = None
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, f"http://127.0.0.1:{server.port}{path}", data=body, headers=headers
        ) as response,
    ):
        return response.status, await response.text()


async def health(server: SlackServer) -> tuple[int, dict[str, Any]]:
    status, text = await request(server, "GET", "/healthz")
    return status, json.loads(text)


# ----------------------------------------------------------------------------- HTTP mode

CHALLENGE = json.dumps({"token": "t", "challenge": "c-123", "type": "url_verification"})


async def test_url_verification_with_a_good_signature(http_server: SlackServer) -> None:
    status, text = await request(
        http_server, "POST", "/slack/events", CHALLENGE, signed_headers(CHALLENGE, SECRET)
    )
    assert status == 200
    assert "c-123" in text


async def test_bad_signature_is_refused(http_server: SlackServer) -> None:
    headers = signed_headers(CHALLENGE, "some-other-secret")
    status, text = await request(http_server, "POST", "/slack/events", CHALLENGE, headers)
    assert status == 401
    assert "c-123" not in text


async def test_stale_timestamp_is_refused(http_server: SlackServer) -> None:
    old = int(time.time()) - 10 * 60  # Bolt accepts 5 minutes
    headers = signed_headers(CHALLENGE, SECRET, timestamp=old)
    status, _ = await request(http_server, "POST", "/slack/events", CHALLENGE, headers)
    assert status == 401


async def test_unsigned_request_is_refused(http_server: SlackServer) -> None:
    status, _ = await request(http_server, "POST", "/slack/events", CHALLENGE)
    assert status == 401


async def test_healthz_in_http_mode(http_server: SlackServer) -> None:
    assert await health(http_server) == (200, {"ok": True, "mode": "http"})


async def test_signed_slash_command_reaches_listener_and_fake(
    fake: FakeSlack, http_server: SlackServer
) -> None:
    body = command_body("/leadership", "status", channel_id="C1")
    headers = signed_headers(body, SECRET, content_type=FORM)
    status, text = await request(http_server, "POST", "/slack/events", body, headers)
    assert status == 200 and "on it" in text
    await eventually(lambda: _has_messages(fake, "C1"))
    assert fake.messages("C1")[0].text == "ctx=the-context"
    assert fake.calls("auth.test")  # Bolt's authorization went to the fake too


async def _has_messages(fake: FakeSlack, channel: str) -> bool:
    return bool(fake.messages(channel))


async def test_http_mode_needs_a_signing_secret(fake: FakeSlack) -> None:
    settings = settings_for(fake).model_copy(update={"slack_signing_secret": None})
    server = SlackServer(build_bolt_app(settings), settings, host="127.0.0.1", port=0)
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        await server.start()


def test_bolt_clients_point_at_the_configured_api(fake: FakeSlack) -> None:
    app = build_bolt_app(settings_for(fake))
    assert app.client.base_url == fake.url
    assert app.client.token == fake.bot_token


# ----------------------------------------------------------------------------- Socket Mode


@pytest.fixture
async def socket_server(fake: FakeSlack) -> AsyncIterator[SlackServer]:
    settings = settings_for(fake, socket=True)
    app = build_bolt_app(settings)
    register(app, "ctx")
    # A short ping interval: it is also how soon the SDK retries a refused connection.
    server = SlackServer(app, settings, host="127.0.0.1", port=0, ping_interval=0.3)
    fake.refuse_sockets = True  # hold the socket down until the test lets it up
    await server.start()
    yield server
    await server.stop()


async def test_socket_mode_health_follows_the_socket(
    fake: FakeSlack, socket_server: SlackServer
) -> None:
    async def healthy() -> bool:
        return (await health(socket_server))[0] == 200

    async def unhealthy() -> bool:
        return (await health(socket_server))[0] == 503

    status, body = await health(socket_server)
    assert (status, body["ok"], body["mode"]) == (503, False, "socket")
    status, _ = await request(socket_server, "POST", "/slack/events", CHALLENGE)
    assert status in (404, 405)  # no HTTP events endpoint in Socket Mode

    fake.refuse_sockets = False
    await eventually(healthy)
    assert (await health(socket_server))[1] == {"ok": True, "mode": "socket"}

    envelope_id = await fake.push(
        "events_api",
        {
            "type": "event_callback",
            "team_id": FakeSlack.TEAM_ID,
            "api_app_id": "AFAKE",
            "event_id": "Ev1",
            "event": {"type": "app_mention", "user": "U1", "text": "hi", "channel": "C1"},
        },
    )
    ack = await fake.ack(envelope_id)
    assert ack["envelope_id"] == envelope_id

    await fake.drop_sockets(refuse_reconnect=True)
    await eventually(unhealthy)

    fake.refuse_sockets = False  # the SDK reconnects by itself
    await eventually(healthy)


async def test_socket_mode_abrupt_drop_is_noticed(
    fake: FakeSlack, socket_server: SlackServer
) -> None:
    async def status() -> int:
        return (await health(socket_server))[0]

    fake.refuse_sockets = False
    await eventually(lambda: _is(status, 200))
    await fake.drop_sockets(refuse_reconnect=True, abrupt=True)
    await eventually(lambda: _is(status, 503))


async def _is(status: Any, expected: int) -> bool:
    return await status() == expected


@pytest.mark.parametrize(
    "body",
    [
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"type": "event_callback", "event": "not an object"}),
        json.dumps({"type": "event_callback", "event": {"type": "message"}, "authorizations": 7}),
    ],
)
async def test_signed_but_malformed_bodies_are_acked_not_500(http_server, body: str) -> None:
    headers = signed_headers(body, SECRET, content_type="application/json")
    status, _ = await request(http_server, "POST", "/slack/events", body, headers)
    assert status == 200


async def test_unsigned_garbage_is_refused_before_parsing(http_server) -> None:
    status, _ = await request(http_server, "POST", "/slack/events", "{{{ not json", {})
    assert status == 401


def test_no_start_up_warning_about_an_unused_token(
    fake: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Bolt reads SLACK_BOT_TOKEN from the environment itself and warned at every start that
    # it was unused beside leaderbot's client: noise an operator could do nothing about.
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    with caplog.at_level("WARNING"):
        build_bolt_app(settings_for(fake))
    assert not [r for r in caplog.records if "unused" in r.getMessage()]
