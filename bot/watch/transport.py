"""The fetcher's HTTP transport: httpx requests and responses, sent through aiohttp.

httpx stays the fetcher's API (its Request, Response and exceptions); the work per request is
aiohttp's, whose C HTTP parser costs a fraction of httpcore + h11 + anyio (bench/feeds prints
both). What this transport guarantees, whatever aiohttp does by default:

- Addresses: a hostname is resolved here and every address is checked (AddressPolicy, all or
  nothing) before aiohttp sees any; aiohttp then connects to one of those checked addresses, so
  DNS rebinding cannot slip in between check and connect. aiohttp never resolves an IP literal,
  so a literal is checked here before the request. TLS still verifies the certificate against
  the hostname (aiohttp's server_hostname is the name, not the address).
- One connection per transport, kept alive for the next request to the same origin and closed
  before one to another origin: sockets stay bounded by the number of transports (aiohttp's own
  pool keeps an idle connection to every host it has seen, with no cap).
- Nothing added or interpreted: no default headers, no cookies, no proxy or .netrc from the
  environment, no redirects followed, no decompression (the fetcher inflates under its byte cap).
- aiohttp's errors come out as the httpx exceptions the fetcher maps to codes.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import certifi
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.domain.feed_addresses import AddressPolicy, IPAddress

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
# Headers aiohttp adds when a request lacks them: the fetcher sends exactly what it chose.
AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent")
KEEPALIVE_S = 30.0  # an idle connection kept for the next feed on the same host


class FetchRefused(Exception):
    """Refused before any byte was sent (address, scheme, URL shape). Not an httpx error, so
    it passes through httpx and aiohttp unchanged."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs tens of milliseconds."""
    return ssl.create_default_context(cafile=certifi.where())


def _refuse(policy: AddressPolicy, host: str, ip: IPAddress, port: int) -> None:
    why = policy.refusal(ip, port)
    if why is not None:
        shown = host if host == str(ip) else f"{host} resolves to {ip}, which"
        raise FetchRefused(
            "blocked_address",
            f"{shown} is a {why} address: refused "
            "(LEADERBOT_ALLOW_PRIVATE_FEEDS=true allows intranet feeds)",
        )


def check_literal(policy: AddressPolicy, host: str, port: int) -> None:
    """Refuse an IP-literal host the policy refuses. aiohttp treats a host as a literal (and
    connects to it without asking the resolver) when it contains ':' or is digits and dots;
    every such host is checked here, and one that is not a valid address is refused."""
    looks_literal = ":" in host or host.replace(".", "").isdigit()
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        if looks_literal:
            raise FetchRefused("bad_url", f"{host} is not a valid IP address") from None
        return  # a name: the resolver checks it
    _refuse(policy, host, ip, port)


class GuardedResolver(AbstractResolver):
    """Resolves a name and returns its addresses only if every one passes the policy (a name
    that also resolves to a private address is refused outright)."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver, timeout: float) -> None:
        self._policy = policy
        self._resolve = resolve
        self._timeout = timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            async with asyncio.timeout(self._timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise FetchRefused(
                "dns", f"resolving {host} took longer than {self._timeout:g} s"
            ) from None
        except (OSError, UnicodeError, ValueError) as exc:
            raise FetchRefused("dns", f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise FetchRefused("dns", f"{host} resolves to no address")
        for ip in addresses:
            _refuse(self._policy, host, ip, port)
        return [
            {
                "hostname": host,  # what TLS verifies the certificate against
                "host": str(ip),  # what is connected to: a checked address
                "port": port,
                "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for ip in addresses
        ]

    async def close(self) -> None:
        pass


def _mapped(exc: aiohttp.ClientError) -> Exception:
    """aiohttp's exception as the httpx one the fetcher handles."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text)
    if isinstance(exc, aiohttp.ServerTimeoutError):  # sock_read: silence while reading
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, TLS, certificate
        return httpx.ConnectError(text)
    if isinstance(exc, aiohttp.ClientResponseError):  # a response aiohttp could not parse
        return httpx.RemoteProtocolError(exc.message or text)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.InvalidURL(text)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(text)
    return httpx.TransportError(text)


class _Body(httpx.AsyncByteStream):
    """The raw (still compressed) body as aiohttp receives it, chunk by chunk."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        # A body read to the end leaves its connection for the next request; any other closes it.
        self._response.release()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over one aiohttp connection at a time (see the module docstring).

    Sends requests without a body (the fetcher's GETs). Timeouts are the transport's, not the
    request's: `connect_timeout` for DNS and for TCP + TLS, `read_timeout` for the longest
    silence while waiting for or reading the response. There is no write timeout: a GET's
    head goes to the socket buffer at once."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        connect_timeout: float,
        read_timeout: float,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = GuardedResolver(policy, resolver, connect_timeout)
        self._ssl = ssl_context or default_ssl_context()
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        self._session: aiohttp.ClientSession | None = None
        self._origin: tuple[str, bytes] | None = None

    async def _session_for(self, url: httpx.URL) -> aiohttp.ClientSession:
        origin = (url.scheme, url.netloc)
        if self._session is not None and origin == self._origin:
            return self._session  # same host and port: its literal, if any, was checked
        await self.aclose()  # another origin: its idle connection is not kept
        port = url.port or (443 if url.scheme == "https" else 80)
        check_literal(self._policy, url.raw_host.decode("ascii"), port)
        connector = aiohttp.TCPConnector(
            resolver=self._resolver,
            use_dns_cache=False,  # every new connection resolves and checks again
            ssl=self._ssl,
            limit=1,
            keepalive_timeout=KEEPALIVE_S,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=AUTO_HEADERS,
            auto_decompress=False,
            trust_env=False,
            timeout=self._timeout,
        )
        self._origin = origin
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if "content-length" in request.headers or "transfer-encoding" in request.headers:
            raise httpx.LocalProtocolError("this transport sends requests without a body")
        try:
            # aiohttp writes header values as UTF-8: bytes that are not UTF-8 cannot be sent
            # unchanged, so they are refused rather than altered.
            headers = [(k.decode("ascii"), v.decode("utf-8")) for k, v in request.headers.raw]
        except UnicodeDecodeError as exc:
            raise httpx.LocalProtocolError(f"a header is not UTF-8: {exc}") from None
        target = yarl.URL(
            f"{url.scheme}://{url.netloc.decode('ascii')}{url.raw_path.decode('ascii')}",
            encoded=True,
        )
        session = await self._session_for(url)
        try:
            response = await session.request(
                request.method, target, headers=headers, allow_redirects=False
            )
        except aiohttp.ClientError as exc:
            raise _mapped(exc) from exc
        except ValueError as exc:  # a header aiohttp refuses to write (a control character)
            raise httpx.LocalProtocolError(str(exc)) from exc
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            extensions={"reason_phrase": (response.reason or "").encode("latin-1", "replace")},
        )

    async def aclose(self) -> None:
        session, self._session, self._origin = self._session, None, None
        if session is not None:
            await session.close()
