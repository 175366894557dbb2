"""The running app for end-to-end Slack tests: served over HTTP on a free port against the
fake Slack Web API, with replies caught where Slack's response_url would be. Shared by the
slash-command and App Home tests (import the `slack` fixture to use it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.platforms.slack.app import SlackServer, build_bolt_app
from bot.platforms.slack.listeners import commands, home
from bot.platforms.slack.platform import SlackPlatform
from bot.services.admin import add_bot_admin
from bot.services.context import Context, Platforms
from tests.fakes import deadline
from tests.fakes.signing import FORM, command_body, signed_headers
from tests.fakes.slack_api import FakeSlack

SECRET = "signing-secret-for-tests"
COMMANDS = "bot.platforms.slack.listeners.commands"
HOME = "bot.platforms.slack.listeners.home"

ADMIN, OWNER, ALLOWED, ADDED = "U0ADMIN", "U0OWNER", "U0ALLOWED", "U0ADDED"
MEMBER, GUEST, SCGUEST, DELETED, ROBOT = "U0MEMBER", "U0GUEST", "U0SCGUEST", "U0GONE", "U0ROBOT"
LISTED_GUEST, UNKNOWN = "U0LGUEST", "U0NOBODY"
PEOPLE = {
    ADMIN: {"is_admin": True},
    OWNER: {"is_owner": True},
    ALLOWED: {},
    ADDED: {},
    MEMBER: {},
    GUEST: {"is_restricted": True},
    SCGUEST: {"is_restricted": True, "is_ultra_restricted": True},
    DELETED: {"deleted": True},
    ROBOT: {"is_bot": True},
    LISTED_GUEST: {"is_restricted": True},
}


class ResponseCatcher:
    """Where Slack's response_url points: records what the app sends, one URL per command."""

    def __init__(self) -> None:
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def __aenter__(self) -> ResponseCatcher:
        app = web.Application()
        app.router.add_post("/r/{n}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def url(self, n: str) -> str:
        return f"http://127.0.0.1:{self.port}/r/{n}"

    async def _receive(self, request: web.Request) -> web.Response:
        self.replies.setdefault(request.match_info["n"], []).append(await request.json())
        self._changed.set()
        return web.Response(text="ok")

    async def reply(self, n: str, within: float = 5.0) -> dict[str, Any]:
        async with deadline(within, f"a reply to response_url {n}"):
            while not self.replies.get(n):
                self._changed.clear()
                await self._changed.wait()
        return self.replies[n][0]


@dataclass
class Slack:
    fake: FakeSlack
    catcher: ResponseCatcher
    server: SlackServer
    ctx: Context
    sent: int = 0

    async def post(self, body: str) -> tuple[int, str, float]:
        headers = signed_headers(body, SECRET, content_type=FORM)
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{self.server.port}/slack/events", data=body, headers=headers
            ) as response,
        ):
            text = await response.text()
        return response.status, text, time.perf_counter() - started

    async def command(
        self, text: str, *, user: str = ADMIN, channel: str = "C1", response_url: str | None = None
    ) -> tuple[str, float]:
        """Send `/leadership text`; returns the request's number and how long the ack took."""
        self.sent += 1
        n = str(self.sent)
        body = command_body(
            "/leadership",
            text,
            user_id=user,
            channel_id=channel,
            channel_name="leadership",
            response_url=response_url or self.catcher.url(n),
        )
        status, ack_body, took = await self.post(body)
        assert status == 200
        assert ack_body == ""  # acked empty: the answer comes through response_url
        return n, took

    async def say(self, text: str, **kwargs: Any) -> str:
        """The reply (ephemeral) to `/leadership text`."""
        n, _ = await self.command(text, **kwargs)
        reply = await self.catcher.reply(n)
        assert reply["response_type"] == "ephemeral"
        return reply["text"]


@asynccontextmanager
async def running_app(make_context, url: str) -> AsyncIterator[Slack]:
    """The app served over HTTP on a free port, its database at `url`, against a fake Slack."""
    async with FakeSlack() as fake, ResponseCatcher() as catcher:
        for user_id, roles in PEOPLE.items():
            fake.add_user(user_id, user_id.lower(), real_name=user_id.title(), **roles)
        everyone = [*PEOPLE, FakeSlack.BOT_USER_ID]
        fake.add_channel("C1", "leadership", members=everyone)
        fake.add_channel("C2", "leaders", members=everyone, bot_member=False)
        fake.add_channel("G1", "secret", is_private=True, members=everyone, bot_member=False)
        ctx = await make_context(
            url,
            SLACK_BOT_TOKEN=fake.bot_token,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.url,
            LEADERBOT_ADMINS=f"{ALLOWED},{LISTED_GUEST}",
        )
        ctx.platforms = Platforms([SlackPlatform.from_settings(ctx.settings)])
        await add_bot_admin(ctx, ADDED, actor="cli")
        app = build_bolt_app(ctx.settings)
        response_urls = commands.register(app, ctx)
        home.register(app, ctx)
        server = SlackServer(app, ctx.settings, host="127.0.0.1", port=0)
        await server.start()
        try:
            yield Slack(fake, catcher, server, ctx)
        finally:
            await server.stop()
            await response_urls.close()


@pytest.fixture
async def slack(make_context, sqlite_url) -> AsyncIterator[Slack]:
    async with running_app(make_context, sqlite_url) as app:
        yield app


@pytest.fixture
async def slack_any_db(make_context, database_url) -> AsyncIterator[Slack]:
    """The same on SQLite and on PostgreSQL (when LEADERBOT_TEST_POSTGRES_URL is set)."""
    async with running_app(make_context, database_url) as app:
        yield app
