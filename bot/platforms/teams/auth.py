"""Verifying that an inbound activity comes from the Bot Framework, for this app.

Every POST /api/messages carries `Authorization: Bearer <JWT>`. It is accepted only if:
- it is RS256, signed by a key in the JWKS that the OpenID metadata points to, and that key is
  endorsed for the "msteams" channel when the key says which channels it serves;
- its issuer is https://api.botframework.com and its audience is this app's id;
- it has not expired (a small leeway for clock skew) and is already valid (nbf);
- its `serviceurl` claim equals the activity's serviceUrl (checked by the caller, who has the
  body: `verify` returns the claims).

Keys are fetched with httpx on the event loop (the Teams SDK's fetch is blocking), cached,
prewarmed at start, and fetched again when a token names a key id not in the cache (keys
rotate) — at most once per `MIN_REFRESH_INTERVAL_S`, so forged key ids cannot make the bot
hammer the metadata endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

ISSUER = "https://api.botframework.com"
ALGORITHMS = ["RS256"]
LEEWAY_S = 120  # clock skew between Microsoft and us
MIN_REFRESH_INTERVAL_S = 60.0
KEYS_MAX_AGE_S = 24 * 3600.0  # Microsoft rotates keys; re-read them daily regardless
CHANNEL = "msteams"
MAX_TOKEN_CHARS = 8_192


class Unauthorized(Exception):
    """The request is not from the Bot Framework for this app: 401, nothing touched."""


class KeysUnavailable(Exception):
    """The signing keys could not be read (the metadata endpoint is down)."""


class BotFrameworkAuth:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        metadata_url: str,
        app_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._metadata_url = metadata_url
        self._app_id = app_id
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._endorsements: dict[str, list[str]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    async def prewarm(self) -> None:
        """Fetch the keys at start; a failure is logged (the first request tries again)."""
        try:
            await self._refresh(force=True)
        except KeysUnavailable as exc:
            log.warning("Bot Framework signing keys not loaded yet: %s", exc)

    async def _refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            now = self._clock()
            recent = self._fetched_at is not None and now - self._fetched_at < (
                MIN_REFRESH_INTERVAL_S
            )
            if recent and not force:
                return
            self._fetched_at = now
            try:
                metadata = await self._get_json(self._metadata_url)
                jwks_uri = metadata.get("jwks_uri")
                if not isinstance(jwks_uri, str) or not jwks_uri.startswith("http"):
                    raise KeysUnavailable("the OpenID metadata has no jwks_uri")
                jwks = await self._get_json(jwks_uri)
            except (httpx.HTTPError, ValueError) as exc:
                raise KeysUnavailable(f"{type(exc).__name__}: {exc}") from None
            keys: dict[str, jwt.PyJWK] = {}
            endorsements: dict[str, list[str]] = {}
            for entry in jwks.get("keys") or []:
                if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
                    continue
                try:
                    keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
                except (jwt.PyJWKError, jwt.InvalidKeyError):
                    continue
                if isinstance(entry.get("endorsements"), list):
                    endorsements[entry["kid"]] = [str(e) for e in entry["endorsements"]]
            if not keys:
                raise KeysUnavailable("the JWKS has no usable keys")
            self._keys, self._endorsements = keys, endorsements
            log.info("loaded %d Bot Framework signing keys", len(keys))

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
        return body

    async def _key(self, kid: str) -> jwt.PyJWK:
        stale = self._fetched_at is None or self._clock() - self._fetched_at > KEYS_MAX_AGE_S
        if kid not in self._keys or stale:
            try:
                await self._refresh(force=stale)
            except KeysUnavailable as exc:
                if kid not in self._keys:
                    raise Unauthorized(f"signing keys unavailable ({exc})") from None
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        endorsed = self._endorsements.get(kid)
        if endorsed is not None and CHANNEL not in endorsed:
            raise Unauthorized("key not endorsed for Teams")
        return key

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims if it is a valid Bot Framework token for this app; else
        Unauthorized (with a reason fit for a log line, never the token)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("no bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("malformed token") from None
        if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
            raise Unauthorized("unexpected token algorithm or no key id")
        key = await self._key(header["kid"])
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self._app_id,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"{type(exc).__name__}") from None
