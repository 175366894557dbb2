"""HTTP to the Bot Framework connector and Microsoft Graph: tokens, timeouts, errors.

One httpx.AsyncClient with explicit timeouts (the Teams SDK's client has none by default).
Every answer that is not a success becomes one of the port's errors:
- 429 -> RateLimited(Retry-After): nothing was delivered;
- 412, 5xx, timeouts, dropped connections -> DeliveryUnknown: a write may have landed;
- 401 -> the token is fetched again and the call made once more (a refused token delivered
  nothing); a second 401 -> PermanentFailure;
- 403 -> PermanentFailure NOT_INSTALLED when the app is not in the team (the connector's
  BotNotInConversationRoster; Graph's missing resource-specific consent, which goes with the
  app), else NO_PERMISSION; 404 -> CHANNEL_NOT_FOUND; other 4xx -> PermanentFailure.

Writes are tried once (the outbox owns retries). Reads are idempotent and wait out a few rate
limits and server errors themselves. Graph pages are followed through `@odata.nextLink`, only
while it points at TEAMS_GRAPH_URL: the token is never sent anywhere else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.platforms.teams.tokens import BOT_FRAMEWORK_SCOPE, GRAPH_SCOPE, TokenProvider
from bot.port import (
    CHANNEL_NOT_FOUND,
    NO_PERMISSION,
    NOT_INSTALLED,
    DeliveryUnknown,
    PermanentFailure,
    PlatformError,
    RateLimited,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0  # the connector answers a post within seconds; Graph pages likewise
WRITE_TIMEOUT_S = 10.0
POOL_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 50
READ_ATTEMPTS = 4  # a Graph read: tries before its error is raised
LONGEST_READ_WAIT_S = 30.0  # a longer Retry-After on a read is raised, not waited out
DEFAULT_RETRY_AFTER_S = 5.0  # a 429 without (a readable) Retry-After
MAX_PAGES = 200  # a Graph listing longer than this is an error, not an endless loop

INSTALL_HINT = (
    "the Leaderbot app is not installed in the team this channel belongs to: "
    "install it in that team (Apps → Manage your apps → Upload an app, or ask a team owner)"
)
NOT_IN_ROSTER = "BotNotInConversationRoster"

Sleep = Callable[[float], Awaitable[None]]


def build_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=CONNECT_TIMEOUT_S,
            read=READ_TIMEOUT_S,
            write=WRITE_TIMEOUT_S,
            pool=POOL_TIMEOUT_S,
        ),
        limits=httpx.Limits(max_connections=MAX_CONNECTIONS),
        follow_redirects=False,  # a redirect would carry the bearer token elsewhere
        headers={"User-Agent": "leaderbot"},
    )


def retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After")
    if value is None:
        return DEFAULT_RETRY_AFTER_S
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S


def _error_code(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or "")
        if isinstance(error, str):
            return error
    return ""


def error_for(response: httpx.Response, what: str) -> PlatformError:
    """The port's error for a failed call."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    code = _error_code(body)
    detail = f"{what}: HTTP {status}" + (f" {code}" if code else "")
    if status == 429:
        return RateLimited(retry_after(response), detail)
    if status == 412 or status >= 500:
        return DeliveryUnknown(detail)
    if status == 403:
        graph_consent = "ChannelMessage.Read" in str(body) or "TeamMember.Read" in str(body)
        if code == NOT_IN_ROSTER or graph_consent:
            return PermanentFailure(f"{INSTALL_HINT} ({detail})", code=NOT_INSTALLED)
        return PermanentFailure(detail, code=NO_PERMISSION)
    if status == 404:
        return PermanentFailure(detail, code=CHANNEL_NOT_FOUND)
    if status == 401:
        return PermanentFailure(
            f"{detail}: the app's credentials were refused (check TEAMS_APP_ID, "
            "TEAMS_APP_PASSWORD, TEAMS_TENANT_ID)",
            code=NO_PERMISSION,
        )
    return PermanentFailure(detail)


class TeamsHttp:
    def __init__(
        self,
        client: httpx.AsyncClient,
        tokens: TokenProvider,
        *,
        graph_url: str,
        sleep: Sleep = asyncio.sleep,
        read_attempts: int = READ_ATTEMPTS,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.graph_url = graph_url if graph_url.endswith("/") else graph_url + "/"
        self._sleep = sleep
        self._read_attempts = read_attempts

    async def _send(
        self, method: str, url: str, scope: str, what: str, **kwargs: Any
    ) -> httpx.Response:
        """One call with a bearer token; a refused token is replaced and the call made once
        more. Raises PlatformError for a transport failure or an error status."""
        for attempt in (1, 2):
            token = await self.tokens.token(scope)
            headers = {"Authorization": f"Bearer {token}"}
            try:
                response = await self.client.request(method, url, headers=headers, **kwargs)
            except httpx.ConnectError as exc:
                # Never connected: nothing can have arrived, but the outbox's look is cheap and
                # keeps one rule for every transport failure.
                raise DeliveryUnknown(f"{what}: cannot connect ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:  # timeouts, dropped connections, protocol errors
                raise DeliveryUnknown(f"{what}: {type(exc).__name__}") from None
            if response.status_code == 401 and attempt == 1:
                log.info("%s: access token refused; fetching a new one", what)
                self.tokens.invalidate(scope, token)
                continue
            if response.is_success:
                return response
            raise error_for(response, what)
        raise AssertionError("unreachable")

    @staticmethod
    def _json(response: httpx.Response, what: str) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise DeliveryUnknown(f"{what}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise DeliveryUnknown(f"{what}: the answer is not a JSON object")
        return body

    # ------------------------------------------------------------------ connector (writes)

    async def connector_post(
        self, service_url: str, path: str, body: dict[str, Any], what: str
    ) -> dict[str, Any]:
        """One POST to the connector; never retried here (a write may have landed)."""
        url = service_url.rstrip("/") + "/" + path.lstrip("/")
        response = await self._send("POST", url, BOT_FRAMEWORK_SCOPE, what, json=body)
        return self._json(response, what)

    # ------------------------------------------------------------------ Graph (reads)

    def _graph_absolute(self, path_or_url: str) -> str:
        if path_or_url.startswith(("https://", "http://")):
            if not path_or_url.startswith(self.graph_url):
                raise PermanentFailure(f"Graph pointed outside {self.graph_url}: refused")
            return path_or_url
        return self.graph_url + path_or_url.lstrip("/")

    async def graph_get(
        self, path_or_url: str, what: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """A Graph GET, waiting out a few rate limits and server errors (reads are safe to
        repeat)."""
        url = self._graph_absolute(path_or_url)
        for attempt in range(1, self._read_attempts + 1):
            try:
                response = await self._send("GET", url, GRAPH_SCOPE, what, params=params)
                return self._json(response, what)
            except RateLimited as exc:
                if attempt == self._read_attempts or exc.retry_after > LONGEST_READ_WAIT_S:
                    raise
                log.info("%s: rate limited, waiting %.1f s", what, exc.retry_after)
                await self._sleep(exc.retry_after)
            except DeliveryUnknown as exc:
                if attempt == self._read_attempts:
                    raise
                log.info("%s: %s; trying again", what, exc)
                await self._sleep(min(0.25 * 2**attempt, 4.0))
        raise AssertionError("unreachable")

    async def graph_items(
        self, path: str, what: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a Graph collection, page after page (stop iterating to stop)."""
        url: str | None = path
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None:
                return
            body = await self.graph_get(url, what, params if url == path else None)
            for item in body.get("value") or []:
                if isinstance(item, dict):
                    yield item
            next_link = body.get("@odata.nextLink")
            if not isinstance(next_link, str) or next_link in seen:
                return
            seen.add(next_link)
            url = next_link
        raise DeliveryUnknown(f"{what}: more than {MAX_PAGES} pages; stopped")
