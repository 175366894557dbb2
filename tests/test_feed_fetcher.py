"""The safe fetcher against the fake feed server: the normal path and every hostile case.

Each hostile case must end with a clear code and reason, in bounded time and memory.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.domain.feed_addresses import IPAddress
from bot.watch.fetcher import FetchLimits, FetchStatus, SafeFetcher
from tests.fakes import eventually
from tests.fakes.feed_server import FeedServer, Item, rss

FEED = rss([Item(title="Socitm publishes its digital trends report", guid="1")])


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as fake:
        yield fake


def fetcher(server: FeedServer, **options: object) -> SafeFetcher:
    """Private addresses refused, except the fake server's own port (so hops elsewhere on
    127.0.0.1 are still refused)."""
    options.setdefault("exempt", (("127.0.0.1/32", server.port),))
    options.setdefault("limits", FetchLimits(deadline=5.0))
    return SafeFetcher(**options)  # type: ignore[arg-type]


async def test_fetches_a_feed_naming_itself(server: FeedServer) -> None:
    server.feed("/feed", FEED)
    async with fetcher(server) as f:
        result = await f.fetch(server.url("/feed"))
    assert result.status is FetchStatus.OK and result.body == FEED
    seen = server.requests_to("/feed")[0]
    agent = seen.raw_header("user-agent") or b""
    assert agent.startswith(b"leaderbot/") and b"(+https://" in agent
    assert seen.raw_header("accept-encoding") == b"gzip, deflate"


async def test_conditional_get_sends_validators_back_byte_for_byte(server: FeedServer) -> None:
    etag = 'W/"caf\u00e9;  v=1,\t x"'  # odd but legal-ish: non-ASCII, spaces, a tab, a comma
    modified = "Tue, 28 Jan 2025 09:00:00 GMT"
    server.feed("/feed", FEED, etag=etag, last_modified=modified)
    async with fetcher(server) as f:
        first = await f.fetch(server.url("/feed"))
        assert first.status is FetchStatus.OK and first.etag is not None
        second = await f.fetch(
            server.url("/feed"), etag=first.etag, last_modified=first.last_modified
        )
    assert second.status is FetchStatus.NOT_MODIFIED and second.body == b""
    sent = server.requests_to("/feed")[1]
    assert sent.raw_header("if-none-match") == etag.encode("utf-8")
    assert sent.raw_header("if-modified-since") == modified.encode()


async def test_validators_too_long_to_store_are_dropped_not_cut(server: FeedServer) -> None:
    """A cut validator sent back would be a wrong conditional GET: none is sent instead."""
    limits = FetchLimits(deadline=5.0)
    etag = '"' + "x" * (limits.etag_chars - 1) + '"'  # one over
    modified = "Tue, 28 Jan 2025 09:00:00 GMT " + "y" * limits.last_modified_chars
    server.feed("/long", FEED, etag=etag, last_modified=modified)
    server.feed("/fits", FEED, etag='"' + "x" * (limits.etag_chars - 2) + '"')
    async with fetcher(server, limits=limits) as f:
        long = await f.fetch(server.url("/long"))
        fits = await f.fetch(server.url("/fits"))
    assert long.status is FetchStatus.OK and long.body == FEED
    assert long.etag is None and long.last_modified is None
    assert fits.etag is not None and len(fits.etag) == limits.etag_chars


def test_validator_limits_are_the_column_lengths() -> None:
    from bot.store.models_feeds import Feed

    columns = Feed.__table__.c
    assert FetchLimits().etag_chars == columns.etag.type.length
    assert FetchLimits().last_modified_chars == columns.last_modified.type.length


async def test_gzip_bodies_are_inflated(server: FeedServer) -> None:
    server.feed("/feed", FEED, gzip=True)
    async with fetcher(server) as f:
        result = await f.fetch(server.url("/feed"))
    assert result.status is FetchStatus.OK and result.body == FEED


async def test_gzip_bomb_stops_at_the_cap_without_inflating(server: FeedServer) -> None:
    server.gzip_bomb("/bomb", 200 << 20)
    tracemalloc.start()
    started = time.monotonic()
    try:
        async with fetcher(server) as f:
            result = await f.fetch(server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status is FetchStatus.FAILED and result.code == "too_large"
    assert "5242880 bytes" in result.reason
    assert time.monotonic() - started < 5
    assert peak < 24 << 20  # the 5 MB cap plus one bounded chunk, not 200 MB
    assert server.bytes_sent["/bomb"] < 1 << 20  # it stopped reading early


async def test_endless_chunked_body_stops_at_the_cap(server: FeedServer) -> None:
    server.endless("/endless")
    started = time.monotonic()
    async with fetcher(server) as f:
        result = await f.fetch(server.url("/endless"))
    assert result.code == "too_large"
    assert time.monotonic() - started < 5


async def test_a_drip_is_cut_by_the_overall_deadline(server: FeedServer) -> None:
    server.drip("/drip", every=0.2)  # never silent for long enough to trip the read timeout
    started = time.monotonic()
    async with fetcher(server, limits=FetchLimits(deadline=1.0)) as f:
        result = await f.fetch(server.url("/drip"))
    elapsed = time.monotonic() - started
    assert result.code == "deadline" and "1 s overall deadline" in result.reason
    assert 0.9 < elapsed < 2.5


async def test_declared_oversize_is_refused_before_reading(server: FeedServer) -> None:
    server.feed("/big", b"x" * 2000)
    async with fetcher(server, limits=FetchLimits(max_bytes=1000)) as f:
        result = await f.fetch(server.url("/big"))
    assert result.code == "too_large"


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{other}/feed"],
    ids=["metadata", "loopback"],
)
async def test_redirect_to_a_private_address_is_refused(server: FeedServer, target: str) -> None:
    server.redirect("/hop", target.format(other=server.port + 1 if server.port < 65535 else 1))
    async with fetcher(server) as f:
        result = await f.fetch(server.url("/hop"))
    assert result.status is FetchStatus.FAILED and result.code == "blocked_address"
    assert "refused" in result.reason and result.redirects == 1


async def test_a_hostname_resolving_to_a_private_address_is_refused(server: FeedServer) -> None:
    server.feed("/feed", FEED)
    async with SafeFetcher(allow_private=False) as f:
        result = await f.fetch(f"http://localhost:{server.port}/feed")
    assert result.code == "blocked_address"
    assert "localhost resolves to" in result.reason and "loopback" in result.reason
    assert server.hits("/feed") == 0  # nothing was sent


async def test_allow_private_reaches_an_intranet_feed(server: FeedServer) -> None:
    server.feed("/feed", FEED)
    async with SafeFetcher(allow_private=True) as f:
        result = await f.fetch(f"http://localhost:{server.port}/feed")
    assert result.status is FetchStatus.OK


async def test_connects_to_the_checked_address_not_the_name(server: FeedServer) -> None:
    """The name is resolved once, checked, and that address is dialled: a second lookup (DNS
    rebinding) never happens. Host and TLS still use the name."""
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    server.feed("/feed", FEED)
    async with fetcher(server, resolver=resolver) as f:
        result = await f.fetch(f"http://feeds.invalid:{server.port}/feed")
    assert result.status is FetchStatus.OK
    assert lookups == ["feeds.invalid"]
    assert (
        server.requests_to("/feed")[0].raw_header("host") == f"feeds.invalid:{server.port}".encode()
    )


async def test_a_name_with_any_private_address_is_refused(server: FeedServer) -> None:
    async def resolver(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]

    async with fetcher(server, resolver=resolver) as f:
        result = await f.fetch("http://mixed.invalid/feed")
    assert result.code == "blocked_address" and "10.0.0.5" in result.reason


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed.xml", "gopher://x/"])
async def test_only_http_and_https(server: FeedServer, url: str) -> None:
    async with fetcher(server) as f:
        result = await f.fetch(url)
    assert result.code == "bad_scheme" and "only http and https" in result.reason


async def test_redirect_to_file_scheme_is_refused(server: FeedServer) -> None:
    server.redirect("/hop", "file:///etc/passwd")
    async with fetcher(server) as f:
        result = await f.fetch(server.url("/hop"))
    assert result.code == "bad_scheme" and result.reason.startswith("redirect to")


async def test_at_most_three_redirects(server: FeedServer) -> None:
    for i in range(5):
        server.redirect(f"/r{i}", f"/r{i + 1}", status=301)
    server.feed("/r5", FEED)
    async with fetcher(server) as f:
        result = await f.fetch(server.url("/r0"))
        assert result.code == "too_many_redirects"
        assert sum(server.hits(f"/r{i}") for i in range(6)) == 4
        ok = await f.fetch(server.url("/r2"))  # three hops: fine
    assert ok.status is FetchStatus.OK and ok.redirects == 3
    assert ok.permanent_redirect == server.url("/r3")


async def test_retry_after_is_reported(server: FeedServer) -> None:
    server.feed("/busy", b"", status=429, headers={"Retry-After": "120"})
    server.feed("/gone", b"", status=404)
    async with fetcher(server) as f:
        busy = await f.fetch(server.url("/busy"))
        gone = await f.fetch(server.url("/gone"))
    assert busy.code == "http_status" and busy.retry_after == 120
    assert "HTTP 429" in busy.reason and "Retry-After 120 s" in busy.reason
    assert gone.reason.startswith("HTTP 404")


async def test_odd_encodings_and_urls(server: FeedServer) -> None:
    server.feed("/br", FEED, headers={"Content-Encoding": "br"})
    async with fetcher(server) as f:
        br = await f.fetch(server.url("/br"))
        creds = await f.fetch(f"http://user:pw@127.0.0.1:{server.port}/feed")
    assert br.code == "bad_encoding"
    assert creds.code == "bad_url" and "credentials" in creds.reason


async def test_connection_refused_is_a_clear_failure() -> None:
    async with SafeFetcher(allow_private=True, limits=FetchLimits(deadline=3)) as f:
        result = await f.fetch("http://127.0.0.1:1/feed")
    assert result.code == "connect"


async def test_a_silent_server_trips_the_read_timeout(server: FeedServer) -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(text="late")

    server.custom("/silent", silent)
    limits = FetchLimits(read_timeout=0.3, deadline=3)
    async with fetcher(server, limits=limits) as f:
        result = await f.fetch(server.url("/silent"))
    assert result.code == "read_timeout"


# --- what the aiohttp transport must guarantee ------------------------------------------------


@pytest.fixture
async def listener() -> AsyncIterator[list[int]]:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts (its port first)."""
    seen = [0, 0]  # [port, connections accepted]

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen[1] += 1
        writer.close()

    tcp = await asyncio.start_server(accepted, "127.0.0.1", 0)
    seen[0] = tcp.sockets[0].getsockname()[1]
    async with tcp:
        yield seen


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "[::ffff:127.0.0.1]", "127.1", "2130706433", "intranet.invalid"],
    ids=["literal", "ipv4-mapped-literal", "short-form", "integer-form", "name"],
)
async def test_a_refused_address_is_never_connected_to(listener: list[int], host: str) -> None:
    """aiohttp dials an IP literal without asking the resolver: literals are checked too, and
    a form that only the socket layer would read as an address is refused as a bad URL."""

    async def resolver(name: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]  # the name resolves to the listener

    async with SafeFetcher(resolver=resolver, limits=FetchLimits(deadline=3)) as f:
        result = await f.fetch(f"http://{host}:{listener[0]}/feed")
    assert result.code in ("blocked_address", "bad_url"), result
    assert result.code == "blocked_address" or "not a valid IP address" in result.reason
    assert listener[1] == 0  # no connection was even opened


async def test_a_slow_lookup_fails_within_the_connect_timeout(server: FeedServer) -> None:
    async def resolver(host: str, port: int) -> list[IPAddress]:
        await asyncio.sleep(5)
        return [ipaddress.ip_address("127.0.0.1")]

    started = time.monotonic()
    limits = FetchLimits(connect_timeout=0.2, deadline=3)
    async with fetcher(server, resolver=resolver, limits=limits) as f:
        result = await f.fetch(f"http://slow.invalid:{server.port}/feed")
    assert result.code == "dns" and "longer than 0.2 s" in result.reason
    assert time.monotonic() - started < 2


async def test_a_body_that_goes_silent_trips_the_read_timeout(server: FeedServer) -> None:
    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'<?xml version="1.0"?><rss><channel>')
        await asyncio.sleep(5)
        return response

    server.custom("/stalls", stalls)
    started = time.monotonic()
    async with fetcher(server, limits=FetchLimits(read_timeout=0.3, deadline=3)) as f:
        result = await f.fetch(server.url("/stalls"))
    assert result.code == "read_timeout" and "0.3 s" in result.reason
    assert time.monotonic() - started < 2


async def test_a_stored_validator_that_cannot_be_sent_unchanged_is_not_sent(
    server: FeedServer,
) -> None:
    """Stored validators are latin-1 text of the bytes received; bytes that are not UTF-8 cannot
    go out unchanged (aiohttp writes headers as UTF-8), so the GET is plain, never altered."""
    server.feed("/feed", FEED, etag='"v1"')
    async with fetcher(server) as f:
        result = await f.fetch(server.url("/feed"), etag='"caf\xe9"', last_modified="x\x01y")
    assert result.status is FetchStatus.OK
    sent = server.requests_to("/feed")[0]
    assert sent.raw_header("if-none-match") is None
    assert sent.raw_header("if-modified-since") is None


async def test_a_received_validator_that_cannot_be_sent_back_is_dropped() -> None:
    """A raw server (aiohttp's would write the header as UTF-8) sends an ETag byte that is
    not UTF-8: the feed is fetched, the validator is not kept."""
    body = b"<rss/>"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b'HTTP/1.1 200 OK\r\nETag: "caf\xe9"\r\nLast-Modified: Tue, 28 Jan 2025 09:00:00 GMT'
            b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    async with tcp, SafeFetcher(exempt=(("127.0.0.1/32", port),)) as f:
        result = await f.fetch(f"http://127.0.0.1:{port}/feed")
    assert result.status is FetchStatus.OK and result.body == body
    assert result.etag is None and result.last_modified == "Tue, 28 Jan 2025 09:00:00 GMT"


async def test_one_connection_per_slot_the_old_origin_is_closed(server: FeedServer) -> None:
    """Sockets stay bounded by max_connections: a slot moving to another origin closes its
    idle keep-alive connection first (aiohttp's pool alone would keep one per host)."""
    server.feed("/feed", FEED)
    async with FeedServer() as other:
        other.feed("/feed", FEED)
        exempt = (("127.0.0.1/32", server.port), ("127.0.0.1/32", other.port))
        async with SafeFetcher(exempt=exempt, max_connections=1) as f:
            for _ in range(2):
                assert (await f.fetch(server.url("/feed"))).ok
            assert len(server.live_connections()) == 1  # kept alive, reused
            assert (await f.fetch(other.url("/feed"))).ok

            async def first_closed() -> bool:
                return server.live_connections() == []

            await eventually(first_closed, within=2, what="the first origin's connection closed")
            assert len(other.live_connections()) == 1


def _tls_pair(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a certificate for `name`: (server context, client context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.now(UTC)

    def cert(subject: str | None, ca: bool) -> x509.Certificate:
        build = (
            x509.CertificateBuilder()
            .subject_name(ca_name if ca else x509.Name([]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if subject:
            build = build.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=True
            )
        else:
            build = build.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
        return build.sign(key, hashes.SHA256())

    ca_pem = cert(None, ca=True).public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(
        cert(name, ca=False).public_bytes(serialization.Encoding.PEM)
    )
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server_side, ssl.create_default_context(cadata=ca_pem.decode())


async def test_tls_verifies_the_name_while_connecting_to_the_checked_address(
    tmp_path: Path,
) -> None:
    server_side, client_side = _tls_pair(tmp_path, "feeds.test")

    async def resolver(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]  # every name: the TLS server

    async with FeedServer(ssl_context=server_side) as tls:
        tls.feed("/feed", FEED)
        options = {"exempt": (("127.0.0.1/32", tls.port),), "resolver": resolver}
        async with SafeFetcher(ssl_context=client_side, **options) as f:  # type: ignore[arg-type]
            good = await f.fetch(f"https://feeds.test:{tls.port}/feed")
            wrong = await f.fetch(f"https://other.test:{tls.port}/feed")
        async with SafeFetcher(**options) as f:  # type: ignore[arg-type]
            untrusted = await f.fetch(f"https://feeds.test:{tls.port}/feed")
    assert good.status is FetchStatus.OK and good.body == FEED
    assert tls.requests_to("/feed")[0].raw_header("host") == f"feeds.test:{tls.port}".encode()
    assert wrong.code == "connect" and "other.test" in wrong.reason
    assert untrusted.code == "connect" and "certificate" in untrusted.reason
    assert tls.hits("/feed") == 1
