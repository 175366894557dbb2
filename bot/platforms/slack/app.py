"""The Slack side of `leaderbot run`: the Bolt AsyncApp, its listeners, and the server.

HTTP mode: one aiohttp server with POST /slack/events (events, slash commands, interactivity;
Bolt checks the signature and the timestamp) and GET /healthz.
Socket Mode (SLACK_APP_TOKEN set): Bolt's AsyncSocketModeHandler; the aiohttp server then serves
only /healthz, which answers 503 while the socket is down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.listeners import commands, events, home
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.services.context import Context
    from bot.services.inbound import Inbound

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def build_bolt_app(settings: Settings, *, client: AsyncWebClient | None = None) -> AsyncApp:
    """The Bolt app. Its client carries SLACK_API_URL; Bolt copies base_url, timeout and
    retry handlers into the client it makes for each request."""
    return AsyncApp(
        name="leaderbot",
        client=client or build_web_client(settings, retry_rate_limits=True),
        signing_secret=settings.secret(settings.slack_signing_secret) or "",
        # An event nobody listens to is normal (Slack sends what the manifest subscribes to).
        raise_error_for_unhandled_request=False,
    )


def register_listeners(app: AsyncApp, ctx: Context, inbound: Inbound) -> None:
    """Every Slack listener, listed: events (replies, uninstalls), /leadership, the App Home."""
    events.register(app, inbound)
    commands.register(app, ctx)
    home.register(app, ctx)


def malformed_envelope(body: str, content_type: str) -> str | None:
    """Why a JSON Events API envelope cannot be handled, or None if its shape is fine.
    (Form bodies, i.e. slash commands and interactivity, are left to Bolt.)"""
    if content_type != "application/json":
        return None
    try:
        envelope = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not isinstance(envelope, dict):
        return "body is not a JSON object"
    if "event" in envelope and not isinstance(envelope["event"], dict):
        return "`event` is not an object"
    if "authorizations" in envelope and not isinstance(envelope["authorizations"], list):
        return "`authorizations` is not a list"
    return None


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
    ) -> None:
        self.app = app
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
        secret = settings.secret(settings.slack_signing_secret)
        self._verifier = SignatureVerifier(secret) if secret else None

    @property
    def mode(self) -> str:
        return "socket" if self.socket_mode else "http"

    def web_app(self) -> web.Application:
        application = web.Application()
        application.router.add_get(HEALTH_PATH, self._health)
        self.routes(application)
        return application

    def routes(self, application: web.Application) -> None:
        """POST /slack/events on a (shared) application, in HTTP mode."""
        if not self.socket_mode:
            application.router.add_post(EVENTS_PATH, self._events)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether Slack can reach the bot (HTTP) or the socket is up, and what to show."""
        if await self.connected():
            return True, {"mode": self.mode}
        return False, {"mode": self.mode, "error": "Slack socket not connected"}

    async def _events(self, request: web.Request) -> web.Response:
        body = await request.text()
        # Check the signature before anything parses the body: Bolt parses first, so a
        # malformed unsigned body would otherwise get a 500 instead of a 401.
        if self._verifier is None or not self._verifier.is_valid(
            body,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
        ):
            return web.json_response({"error": "invalid signature"}, status=401)
        problem = malformed_envelope(body, request.content_type)
        if problem is not None:
            # Signed but malformed: log it and ack, so Slack does not retry it forever.
            log.warning("malformed request acked and dropped: %s", problem)
            return web.Response(status=200)
        try:
            bolt_response = await self.app.async_dispatch(
                AsyncBoltRequest(body=body, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
            )
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Signed but malformed: log it and ack, so Slack does not retry it forever.
            log.warning("malformed request acked and dropped: %s: %s", type(exc).__name__, exc)
            return web.Response(status=200)
        return await to_aiohttp_response(bolt_response)

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
        self._runner = web.AppRunner(self.web_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
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
        self.app = build_bolt_app(ctx.settings)
        register_listeners(self.app, ctx, inbound)
        self.server = SlackServer(self.app, ctx.settings)

    def routes(self, application: web.Application) -> None:
        self.server.routes(application)

    async def start(self) -> None:
        await self.server.connect()

    async def health(self) -> tuple[bool, dict[str, Any]]:
        return await self.server.health()

    async def stop(self) -> None:
        await self.server.stop()
