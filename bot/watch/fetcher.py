"""The safe fetcher: httpx with every limit explicit, for URLs nobody vetted.

Limits (FetchLimits, each with its default): connect and read timeouts; an overall deadline for
the whole fetch including DNS and redirects (30 s); a byte cap counted on the DECOMPRESSED body,
enforced while inflating so a gzip bomb never expands in memory (5 MB); at most 3 redirects,
each one re-checked; http and https only; no credentials in URLs.

HTTP: httpx's Request and Response, sent through bot.watch.transport.GuardedTransport, which
does the work with aiohttp (its C parser costs a fraction of httpcore's per request; bench/feeds
prints both). Addresses: the hostname is resolved there, every address it resolves to is checked
(bot.domain.feed_addresses), and the connection is made to a checked address; an IP literal is
checked before the request. So the address actually connected to is one checked, on every hop
and every new connection, and DNS rebinding cannot slip in between check and connect. TLS still
verifies the certificate against the hostname.

Every failure returns a FetchResult with a short `code` and a sentence `reason`; nothing raises
for a bad feed. ETag and Last-Modified are stored as latin-1 text and sent back as the same bytes;
one longer than its database column (FetchLimits.etag_chars, last_modified_chars), or one whose
bytes cannot be sent back unchanged (not UTF-8, which is how aiohttp writes headers), is dropped,
with a logged reason, never cut or altered: a wrong validator sent back would be a wrong
conditional GET, while none means a plain GET, which is always correct.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
import time
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from bot import __version__
from bot.domain.feed_addresses import AddressPolicy
from bot.watch.policy import parse_retry_after
from bot.watch.transport import FetchRefused, GuardedTransport, Resolver, system_resolver

log = logging.getLogger(__name__)

FALLBACK_PROJECT_URL = "https://github.com/leaderbot/leaderbot"
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# Forbidden in a header value (RFC 9110 5.5), tab excepted; aiohttp refuses to write them.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
DRAIN_LIMIT = 64 * 1024  # body bytes of a redirect or error read (and dropped) for keep-alive
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def _project_url() -> str:
    try:
        for entry in metadata.metadata("leaderbot").get_all("Project-URL") or []:
            _, _, url = entry.partition(",")
            if url.strip().startswith("https://"):
                return url.strip()
    except metadata.PackageNotFoundError:
        pass
    return FALLBACK_PROJECT_URL


USER_AGENT = f"leaderbot/{__version__} (+{_project_url()}; feed watcher)"


@dataclass(frozen=True, slots=True)
class FetchLimits:
    connect_timeout: float = 10.0  # DNS; then TCP + TLS handshake
    read_timeout: float = 15.0  # longest silence while waiting for or reading the response
    deadline: float = 30.0  # the whole fetch: DNS, connect, redirects, body
    max_bytes: int = 5 * 1024 * 1024  # decompressed body
    max_redirects: int = 3
    max_url_length: int = 2048
    # Validators longer than this are dropped (the lengths of feeds.etag / feeds.last_modified,
    # bot.store.models_feeds; tests/test_feed_fetcher.py checks they agree).
    etag_chars: int = 1024
    last_modified_chars: int = 256


class FetchStatus(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: FetchStatus
    url: str
    final_url: str
    http_status: int | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None
    code: str = ""  # short machine reason for failures: "blocked_address", "too_large"…
    reason: str = ""  # one sentence for logs and admins
    elapsed: float = 0.0
    redirects: int = 0
    permanent_redirect: str | None = None  # a 301/308 target: the feed may have moved

    @property
    def ok(self) -> bool:
        return self.status is not FetchStatus.FAILED


class _TooLarge(Exception):
    pass


# --- bodies -------------------------------------------------------------------------------------


class _Inflater:
    """Content-Encoding decoding that never produces more than the byte cap allows.

    httpx's and aiohttp's own decoders inflate a whole network chunk at once (64 KB of a gzip
    bomb is ~64 MB); here every call is bounded with zlib's max_length."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_fallback = encoding == "deflate"
        self._started = False
        if encoding in ("gzip", "x-gzip"):
            self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            self._z = None

    def feed(self, data: bytes, budget: int) -> bytes:
        """Decode `data`; raise _TooLarge if it would exceed `budget` bytes."""
        if self._z is None:
            if len(data) > budget:
                raise _TooLarge
            return data
        if self._z.eof:
            return b""  # trailing bytes after the compressed stream: ignored
        try:
            out = self._z.decompress(data, budget + 1)
        except zlib.error:
            # "deflate" is sent both zlib-wrapped (correct) and raw (common): try raw once.
            if self._raw_fallback and not self._started:
                self._raw_fallback = False
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data, budget)
            raise
        self._started = True
        if len(out) > budget:
            raise _TooLarge
        return out

    def finish(self, budget: int) -> bytes:
        if self._z is None:
            return b""
        out = self._z.flush(budget + 1)
        if len(out) > budget:
            raise _TooLarge
        return out


async def _drain(response: httpx.Response, limit: int) -> None:
    """Discard up to `limit` raw bytes of a body we do not want; stop early past that (the
    connection is then closed rather than reused, which is fine)."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > limit:
            return


def _header(response: httpx.Response, name: str) -> str | None:
    """A header's exact bytes as latin-1 text (bijective), so it can be sent back unchanged."""
    for key, value in response.headers.raw:
        if key.lower() == name.encode():
            return value.decode("latin-1")
    return None


def _sendable(value: str) -> bool:
    """Whether a stored validator can be sent back byte for byte: the transport writes header
    values as UTF-8 (aiohttp's writer) and refuses control characters."""
    try:
        text = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return False
    return _CONTROL.search(text) is None


def _validator(response: httpx.Response, name: str, limit: int, url: str) -> str | None:
    """A validator header, or None when it is longer than `limit` characters (the column that
    stores it) or cannot be sent back unchanged. Dropped rather than cut or altered: a wrong
    validator sent back would never match (a useless If-None-Match) or, worse, name a different
    version; without one the next fetch is a plain GET, which is always correct."""
    value = _header(response, name.lower())
    if value is not None and len(value) > limit:
        log.info(
            "fetch %s: %s of %d characters ignored (more than %d): the next fetch is unconditional",
            url,
            name,
            len(value),
            limit,
        )
        return None
    if value is not None and not _sendable(value):
        log.info(
            "fetch %s: %s ignored (not UTF-8, or a control character: it could not be sent back "
            "unchanged): the next fetch is unconditional",
            url,
            name,
        )
        return None
    return value


# The same feed URLs come back every cycle: parsing each once per process, not once per poll,
# is a sizeable part of a 304's CPU (httpx's URL parser validates character by character).
URL_CACHE = 4096


@functools.lru_cache(maxsize=URL_CACHE)
def _check_url(url: str, max_length: int) -> str | None:
    """Why this URL is refused before any connection, or None."""
    if len(url) > max_length:
        return f"URL longer than {max_length} characters"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return f"{scheme or 'no'} scheme: only http and https feeds are fetched"
    if not parts.hostname:
        return "URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in feed URLs are not supported"
    return None


_parsed = functools.lru_cache(maxsize=URL_CACHE)(httpx.URL)  # immutable: safe to share


# --- the fetcher --------------------------------------------------------------------------------


@dataclass
class SafeFetcher:
    """One per polling cycle, shared by every feed of the cycle.

    `async with SafeFetcher(...) as fetcher: result = await fetcher.fetch(url, etag=…)`

    At most `max_connections` fetches run at once, each on a transport of its own holding one
    connection at a time, reused LIFO so warm keep-alive connections come first: open sockets
    stay bounded by `max_connections`. Requests go straight to the transport: no AsyncClient
    layer, so no cookie jar carried from one feed to the next, and less CPU per request.
    """

    limits: FetchLimits = field(default_factory=FetchLimits)
    allow_private: bool = False
    exempt: tuple[tuple[str, int | None], ...] = ()
    max_connections: int = 32
    user_agent: str = USER_AGENT
    resolver: Resolver = system_resolver
    ssl_context: ssl.SSLContext | None = None
    _policy: AddressPolicy | None = field(default=None, init=False, repr=False)
    _idle: list[GuardedTransport] = field(default_factory=list, init=False, repr=False)
    _every: list[GuardedTransport] = field(default_factory=list, init=False, repr=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    async def __aenter__(self) -> SafeFetcher:
        self._policy = AddressPolicy.build(allow_private=self.allow_private, exempt=self.exempt)
        self._slots = asyncio.Semaphore(self.max_connections)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        transports, self._every, self._idle = self._every, [], []
        self._policy = None
        for transport in transports:
            await transport.aclose()

    def _new_transport(self) -> GuardedTransport:
        assert self._policy is not None
        transport = GuardedTransport(
            self._policy,
            connect_timeout=self.limits.connect_timeout,
            read_timeout=self.limits.read_timeout,
            resolver=self.resolver,
            ssl_context=self.ssl_context,
        )
        self._every.append(transport)
        return transport

    def _request(self, url: str, validators: dict[str, bytes]) -> httpx.Request:
        headers = {
            "User-Agent": self.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate",
            **validators,
        }
        return httpx.Request("GET", _parsed(url), headers=headers)

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        now: datetime | None = None,
    ) -> FetchResult:
        if self._policy is None or self._slots is None:
            raise RuntimeError("use `async with SafeFetcher(...)` before fetch()")
        async with self._slots:
            transport = self._idle.pop() if self._idle else self._new_transport()
            try:
                return await self._fetch_with(transport, url, etag, last_modified, now)
            finally:
                self._idle.append(transport)

    async def _fetch_with(
        self,
        transport: GuardedTransport,
        url: str,
        etag: str | None,
        last_modified: str | None,
        now: datetime | None,
    ) -> FetchResult:
        started = time.monotonic()
        state = _Progress(url=url)
        try:
            async with asyncio.timeout(self.limits.deadline):
                result = await self._fetch(transport, url, etag, last_modified, now, state)
        except TimeoutError:
            result = state.fail(
                "deadline",
                f"gave up after the {self.limits.deadline:g} s overall deadline "
                f"({state.received} bytes received)",
            )
        except FetchRefused as exc:
            result = state.fail(exc.code, exc.reason)
        except _TooLarge:
            result = state.fail(
                "too_large",
                f"body larger than {self.limits.max_bytes} bytes (after decompression): "
                "stopped reading",
            )
        except httpx.ConnectTimeout:
            result = state.fail("connect_timeout", "could not connect in time")
        except httpx.ReadTimeout:
            result = state.fail(
                "read_timeout", f"server went silent for {self.limits.read_timeout:g} s"
            )
        except httpx.TimeoutException as exc:
            result = state.fail("timeout", f"timed out: {type(exc).__name__}")
        except httpx.ConnectError as exc:
            result = state.fail("connect", f"cannot connect: {exc or type(exc).__name__}")
        except httpx.RemoteProtocolError as exc:
            result = state.fail("protocol", f"broken HTTP response: {exc}")
        except httpx.InvalidURL as exc:
            result = state.fail("bad_url", f"invalid URL: {exc}")
        except httpx.HTTPError as exc:
            result = state.fail("http_error", f"{type(exc).__name__}: {exc}")
        except zlib.error as exc:
            result = state.fail("bad_encoding", f"cannot decompress the body: {exc}")
        result = _with_elapsed(result, time.monotonic() - started)
        if result.status is FetchStatus.FAILED:
            # Debug only: the caller (the watcher) logs the failure once, with the feed's id.
            log.debug("fetch %s failed [%s]: %s", url, result.code, result.reason)
        return result

    async def _fetch(
        self,
        transport: GuardedTransport,
        url: str,
        etag: str | None,
        last_modified: str | None,
        now: datetime | None,
        state: _Progress,
    ) -> FetchResult:
        headers: dict[str, bytes] = {}
        # Validators go back exactly as received: bytes, no re-quoting, no date re-formatting.
        # One stored before it could be checked, and that cannot be sent unchanged, is not sent.
        if etag and _sendable(etag):
            headers["If-None-Match"] = etag.encode("latin-1")
        if last_modified and _sendable(last_modified):
            headers["If-Modified-Since"] = last_modified.encode("latin-1")
        current = url
        for hop in range(self.limits.max_redirects + 1):
            state.final_url = current
            state.redirects = hop
            problem = _check_url(current, self.limits.max_url_length)
            if problem is not None:
                code = "bad_scheme" if "scheme" in problem else "bad_url"
                raise FetchRefused(code, problem if hop == 0 else f"redirect to {problem}")
            response = await transport.handle_async_request(self._request(current, headers))
            try:
                if response.status_code in REDIRECT_CODES:
                    location = response.headers.get("location")
                    if not location:
                        return state.fail(
                            "protocol", f"HTTP {response.status_code} without Location"
                        )
                    if hop == self.limits.max_redirects:
                        return state.fail(
                            "too_many_redirects",
                            f"more than {self.limits.max_redirects} redirects",
                        )
                    target = urljoin(current, location.strip())
                    await _drain(response, DRAIN_LIMIT)
                    if response.status_code in (301, 308) and hop == 0:
                        state.permanent_redirect = target
                    log.debug("fetch %s: HTTP %d -> %s", url, response.status_code, target)
                    current = target
                    continue
                return await self._finish(response, state, now)
            finally:
                await response.aclose()
        raise AssertionError("unreachable")  # the loop returns or fails on its last hop

    async def _finish(
        self, response: httpx.Response, state: _Progress, now: datetime | None
    ) -> FetchResult:
        status = response.status_code
        state.http_status = status
        etag = _validator(response, "ETag", self.limits.etag_chars, state.url)
        last_modified = _validator(
            response, "Last-Modified", self.limits.last_modified_chars, state.url
        )
        if status not in (200, 203, 304):
            # Read what little body a 4xx/5xx has, so the connection can be reused (aiohttp
            # closes a connection whose response was not read to the end). A 304 has none.
            await _drain(response, DRAIN_LIMIT)
        if status == 304:
            return FetchResult(
                status=FetchStatus.NOT_MODIFIED,
                url=state.url,
                final_url=state.final_url,
                http_status=status,
                etag=etag,
                last_modified=last_modified,
                redirects=state.redirects,
                permanent_redirect=state.permanent_redirect,
            )
        if status not in (200, 203):
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), now or datetime.now(UTC)
            )
            state.retry_after = retry_after
            wait = f"; Retry-After {retry_after:g} s" if retry_after is not None else ""
            return state.fail(
                "http_status", f"HTTP {status} {response.reason_phrase or ''}".rstrip() + wait
            )
        encoding = (response.headers.get("content-encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            return state.fail("bad_encoding", f"unsupported Content-Encoding {encoding!r}")
        declared = response.headers.get("content-length")
        if (
            encoding == "identity"
            and declared
            and declared.isdigit()
            and int(declared) > self.limits.max_bytes
        ):
            raise _TooLarge
        inflater = _Inflater(encoding)
        chunks: list[bytes] = []
        cap = self.limits.max_bytes
        async for raw in response.aiter_raw():
            piece = inflater.feed(raw, cap - state.received)
            state.received += len(piece)
            chunks.append(piece)
        tail = inflater.finish(cap - state.received)
        state.received += len(tail)
        chunks.append(tail)
        return FetchResult(
            status=FetchStatus.OK,
            url=state.url,
            final_url=state.final_url,
            http_status=status,
            body=b"".join(chunks),
            content_type=response.headers.get("content-type"),
            etag=etag,
            last_modified=last_modified,
            redirects=state.redirects,
            permanent_redirect=state.permanent_redirect,
        )


@dataclass
class _Progress:
    """What is known so far, so a failure at any point reports where it got to."""

    url: str
    final_url: str = ""
    redirects: int = 0
    received: int = 0
    http_status: int | None = None
    retry_after: float | None = None
    permanent_redirect: str | None = None

    def fail(self, code: str, reason: str) -> FetchResult:
        return FetchResult(
            status=FetchStatus.FAILED,
            url=self.url,
            final_url=self.final_url or self.url,
            http_status=self.http_status,
            retry_after=self.retry_after,
            code=code,
            reason=reason,
            redirects=self.redirects,
            permanent_redirect=self.permanent_redirect,
        )


def _with_elapsed(result: FetchResult, elapsed: float) -> FetchResult:
    return replace(result, elapsed=elapsed)
