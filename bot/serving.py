"""The one HTTP server of `leaderbot run`: every platform's routes on one port, and /healthz.

`POST /slack/events` (Slack, HTTP mode), `POST /api/messages` (Teams) and `GET /healthz`
share `LEADERBOT_PORT`. Each platform's runtime says what it mounts and whether it is healthy;
/healthz answers 503 while any is not.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
# Connections waiting to be accepted: a burst of events must not be reset (aiohttp's default
# is 128).
LISTEN_BACKLOG = 1024


class PlatformRuntime(Protocol):
    """What `leaderbot run` starts for one platform (its inbound side)."""

    name: str

    def routes(self, application: web.Application) -> None: ...

    async def start(self) -> None: ...

    async def health(self) -> tuple[bool, dict[str, Any]]: ...

    async def stop(self) -> None: ...


class HttpServer:
    def __init__(self, runtimes: Sequence[PlatformRuntime], *, host: str, port: int) -> None:
        self.runtimes = list(runtimes)
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    def application(self) -> web.Application:
        application = web.Application()
        application.router.add_get(HEALTH_PATH, self._health)
        for runtime in self.runtimes:
            runtime.routes(application)
        return application

    async def _health(self, _request: web.Request) -> web.Response:
        body: dict[str, Any] = {"ok": True, "platforms": {}}
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
        self._runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port, backlog=LISTEN_BACKLOG)
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
