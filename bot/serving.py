"""The one HTTP server of `leaderbot run`: every platform's routes on one port, and /healthz.

`POST /slack/events` (Slack, HTTP mode), `POST /api/messages` (Teams), `GET /healthz` and
`GET /metrics` (Prometheus text format) share `LEADERBOT_PORT`. Each platform's runtime says
what it mounts and whether it is healthy; /healthz answers 503 while the database or any
platform is not.

Slow or idle clients are not held: a connection that has not sent a whole request's headers
within the read timeout (LEADERBOT_HTTP_READ_TIMEOUT), or sits idle that long between
requests, is closed (aiohttp's keep-alive timer runs from the moment a connection opens), and
a body larger than LEADERBOT_HTTP_MAX_BODY is refused with 413. Each route bounds its own body
read by the same timeout. aiohttp has no separate per-byte header deadline, so in production
put a reverse proxy (nginx, a load balancer) with its own header timeouts in front as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.services.context import Context
from bot.services.health import database_answers, outbox_backlog
from bot.settings import Settings

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
# Header limits, a little tighter than aiohttp's defaults: nothing Slack or Teams sends needs more.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8190
MAX_HEADERS = 64


def server_options(read_timeout_s: float) -> dict[str, object]:
    """aiohttp's connection handler settings: close a connection that has not sent a request
    (or sits idle between requests) for `read_timeout_s`, and cap the header sizes."""
    return {
        "keepalive_timeout": read_timeout_s,
        # After a refusal, the rest of a slow body is drained for at most this long.
        "lingering_time": read_timeout_s,
        "max_line_size": MAX_LINE_SIZE,
        "max_field_size": MAX_FIELD_SIZE,
        "max_headers": MAX_HEADERS,
    }


class PlatformRuntime(Protocol):
    """What `leaderbot run` starts for one platform (its inbound side)."""

    name: str

    def routes(self, application: web.Application) -> None: ...

    async def start(self) -> None: ...

    async def health(self) -> tuple[bool, dict[str, Any]]: ...

    async def stop(self) -> None: ...


class HttpServer:
    def __init__(
        self,
        runtimes: Sequence[PlatformRuntime],
        *,
        host: str,
        port: int,
        settings: Settings,
        ctx: Context | None = None,
    ) -> None:
        self.runtimes = list(runtimes)
        self.ctx = ctx  # for the database check and the outbox figures
        self.host = host
        self.requested_port = port
        self.read_timeout_s = settings.http_read_timeout_s
        self.max_body_bytes = settings.http_max_body_bytes
        self.backlog = settings.http_backlog
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        application = web.Application(client_max_size=self.max_body_bytes, middlewares=[_timed])
        application.router.add_get(HEALTH_PATH, self._health)
        application.router.add_get(METRICS_PATH, self._metrics)
        for runtime in self.runtimes:
            runtime.routes(application)
        return application

    async def _metrics(self, _request: web.Request) -> web.Response:
        if self.ctx is not None:
            backlog, oldest_age = await outbox_backlog(self.ctx)
            metrics.OUTBOX_BACKLOG.set(backlog)
            metrics.OUTBOX_OLDEST_DUE_AGE.set(oldest_age)
        return web.Response(
            body=generate_latest(metrics.REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _health(self, _request: web.Request) -> web.Response:
        body: dict[str, Any] = {"ok": True, "platforms": {}}
        if self.ctx is not None:
            ok, reason = await database_answers(self.ctx)
            body["database"] = {"ok": ok} | ({"error": reason} if reason else {})
            body["ok"] = ok
        for runtime in self.runtimes:
            ok, details = await runtime.health()
            body["platforms"][runtime.name] = {"ok": ok, **details}
            body["ok"] = body["ok"] and ok
            if runtime.name == "slack" and "mode" in details:
                body["mode"] = details["mode"]  # kept at the top, as before Teams
        return web.json_response(body, status=200 if body["ok"] else 503)

    async def start(self) -> int:
        """Start every runtime, then serve; returns the bound port (useful with port 0)."""
        for runtime in self.runtimes:
            await runtime.start()
        self._runner = web.AppRunner(
            self.application(),
            access_log=None,
            handle_signals=False,
            **server_options(self.read_timeout_s),
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, backlog=self.backlog)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        names = ", ".join(r.name for r in self.runtimes)
        log.info("serving %s on port %s", names, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for runtime in self.runtimes:
            await runtime.stop()


@web.middleware
async def _timed(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every request's time to answer, by route and status (the ack latency of events)."""
    started = asyncio.get_running_loop().time()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        elapsed = asyncio.get_running_loop().time() - started
        metrics.REQUESTS.labels(name, str(status)).observe(elapsed)
