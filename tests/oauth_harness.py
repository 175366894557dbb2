"""Many workspaces, end to end: leaderbot's one HTTP server in OAuth mode against the fake
Slack, with workspaces installed through the real install flow (a browser's three requests)
and commands and events signed as Slack sends them. Shared by tests/test_slack_oauth.py and
tests/test_workspace_scoping.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.platforms.slack.platform import SlackPlatform
from bot.runtime import serving
from bot.services.context import Context, Platforms
from bot.services.inbound import Inbound
from bot.store.token_cipher import new_key
from tests.fakes.signing import FORM, command_body, event_body, signed_headers
from tests.fakes.slack_api import FakeSlack
from tests.slack_harness import ResponseCatcher

SECRET = "signing-secret-for-tests"
STATE_SECRET = "state-secret-for-tests-0123456789"
COOKIE = "slack-app-oauth-state"

TA, TB = "TCOUNCILA", "TCOUNCILB"
A_ADMIN, A_MEMBER, B_ADMIN, B_MEMBER = "UAADMIN", "UAMEMBER", "UBADMIN", "UBMEMBER"
CA, CB = "CA0000001", "CB0000001"


@dataclass
class Page:
    status: int
    text: str
    location: str | None = None


@dataclass
class Deployment:
    fake: FakeSlack
    ctx: Context
    base: str
    catcher: ResponseCatcher
    key: str
    sent: int = 0
    events: int = 0

    # ------------------------------------------------------------------ installing

    async def get(self, url: str, *, cookie: str | None = None) -> Page:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, headers=headers, allow_redirects=False) as response,
        ):
            return Page(response.status, await response.text(), response.headers.get("Location"))

    async def start_install(self) -> tuple[str, str]:
        """GET /slack/install: Slack's authorize URL, and the state cookie it set."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(self.base + "/slack/install", allow_redirects=False) as response,
        ):
            assert response.status == 302, await response.text()
            location = response.headers["Location"]
            cookie = response.cookies[COOKIE].value
        return location, cookie

    async def authorize(self, authorize_url: str) -> str:
        """The browser at Slack's authorize page: where Slack sends it back."""
        page = await self.get(authorize_url)
        assert page.status == 302 and page.location, page
        return page.location

    async def install(self, team: str, installer: str) -> Page:
        """The whole flow, approved by `installer` in `team`."""
        self.fake.approve_next_install(team, installer)
        authorize_url, cookie = await self.start_install()
        back = await self.authorize(authorize_url)
        return await self.get(back, cookie=cookie)

    # ------------------------------------------------------------------ Slack's requests

    async def post(self, body: str, content_type: str) -> tuple[int, str]:
        headers = signed_headers(body, SECRET, content_type=content_type)
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.base + "/slack/events", data=body, headers=headers) as response,
        ):
            return response.status, await response.text()

    async def say(self, text: str, *, team: str, user: str, channel: str) -> str:
        """The ephemeral answer to `/leadership text` typed in `team`."""
        self.sent += 1
        n = str(self.sent)
        body = command_body(
            "/leadership",
            text,
            team_id=team,
            user_id=user,
            channel_id=channel,
            channel_name="leadership",
            response_url=self.catcher.url(n),
        )
        status, _ = await self.post(body, FORM)
        assert status == 200
        return str((await self.catcher.reply(n, within=10))["text"])

    async def event(self, team: str, event: dict[str, Any]) -> int:
        self.events += 1
        body = event_body(event, team_id=team, event_id=f"Ev{self.events:06d}")
        status, _ = await self.post(body, "application/json")
        return status

    async def reply_in_thread(self, team: str, channel: str, thread_ts: str, user: str) -> str:
        """A person's reply in a question's thread: in the fake, then its event."""
        message = self.fake.add_message(
            channel, f"reply from {user}", user=user, thread_ts=thread_ts
        )
        event = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": message.text,
            "ts": message.ts,
            "thread_ts": thread_ts,
            "team": team,
            "event_ts": message.ts,
            "channel_type": "channel",
        }
        assert await self.event(team, event) == 200
        return message.ts


def add_workspace(fake: FakeSlack, team: str, name: str, admin: str, member: str, channel: str):
    fake.add_team(team, name)
    fake.add_user(admin, admin.lower(), real_name=f"{name} admin", is_admin=True, team_id=team)
    fake.add_user(member, member.lower(), real_name=f"{name} member", team_id=team)
    fake.add_channel(
        channel, f"leadership-{team.lower()}", team_id=team, members=[admin, member, "UBOT"]
    )


@asynccontextmanager
async def deployment(
    make_context, url: str, *, token_lifetime_s: float | None = None, **settings: Any
) -> AsyncIterator[Deployment]:
    """leaderbot in OAuth mode on a free port; workspaces A (TA) and B (TB) exist in the
    fake Slack, neither installed yet."""
    async with FakeSlack() as fake, ResponseCatcher() as catcher:
        fake.token_lifetime_s = token_lifetime_s
        add_workspace(fake, TA, "Council A", A_ADMIN, A_MEMBER, CA)
        add_workspace(fake, TB, "Council B", B_ADMIN, B_MEMBER, CB)
        key = new_key()
        ctx = await make_context(
            url,
            SLACK_CLIENT_ID=fake.client_id,
            SLACK_CLIENT_SECRET=fake.client_secret,
            SLACK_STATE_SECRET=STATE_SECRET,
            LEADERBOT_SECRET_KEY=key,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.url,
            **settings,
        )
        ctx.platforms = Platforms([SlackPlatform.from_settings(ctx.settings, db=ctx.db)])
        inbound = Inbound(ctx)
        try:
            async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
                base = f"http://127.0.0.1:{server.port}"
                fake.redirect_url = base + "/slack/oauth_redirect"
                yield Deployment(fake, ctx, base, catcher, key)
        finally:
            await inbound.close()
