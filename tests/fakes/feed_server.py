"""A fake feed server: aiohttp on 127.0.0.1, port 0, stateful and scriptable per test.

    server = await FeedServer().start()
    server.feed("/news", rss([...]), etag='W/"v1"')       # honours If-None-Match -> 304
    server.redirect("/moved", "http://169.254.169.254/")
    server.gzip_bomb("/bomb", 200 << 20)                  # streamed: never held in memory
    ...
    server.hits("/news"), server.requests_to("/news")[-1].raw_header("if-none-match")

Routes can be changed between polls (new items, new validators, a fault). Also runnable as a
process for the benchmark: `python -m tests.fakes.feed_server --feeds 500 --latency 0.1`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import ssl
import sys
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WRITE_ERRORS = (ConnectionError, RuntimeError, asyncio.CancelledError)


@dataclass
class Item:
    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None
    categories: Sequence[str] = ()
    author: str | None = None


def rss(
    items: Iterable[Item],
    *,
    title: str = "Fake news",
    link: str = "https://news.example/",
    encoding: str = "utf-8",
    declared: str | None = None,
) -> bytes:
    """An RSS 2.0 document. `declared` sets the XML declaration's encoding independently of the
    bytes' real `encoding` (to serve a wrong one)."""
    parts = [
        f'<?xml version="1.0" encoding="{declared or encoding}"?>\n'
        '<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        "<description>fake</description>"
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title>")
        if item.link:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.guid:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.summary:
            parts.append(f"<description>{escape(item.summary)}</description>")
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>")
        for category in item.categories:
            parts.append(f"<category>{escape(category)}</category>")
        if item.author:
            parts.append(f"<author>{escape(item.author)}</author>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode(encoding)


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None  # sent, and a matching If-None-Match answers 304
    last_modified: str | None = None  # sent, and a matching If-Modified-Since answers 304
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False
    delay: float = 0.0  # latency before answering
    handler: Handler | None = None  # a hand-written (hostile) response instead


@dataclass(frozen=True)
class Seen:
    path: str
    query: str
    raw_headers: tuple[tuple[bytes, bytes], ...]

    def raw_header(self, name: str) -> bytes | None:
        wanted = name.lower().encode()
        return next((v for k, v in self.raw_headers if k.lower() == wanted), None)


class FeedServer:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """`ssl_context`: serve https with it (url() then gives https URLs)."""
        self.ssl_context = ssl_context
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.bytes_sent: dict[str, int] = {}

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Short shutdown: hostile handlers (endless, drip) are cancelled, not awaited.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def url(self, path: str) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    # --- scripting -------------------------------------------------------------------------

    def feed(self, path: str, body: bytes, **options: object) -> Route:
        route = Route(body=body, **options)  # type: ignore[arg-type]
        self.routes[path] = route
        return route

    def set(self, path: str, route: Route) -> Route:
        self.routes[path] = route
        return route

    def redirect(self, path: str, location: str, status: int = 302) -> Route:
        return self.feed(path, b"", status=status, headers={"Location": location})

    def custom(self, path: str, handler: Handler) -> Route:
        return self.set(path, Route(handler=handler))

    def gzip_bomb(self, path: str, size: int = 200 << 20) -> Route:
        """`size` bytes once inflated, about size/1000 on the wire, compressed as it is sent."""

        async def bomb(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(
                headers={"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
            )
            await response.prepare(request)
            z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            block = b"\0" * (1 << 20)
            try:
                await response.write(z.compress(b'<?xml version="1.0"?><rss><channel><title>'))
                for _ in range(size >> 20):
                    chunk = z.compress(block)
                    if chunk:
                        await response.write(chunk)
                        self._count(path, len(chunk))
                await response.write(z.flush())
            except WRITE_ERRORS:
                return response
            return response

        return self.custom(path, bomb)

    def endless(self, path: str, chunk: int = 64 << 10) -> Route:
        """A chunked body that never ends."""

        async def endless(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            piece = b"<item><title>more</title></item>" * (chunk // 32)
            try:
                await response.write(b'<?xml version="1.0"?><rss><channel>')
                while True:
                    await response.write(piece)
                    self._count(path, len(piece))
                    await asyncio.sleep(0)
            except WRITE_ERRORS:
                return response

        return self.custom(path, endless)

    def drip(self, path: str, every: float = 1.0) -> Route:
        """One byte per `every` seconds, forever: only an overall deadline stops it."""

        async def drip(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                while True:
                    await response.write(b"<")
                    self._count(path, 1)
                    await asyncio.sleep(every)
            except WRITE_ERRORS:
                return response

        return self.custom(path, drip)

    def live_connections(self) -> list[object]:
        """The client connections open now (kept alive or busy)."""
        assert self._runner is not None and self._runner.server is not None
        return list(self._runner.server.connections)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def requests_to(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def _count(self, path: str, n: int) -> None:
        self.bytes_sent[path] = self.bytes_sent.get(path, 0) + n

    # --- serving ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(request.path, request.query_string, tuple(request.raw_headers))
        self.requests.append(seen)
        if request.path.startswith("/_bench/"):
            return await self._bench_control(request)
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="no such feed")
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.handler is not None:
            return await route.handler(request)
        headers = dict(route.headers)
        if route.etag is not None:
            headers["ETag"] = route.etag
        if route.last_modified is not None:
            headers["Last-Modified"] = route.last_modified
        # Validators compared as raw bytes: what the client sends back must be exactly ours.
        if (
            route.etag is not None
            and seen.raw_header("if-none-match") == route.etag.encode("utf-8")
        ) or (
            route.last_modified is not None
            and seen.raw_header("if-modified-since") == route.last_modified.encode("utf-8")
        ):
            return web.Response(status=304, headers=headers)
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        headers["Content-Type"] = route.content_type
        self._count(request.path, len(body))
        return web.Response(status=route.status, body=body, headers=headers)

    # --- benchmark mode --------------------------------------------------------------------

    def bench_feeds(self, count: int, latency: float) -> None:
        for i in range(count):
            self._bench_route(i, version=0, latency=latency)

    def _bench_route(self, i: int, version: int, latency: float) -> None:
        when = datetime(2025, 1, 1, tzinfo=UTC)
        items = [
            Item(
                title=f"Feed {i} story {v}",
                link=f"https://news.example/{i}/{v}",
                guid=f"{i}-{v}",
                summary="An ordinary public sector technology story. " * 5,
                published=when.replace(day=1 + v % 28),
            )
            for v in range(version, version + 20)
        ]
        self.feed(
            f"/feed/{i}",
            rss(items, title=f"Feed {i}"),
            etag=f'W/"{i}-{version}"',
            last_modified=format_datetime(when.replace(day=1 + version % 28), usegmt=True),
            delay=latency,
        )

    async def _bench_control(self, request: web.Request) -> web.Response:
        """POST /_bench/change?every=5: a new item in every 5th feed (20 %)."""
        every = int(request.query.get("every", "5"))
        latency = float(request.query.get("latency", "0.1"))
        changed = 0
        for path, route in list(self.routes.items()):
            if not path.startswith("/feed/"):
                continue
            i = int(path.rsplit("/", 1)[1])
            if i % every == 0:
                version = int((route.etag or 'W/"0-0"').strip('W/"').split("-")[1]) + 1
                self._bench_route(i, version, latency)
                changed += 1
        return web.json_response({"changed": changed})


async def _serve(count: int, latency: float) -> None:
    server = FeedServer()
    server.bench_feeds(count, latency)
    await server.start()
    print(json.dumps({"port": server.port}), flush=True)
    # Serve until stdin closes (the benchmark exits or closes the pipe).
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    with contextlib.suppress(Exception):
        await reader.read()
    await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="fake feed server for the benchmark")
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    asyncio.run(_serve(args.feeds, args.latency))


if __name__ == "__main__":
    main()
