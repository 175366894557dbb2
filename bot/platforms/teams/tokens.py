"""Access tokens for the connector and Graph: client credentials, cached, one refresh at a time.

MSAL refuses authorities that are not https (so it cannot be pointed at a test server), and
the Teams SDK's token code is tied to its App; this is the few lines both would do:
POST {TEAMS_LOGIN_URL}/{tenant}/oauth2/v2.0/token with grant_type=client_credentials, the
app id and secret, and a `<resource>/.default` scope. A token is reused until shortly before
it expires; concurrent callers wait for one refresh instead of each asking for a token.

The secret and the tokens are never logged, and never put in an exception's message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bot.port import NO_PERMISSION, PermanentFailure, RateLimited

log = logging.getLogger(__name__)

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Refresh this long before expiry: a token must not run out between a check and its use.
EXPIRY_MARGIN_S = 300.0
# A token endpoint that is down: nothing was sent, so the caller may simply try again later.
TOKEN_UNAVAILABLE_RETRY_S = 30.0
MIN_LIFETIME_S = 60.0  # never trust a token for less than this, whatever expires_in says


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float  # monotonic


class TokenProvider:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        login_url: str,
        tenant_id: str,
        app_id: str,
        app_password: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = f"{login_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._app_id = app_id
        self._password = app_password
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:  # never show the secret
        return f"TokenProvider(app_id={self._app_id!r}, url={self._url!r})"

    async def token(self, scope: str) -> str:
        cached = self._tokens.get(scope)
        if cached is not None and cached.expires_at > self._clock():
            return cached.value
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(scope)  # another caller may have refreshed it meanwhile
            if cached is not None and cached.expires_at > self._clock():
                return cached.value
            fresh = await self._fetch(scope)
            self._tokens[scope] = fresh
            return fresh.value

    def invalidate(self, scope: str, value: str) -> None:
        """The service refused this token (401): fetch a new one next time, unless another
        caller already has."""
        cached = self._tokens.get(scope)
        if cached is not None and cached.value == value:
            del self._tokens[scope]

    async def _fetch(self, scope: str) -> _Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._app_id,
            "client_secret": self._password,
            "scope": scope,
        }
        try:
            response = await self._http.post(self._url, data=form)
        except httpx.HTTPError as exc:
            raise RateLimited(
                TOKEN_UNAVAILABLE_RETRY_S, f"token endpoint unreachable ({type(exc).__name__})"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RateLimited(
                TOKEN_UNAVAILABLE_RETRY_S, f"token endpoint answered {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            # AADSTS codes say what is wrong (a bad secret, an unknown tenant) without secrets.
            codes = body.get("error_codes") if isinstance(body, dict) else None
            error = body.get("error") if isinstance(body, dict) else None
            raise PermanentFailure(
                f"Microsoft sign-in refused the app's credentials (HTTP {response.status_code}, "
                f"{error or 'no error code'}, AADSTS {codes or '?'}): check TEAMS_APP_ID, "
                "TEAMS_APP_PASSWORD and TEAMS_TENANT_ID",
                code=NO_PERMISSION,
            )
        try:
            seconds = float(body.get("expires_in") or 0)
        except (TypeError, ValueError):
            seconds = 0.0
        usable = max(MIN_LIFETIME_S, seconds - EXPIRY_MARGIN_S)
        log.debug("new access token for %s, usable for %.0f s", scope, usable)
        return _Token(body["access_token"], self._clock() + usable)
