"""The Slack side of `leaderbot run`: the Bolt AsyncApp, its listeners, and the server.

HTTP mode: one aiohttp server with POST /slack/events (events, slash commands, interactivity)
and GET /healthz. Socket Mode (SLACK_APP_TOKEN set): Bolt's AsyncSocketModeHandler; the aiohttp
server then serves only /healthz, which answers 503 while the socket is down.

What comes in over HTTP is outside input, checked before Bolt sees it, in this order:
1. the body is read within LEADERBOT_HTTP_READ_TIMEOUT (408) and up to LEADERBOT_HTTP_MAX_BODY
   (413);
2. the signature is checked on the raw bytes: HMAC-SHA256 of `v0:{timestamp}:{body}`, a
   timestamp of plain digits within 5 minutes of now (401 otherwise);
3. a signed body that cannot be read (not UTF-8, not JSON, nested too deep, fields of the
   wrong type) is acked with 200 and one warning, so Slack does not retry it;
4. a slash command or interaction seen before (same signature: a replay within Slack's
   5-minute window) is acked and dropped. The ids are kept in memory (checked here, before the
   ack) and in `processed_events` (`cmd:<team>:<signature>`, checked by each listener right
   after its ack, so the ack never waits for the database), so two processes dedupe too
   (replays.py). Events are deduped by their event_id where they are stored;
5. a message event (a reply, an edit, a deletion: nearly all the traffic) is stored and acked
   here, without Bolt's dispatch; everything else goes to Bolt.
Each refusal is one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.logger import get_bolt_logger
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_sdk.web.async_client import AsyncWebClient

from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.listeners import commands, events, home
from bot.platforms.slack.oauth import InstallRoutes, oauth_settings
from bot.platforms.slack.platform import SlackPlatform
from bot.platforms.slack.replays import REPLAY_DROPPED, REPLAY_WINDOW_S, ReplayGuard
from bot.platforms.slack.tokens import acting_workspace
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.context import Context
    from bot.services.inbound import Inbound
    from bot.store.db import Database

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


class _ClientGivenNotice(logging.Filter):
    """Drops Bolt's start-up warning that its `token` is unused because a `client` is given.

    AsyncApp reads SLACK_BOT_TOKEN from the environment by itself and warns when a client is
    passed too, which leaderbot always does (the client carries SLACK_API_URL, timeouts and
    retries, and the same token): at every start operators saw a warning that asked nothing of
    them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def build_bolt_app(
    settings: Settings,
    *,
    client: AsyncWebClient | None = None,
    oauth: AsyncOAuthSettings | None = None,
) -> AsyncApp:
    """The Bolt app. Its client carries SLACK_API_URL; Bolt copies base_url, timeout and
    retry handlers into the client it makes for each request. With `oauth` (many
    workspaces), each request is answered with the token of its workspace's installation,
    renewed first when it is about to expire."""
    client = client or build_web_client(settings, retry_rate_limits=True)
    bolt_log = get_bolt_logger(AsyncApp)
    if not any(isinstance(f, _ClientGivenNotice) for f in bolt_log.filters):
        bolt_log.addFilter(_ClientGivenNotice())
    app = AsyncApp(
        name="leaderbot",
        client=client,
        signing_secret=settings.secret(settings.slack_signing_secret) or "",
        oauth_settings=oauth,
        # Given here so that renewing a token goes to SLACK_API_URL (the settings' own
        # authorize would renew through a default client, at slack.com).
        authorize=None
        if oauth is None
        else AsyncInstallationStoreAuthorize(
            logger=log,
            installation_store=oauth.installation_store,
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            token_rotation_expiration_minutes=oauth.token_rotation_expiration_minutes,
            bot_only=True,
            client=client,
        ),
        # An event nobody listens to is normal (Slack sends what the manifest subscribes to).
        raise_error_for_unhandled_request=False,
    )

    @app.middleware
    async def in_its_workspace(context: dict[str, Any], next: Any) -> None:
        # What leaderbot sends while answering goes with this workspace's token (tokens.py).
        team = context.get("team_id")
        token = acting_workspace.set(team if isinstance(team, str) else None)
        try:
            await next()
        finally:
            acting_workspace.reset(token)

    return app


def register_listeners(app: AsyncApp, ctx: Context, inbound: Inbound) -> commands.ResponseUrls:
    """Every Slack listener, listed: events (replies, uninstalls), /leadership, the App Home.
    Returns the response_url session of /leadership, to close on stop."""
    slack = ctx.platforms.named("slack")
    # Many workspaces: an uninstalled workspace's cached token goes at once.
    tokens = slack.tokens if isinstance(slack, SlackPlatform) else None
    events.register(app, inbound, forget=tokens.forget if tokens is not None else None)
    urls = commands.register(app, ctx)
    home.register(app, ctx)
    return urls


# --- checking what comes in -----------------------------------------------------------

SIGNATURE_WINDOW_S = REPLAY_WINDOW_S  # Slack's: a request older (or newer) is refused
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TEAM = re.compile(r"[A-Za-z0-9]{1,32}")
# Envelopes of the Events API: deduped by event_id where events are stored, not here.
EVENT_TYPES = frozenset({"event_callback", "url_verification", "app_rate_limited"})


def signature_problem(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, *, now: float
) -> str | None:
    """Why a request is not Slack's (its signature over the raw bytes), or None if it is."""
    if not timestamp or not _TIMESTAMP.fullmatch(timestamp):
        return "missing or malformed X-Slack-Request-Timestamp"
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_S:
        return "X-Slack-Request-Timestamp outside the 5-minute window"
    if not signature or not _SIGNATURE.fullmatch(signature):
        return "missing or malformed X-Slack-Signature"
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        return "signature does not match"
    return None


def _id_or_object(value: Any) -> bool:
    """`team`, `channel`, `enterprise`: absent, an id, or an object whose id is a string."""
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, dict) and isinstance(value.get("id", ""), str)


def _shape_problem(payload: dict[str, Any]) -> str | None:
    """What Bolt and the listeners would trip over in a parsed body, or None."""
    if not isinstance(payload.get("type", ""), str):
        return "`type` is not a string"
    for name in ("team", "channel", "enterprise"):
        if not _id_or_object(payload.get(name)):
            return f"`{name}` is neither an id nor an object with one"
    for name in ("event", "message", "previous_message", "container", "item", "view"):
        if name in payload and not isinstance(payload[name], dict):
            return f"`{name}` is not an object"
    authorizations = payload.get("authorizations")
    if authorizations is not None and (
        not isinstance(authorizations, list) or not all(isinstance(a, dict) for a in authorizations)
    ):
        return "`authorizations` is not a list of objects"
    event = payload.get("event")
    if isinstance(event, dict):
        if not isinstance(event.get("type", ""), str):
            return "`event.type` is not a string"
        # Only what Bolt itself trips over; the listeners check the rest of an event and
        # log what they drop (events.py).
        for part in ("", "message", "previous_message"):
            inner = event.get(part) if part else event
            if part and event.get("channel_type") == "im" and not isinstance(inner, dict | None):
                return f"`event.{part}` is not an object"
            for name in ("team", "channel", "user", "user_team"):
                if isinstance(inner, dict) and isinstance(inner.get(name), int | float):
                    return f"`event.{part + '.' if part else ''}{name}` is a number"
    kind = payload.get("type")
    if isinstance(kind, str) and kind.startswith("workflow_step"):
        return "workflow steps are not supported"
    if kind in EVENT_TYPES or "command" in payload:
        return None
    # Interactivity (block_actions, view_submission, shortcuts...): objects all the way.
    user = payload.get("user")
    if user is not None and not (isinstance(user, dict) and isinstance(user.get("id"), str)):
        return "`user` is not an object with an id"
    actions = payload.get("actions")
    if actions is not None and not (
        isinstance(actions, list)
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    ):
        return "`actions` is not a list of actions"
    view = payload.get("view")
    if isinstance(view, dict):
        if view.get("type") not in ("modal", "home"):
            return "`view.type` is not a modal or the Home tab"
        if not isinstance(view.get("private_metadata", ""), str):
            return "`view.private_metadata` is not a string"
        if not isinstance(view.get("callback_id", ""), str):
            return "`view.callback_id` is not a string"
        state = view.get("state", {})
        if not isinstance(state, dict) or not isinstance(state.get("values", {}), dict):
            return "`view.state` is not an object of values"
    return None


def parse_request(body: str, content_type: str | None) -> tuple[dict[str, Any] | None, str]:
    """The body as Bolt will read it (the same parser), or None and why it cannot be."""
    try:
        payload = parse_body(body, content_type)
    except RecursionError:
        return None, "body nested too deeply"
    except ValueError:
        return None, "body is not JSON"
    if not isinstance(payload, dict):
        return None, "body is not a JSON object"
    problem = _shape_problem(payload)
    if problem is not None:
        return None, problem
    return payload, ""


def malformed_envelope(body: str, content_type: str) -> str | None:
    """Why a body cannot be handled, or None if its shape is fine."""
    payload, problem = parse_request(body, content_type)
    return None if payload is not None else problem


def replay_key(payload: dict[str, Any], signature: str) -> str | None:
    """The dedupe id of a slash command or an interaction, or None for Events API envelopes
    (deduped by their event_id). The team is in the id so that an uninstall can purge it."""
    if payload.get("type") in EVENT_TYPES:
        return None
    team = payload.get("team_id") or payload.get("team")
    if isinstance(team, dict):
        team = team.get("id")
    if not isinstance(team, str) or not _TEAM.fullmatch(team):
        user = payload.get("user")
        team = user.get("team_id") if isinstance(user, dict) else None
    if not isinstance(team, str) or not _TEAM.fullmatch(team):
        team = "-"
    return f"cmd:{team}:{signature.removeprefix('v0=')}"


def _closing(response: web.Response) -> web.Response:
    """A refusal that also ends the connection: the rest of the body is not waited for."""
    response.force_close()
    return response


class SlackServer:
    """Runs the Bolt app in HTTP or Socket Mode (chosen by settings), with /healthz."""

    def __init__(
        self,
        app: AsyncApp,
        settings: Settings,
        *,
        host: str = "0.0.0.0",
        port: int | None = None,
        ping_interval: float = 10.0,
        db: Database | None = None,
        messages: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        # The hot path: replies (message events) stored without Bolt's dispatch, which cost
        # more than half of each event's CPU (events.store_message; Socket Mode uses Bolt).
        self.messages = messages
        self.settings = settings
        self.host = host
        self.requested_port = settings.port if port is None else port
        self.ping_interval = ping_interval  # Socket Mode: ping, and reconnect checks
        self.socket_mode = settings.socket_mode
        self.port: int | None = None
        self.socket_handler: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._serving = False
        self._secret = settings.secret(settings.slack_signing_secret)
        self.replays = ReplayGuard(db)
        # Many workspaces: the install pages, over the app's OAuth flow.
        flow = app.oauth_flow
        self.install = InstallRoutes(flow) if flow is not None else None

    @property
    def mode(self) -> str:
        return "socket" if self.socket_mode else "http"

    def web_app(self) -> web.Application:
        application = web.Application(client_max_size=self.settings.http_max_body_bytes)
        application.router.add_get(HEALTH_PATH, self._health)
        self.routes(application)
        return application

    def routes(self, application: web.Application) -> None:
        """POST /slack/events on a (shared) application, in HTTP mode; the install pages
        with many workspaces."""
        if not self.socket_mode:
            application.router.add_post(EVENTS_PATH, self._events)
        if self.install is not None:
            self.install.routes(application)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether Slack can reach the bot (HTTP) or the socket is up, and what to show."""
        if await self.connected():
            return True, {"mode": self.mode}
        return False, {"mode": self.mode, "error": "Slack socket not connected"}

    async def _events(self, request: web.Request) -> web.Response:
        raw = await self._read(request)
        if isinstance(raw, web.Response):
            return raw
        # The signature first, on the bytes as they came: nothing parses an unsigned body.
        problem = (
            signature_problem(
                self._secret,
                request.headers.get("X-Slack-Request-Timestamp"),
                request.headers.get("X-Slack-Signature"),
                raw,
                now=time.time(),
            )
            if self._secret
            else "no signing secret configured"
        )
        if problem is not None:
            log.warning("refused an unauthenticated request: %s", problem)
            return web.json_response({"error": "invalid signature"}, status=401)
        # Signed but malformed: log it and ack, so Slack does not retry it forever.
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("malformed request acked and dropped: body is not UTF-8")
            return web.Response(status=200)
        payload, problem = parse_request(body, request.content_type)
        if payload is None:
            log.warning("malformed request acked and dropped: %s", problem)
            return web.Response(status=200)
        key = replay_key(payload, request.headers["X-Slack-Signature"])
        # In memory only here: the database check waits for SQLite's single writer, so the
        # listeners make it after their ack (replays.first_time), before carrying anything out.
        if key is not None and not self.replays.first_time_in_memory(key):
            log.warning(REPLAY_DROPPED)
            return web.Response(status=200)
        if self.messages is not None and events.is_message_callback(payload):
            return await self._store_message(payload)
        try:
            bolt_response = await self.app.async_dispatch(
                AsyncBoltRequest(
                    body=body,
                    query=request.query_string,
                    headers=request.headers,  # type: ignore[arg-type]
                    context=self.replays.deferred(key) if key is not None else None,
                )
            )
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
            log.warning("malformed request acked and dropped: %s", type(exc).__name__)
            return web.Response(status=200)
        return await to_aiohttp_response(bolt_response)

    async def _store_message(self, payload: dict[str, Any]) -> web.Response:
        """Ack a message event once what it means is stored; 503 (Slack retries) if it could
        not be."""
        assert self.messages is not None
        try:
            await self.messages(payload)
        except Exception as exc:
            log.error("a reply could not be stored, so it is not acked (Slack retries): %r", exc)
            return web.Response(status=503)
        return web.Response(status=200)

    async def _read(self, request: web.Request) -> bytes | web.Response:
        """The raw body, read within the read timeout and up to the size limit."""
        limit = self.settings.http_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            log.warning("refused a request: body of %d bytes", request.content_length)
            return _closing(web.Response(status=413))
        try:
            if request.content.is_eof():
                return await request.read()  # all here already: no timer (the common case)
            async with asyncio.timeout(self.settings.http_read_timeout_s):
                return await request.read()
        except TimeoutError:
            log.warning("refused a request: body not sent within the read timeout")
            return _closing(web.Response(status=408))
        except web.HTTPRequestEntityTooLarge:
            log.warning("refused a request: body over %d bytes", limit)
            return _closing(web.Response(status=413))

    async def connected(self) -> bool:
        if not self.socket_mode:
            return self._serving
        handler = self.socket_handler
        return handler is not None and await handler.client.is_connected()

    async def _health(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {"ok": True, "mode": self.mode}
        if await self.connected():
            return web.json_response(body)
        body.update(ok=False, error="Slack socket not connected")
        return web.json_response(body, status=503)

    async def start(self) -> int:
        """Start serving on a server of its own; returns the bound port (useful with port 0)."""
        await self.connect()
        self._runner = web.AppRunner(
            self.web_app(),
            access_log=None,
            handle_signals=False,
            # Close a connection that sends no whole request (or idles) for the read timeout.
            keepalive_timeout=self.settings.http_read_timeout_s,
            lingering_time=self.settings.http_read_timeout_s,
            max_line_size=8190,
            max_field_size=8190,
            max_headers=64,
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.requested_port, backlog=self.settings.http_backlog
        )
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("Slack %s mode; /healthz on port %s", self.mode, self.port)
        return self.port

    async def connect(self) -> None:
        """Socket Mode: connect (aside, retrying until it can); HTTP mode: be ready to serve
        the routes, which a server (this one's or a shared one) is about to expose."""
        if self.socket_mode:
            app_token = self.settings.secret(self.settings.slack_app_token)
            self.socket_handler = AsyncSocketModeHandler(
                self.app, app_token, ping_interval=self.ping_interval
            )
            # connect() retries until it succeeds: run it aside so /healthz can say 503 meanwhile.
            self._connect_task = asyncio.create_task(self.socket_handler.connect_async())
        elif not self.settings.slack_signing_secret:
            raise ValueError(
                "SLACK_SIGNING_SECRET is required in HTTP mode (or set SLACK_APP_TOKEN)"
            )
        self._serving = True

    async def stop(self) -> None:
        self._serving = False
        if self.socket_handler is not None:
            await self.socket_handler.close_async()
            self.socket_handler = None
        if self._connect_task is not None:
            self._connect_task.cancel()
            await asyncio.gather(self._connect_task, return_exceptions=True)
            self._connect_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class SlackRuntime:
    """What `leaderbot run` starts on Slack: the Bolt app with every listener, its routes on
    the shared HTTP server (HTTP mode) or its socket (Socket Mode)."""

    name = "slack"

    def __init__(self, ctx: Context, inbound: Inbound) -> None:
        self.ctx = ctx
        self.settings = ctx.settings  # the shared server's read timeout and body limit
        oauth = (
            oauth_settings(ctx.settings, ctx.db, clock=ctx.clock)
            if ctx.settings.slack_oauth
            else None
        )
        self.app = build_bolt_app(ctx.settings, oauth=oauth)
        self.response_urls = register_listeners(self.app, ctx, inbound)
        self.server = SlackServer(
            self.app, ctx.settings, db=ctx.db, messages=partial(events.store_message, inbound)
        )

    def routes(self, application: web.Application) -> None:
        self.server.routes(application)

    async def start(self) -> None:
        await self.server.connect()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        return await self.server.health()

    async def stop(self) -> None:
        await self.server.stop()
        await self.response_urls.close()
