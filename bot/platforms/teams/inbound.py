"""POST /api/messages: Teams activities in, port events out.

For each request, in this order, touching nothing until the request is proven genuine:
1. the body is at most `MAX_BODY_BYTES` (else 413);
2. the bearer token is a Bot Framework token for this app (`auth`; else 401);
3. the body is a JSON activity whose fields parse (`activities`; else 400, one log line);
4. the token's `serviceurl` claim is the activity's serviceUrl (else 401), and the tenant is
   TEAMS_TENANT_ID (else 403: a single-tenant bot serves one council);
5. what it means is handed on, and Teams gets 200 at once:
   - replies, edits, deletions -> `Inbound.reply` (queued; the reply writer stores them);
   - the app added to a team -> the team is recorded (`TeamsDirectory`, with its channels from
     Graph when it can say) and `Inbound.installed`; removed, or the team deleted ->
     `Inbound.uninstalled` (the core purges the team's data) and the team is forgotten;
   - "@leaderbot <command>" -> the admin command service, run after the answer to Teams (it
     may take longer than Teams waits), its reply posted in the command's thread (Teams has
     no ephemeral messages).

Why not the Teams SDK (microsoft-teams-apps) here: its App loads a `.env` into os.environ on
import (generic names such as CLIENT_ID, PORT), fetches the JWKS with blocking I/O on the event
loop, and its HTTP client has no timeout unless given one; it also wants to own the HTTP
server. Its activity models (microsoft_teams.api) validate far more than the bot reads, so a
field Teams adds or changes could turn a reply into a 400, and the SDK's API still moves
between releases. The few fields used are checked by hand in `activities`, as the Slack
listener does; the tests check the fake's activities against the SDK's models.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bot.domain.command_grammar import SLASH
from bot.platforms.teams import cards
from bot.platforms.teams.activities import Command, Malformed, Parsed, Place, parse_activity
from bot.platforms.teams.auth import BotFrameworkAuth, Unauthorized
from bot.platforms.teams.directory import TeamsDirectory
from bot.platforms.teams.platform import TeamsPlatform
from bot.port import Installed, PlatformError, Uninstalled
from bot.services.admin import Invocation, Outcome, Style, run, went_wrong
from bot.services.context import Context
from bot.services.inbound import Inbound

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
MAX_BODY_BYTES = 512 * 1024  # activities are small; Teams caps messages near 100 KB
INSTALL_LOOKUP_TIMEOUT_S = 5.0  # Graph's channel list at install: best effort, Teams waits 15 s
COMMAND_TIMEOUT_S = 120.0


def _markdown_link(url: str, label: str) -> str:
    href = cards.safe_url(url)
    if href is None:
        return cards.escape_markdown(label)
    # Parentheses would end the link early: percent-encode them.
    href = href.replace("(", "%28").replace(")", "%29")
    return f"[{cards.escape_markdown(label)}]({href})"


# How command replies name things in a card's TextBlock (a markdown subset); what came from
# outside is escaped, so it cannot make a link or emphasis.
TEAMS_STYLE = Style(
    channel=lambda channel_id: channel_id,
    user=lambda user_id: user_id,
    escape=cards.escape_markdown,
    bold=lambda text: f"**{text}**",
    link=_markdown_link,
)


TEAMS_COMMAND = "@leaderbot"


def in_teams_words(text: str) -> str:
    """The shared answers name commands as typed in Slack (`/leadership …`); in Teams the
    same command is typed `@leaderbot …`."""
    return re.sub(rf"{re.escape(SLASH)}\b", TEAMS_COMMAND, text)


def reply_card(outcome: Outcome) -> cards.Card:
    """A command's answer: our words, with anything untrusted already escaped by the style."""
    text = in_teams_words(outcome.text)
    return cards.card([cards.text_block(text)], fallback=cards.markdown_to_plain(text))


class TeamsInbound:
    """The /api/messages handler and what it needs: what `leaderbot run` starts for Teams.
    Mount with `routes(app)` on the shared HTTP server."""

    name = "teams"

    def __init__(
        self,
        ctx: Context,
        inbound: Inbound,
        platform: TeamsPlatform,
        auth: BotFrameworkAuth,
    ) -> None:
        self.ctx = ctx
        self.inbound = inbound
        self.platform = platform
        self.directory: TeamsDirectory = platform.directory
        self.auth = auth
        self.tenant_id = platform.tenant_id
        self._tasks: set[asyncio.Task[None]] = set()
        # Channels whose team (and service URL) is already recorded by this process.
        self._known: set[tuple[str, str]] = set()

    @classmethod
    def for_context(cls, ctx: Context, inbound: Inbound) -> TeamsInbound:
        platform = ctx.platforms.named("teams")
        if not isinstance(platform, TeamsPlatform):
            raise ValueError("Teams is not one of the configured platforms")
        settings = ctx.settings
        auth = BotFrameworkAuth(
            platform.api.client,
            metadata_url=settings.teams_openid_metadata_url,
            app_id=platform.app_id,
        )
        return cls(ctx, inbound, platform, auth)

    # ------------------------------------------------------------------ lifecycle

    def routes(self, app: web.Application) -> None:
        app.router.add_post(MESSAGES_PATH, self.handle)

    async def start(self) -> None:
        await self.auth.prewarm()

    def healthy(self) -> bool:
        """Ready to verify inbound requests (the signing keys are loaded)."""
        return self.auth.ready

    async def health(self) -> tuple[bool, dict[str, Any]]:
        if self.healthy():
            return True, {}
        return False, {"error": "Bot Framework signing keys not loaded yet"}

    async def idle(self) -> None:
        """Wait for the commands being run (tests; and at stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await self.idle()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ the request

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return web.json_response({"error": "too large"}, status=413)
        try:
            claims = await self.auth.verify(request.headers.get("Authorization"))
        except Unauthorized as exc:
            log.warning("Teams request refused (401): %s", exc)
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            raw = await request.content.read(MAX_BODY_BYTES + 1)
        except (ConnectionError, asyncio.IncompleteReadError):
            return web.json_response({"error": "incomplete body"}, status=400)
        if len(raw) > MAX_BODY_BYTES:
            return web.json_response({"error": "too large"}, status=413)
        try:
            activity = json.loads(raw)
        except ValueError:
            log.warning("Teams request refused (400): the body is not JSON")
            return web.json_response({"error": "not JSON"}, status=400)
        service_url = activity.get("serviceUrl") if isinstance(activity, dict) else None
        if not isinstance(service_url, str) or claims.get("serviceurl") != service_url:
            log.warning("Teams request refused (401): serviceUrl does not match the token")
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            parsed = parse_activity(activity)
        except Malformed as exc:
            log.warning("Teams activity refused (400): %s (%s)", exc, _describe(activity))
            return web.json_response({"error": "malformed activity"}, status=400)
        if parsed.place is not None and parsed.place.tenant_id != self.tenant_id:
            log.warning("Teams activity from another tenant refused (403): %s", _describe(activity))
            return web.json_response({"error": "wrong tenant"}, status=403)
        await self.dispatch(parsed)
        return web.Response(status=200)

    async def dispatch(self, parsed: Parsed) -> None:
        place = parsed.place
        if place is None:
            return
        if parsed.left:
            await self.directory.forget_team(place.group_id)
            self._known = {k for k in self._known if k[1] != place.service_url}
            await self.inbound.uninstalled(Uninstalled("teams", place.group_id))
            return
        if parsed.joined:
            await self._joined(place, parsed.channels)
            return
        if parsed.channel_deleted and place.channel_id:
            await self.directory.forget_channel(place.channel_id)
            return
        if parsed.channel_created:
            await self._remember(place, parsed.channels)
            return
        if place.channel_id is not None and (place.channel_id, place.service_url) not in (
            self._known
        ):
            # Any channel activity says where the channel lives (and the team's current URL).
            await self._remember(place, ((place.channel_id, place.channel_name),))
            self._known.add((place.channel_id, place.service_url))
        if parsed.change is not None:
            await self.inbound.reply(parsed.change)
        if parsed.command is not None:
            task = asyncio.create_task(self._command(parsed.command, place))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _remember(self, place: Place, channels: tuple[tuple[str, str | None], ...]) -> None:
        await self.directory.record_team(
            group_id=place.group_id,
            tenant_id=place.tenant_id,
            service_url=place.service_url,
            thread_id=place.team_thread_id,
            name=place.team_name,
            channels=channels,
        )

    async def _joined(self, place: Place, channels: tuple[tuple[str, str | None], ...]) -> None:
        await self.directory.record_team(
            group_id=place.group_id,
            tenant_id=place.tenant_id,
            service_url=place.service_url,
            thread_id=place.team_thread_id,
            name=place.team_name,
            installed=True,
            channels=channels,
        )
        every = dict(channels) | await self._graph_channels(place.group_id)
        await self.directory.record_team(
            group_id=place.group_id,
            tenant_id=place.tenant_id,
            service_url=place.service_url,
            channels=tuple(every.items()),
        )
        await self.inbound.installed(
            Installed(
                platform="teams",
                workspace_id=place.group_id,
                channel_ids=tuple(every),
                details=(("service_url", place.service_url), ("tenant_id", place.tenant_id)),
            )
        )

    async def _graph_channels(self, group_id: str) -> dict[str, str | None]:
        """The team's channels, from Graph (best effort: the activity named one or two)."""
        found: dict[str, str | None] = {}
        try:
            async with asyncio.timeout(INSTALL_LOOKUP_TIMEOUT_S):
                async for channel in self.platform.api.graph_items(
                    f"teams/{quote(group_id, safe='')}/channels", "team channels"
                ):
                    channel_id = channel.get("id")
                    name = channel.get("displayName")
                    if isinstance(channel_id, str) and self.platform.owns(channel_id):
                        found[channel_id] = name if isinstance(name, str) else None
        except (PlatformError, TimeoutError) as exc:
            log.warning("could not list the channels of team %s: %s", group_id, exc)
        return found

    async def _command(self, command: Command, place: Place) -> None:
        invocation = Invocation(
            user_id=command.user_id,
            channel_id=command.channel_id,
            workspace_id=place.group_id,
            channel_name=place.channel_name,
            style=TEAMS_STYLE,
            # Mentions were read from the activity's entities already.
            read=lambda _text: command.words,
            platform_label="Teams",
        )
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                outcome = await run(self.ctx, command.text, invocation)
        except Exception:
            log.exception("@leaderbot command %r failed", command.text[:80])
            said = await went_wrong(self.ctx, command.channel_id, f"{TEAMS_COMMAND} status")
            outcome = Outcome(said, ok=False)
        card = cards.tag(reply_card(outcome), f"command:{command.activity_id}")
        try:
            await self.platform.send(command.channel_id, card, thread_id=command.root_id)
        except PlatformError as exc:
            log.error("could not answer a command in %s: %s", command.channel_id, exc)


def _describe(activity: Any) -> str:
    """Enough to find the activity in Teams' logs, nothing of its content."""
    if not isinstance(activity, dict):
        return type(activity).__name__
    channel_data = activity.get("channelData")
    event = channel_data.get("eventType") if isinstance(channel_data, dict) else None
    return f"type={activity.get('type')!r} id={activity.get('id')!r} eventType={event!r}"
