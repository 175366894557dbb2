"""Parsing feeds: feedparser on bytes, bounded in size, time and memory.

- Always `feedparser.parse(io.BytesIO(body))`: given a str, feedparser may open it as a path or
  a URL.
- Before parsing, `prepare_body` (linear, bytes only): drops any DOCTYPE (no entity
  declarations reach the XML parser: billion laughs, external entities), cuts author-like text
  to a few hundred characters (feedparser 6.0.14's author e-mail regex is quadratic: 64 KB of
  author takes minutes), and keeps only the first and the last `max_entries` entries.
- That byte-level cut only sees a plain run of text: a comment, a CDATA section, a child
  element or a processing instruction splits it, and feedparser joins the pieces again. So the
  regex's input itself is capped too, inside feedparser (`_bound_author_regex`): whatever the
  markup, the regex never sees more than `max_author_chars`.
- Feeds list newest first, mostly; some list oldest first. Of the first and the last
  `max_entries` entries, the end holding the newest date is kept (the first, when undated).
- Parsing runs in a worker process, never in the bot's process: feedparser is CPU-bound pure
  Python and C regex that holds the GIL, so in-process it would stall every other task. A
  worker that overruns its wall-clock timeout is killed (and replaced); its address space and
  CPU time are capped with setrlimit as a backstop.
- Malformed ("bozo") feeds that still yield entries are used; the reason is kept for the log.
- Numeric character references to no character XML allows (`&#xFFFFFFFF;`, a surrogate
  `&#xD800;`, `&#0;`) are replaced by U+FFFD before parsing: feedparser 6.0 raises on some
  (OverflowError, ValueError, UnicodeEncodeError), which would cost the whole feed.
- `parse_bytes` never raises: if feedparser still raises on the document, each entry is parsed
  on its own (with the channel around it) and the healthy ones are kept; if none is, the
  result says why (code `parse_error`).
"""

from __future__ import annotations

import asyncio
import bisect
import io
import logging
import math
import multiprocessing
import os
import queue
import re
import threading
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from bot.domain.feed_match import FeedItem, cap, html_to_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ParseLimits:
    timeout: float = 10.0  # wall clock for one parse; the worker is killed after it
    memory_bytes: int = 768 * 1024 * 1024  # address space of a worker process
    max_entries: int = 200  # entries kept: the newest end of the feed (see _keep_newest)
    max_author_chars: int = 256
    title_chars: int = 500
    summary_chars: int = 4000
    raw_summary_chars: int = 20_000  # HTML read before it is turned into text
    link_chars: int = 2048
    guid_chars: int = 1024
    max_categories: int = 20
    category_chars: int = 100
    isolate: bool = True  # False only where worker processes cannot start: no hard timeout


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    ok: bool
    items: tuple[FeedItem, ...] = ()
    title: str | None = None
    link: str | None = None
    entries: int = 0  # entries feedparser saw (after the cut)
    dropped: int = 0  # entries not kept: beyond max_entries, parsed or not
    bozo: str | None = None  # why feedparser found the document malformed, if it did
    notes: tuple[str, ...] = ()
    code: str = ""
    reason: str = ""
    elapsed: float = 0.0


# --- before parsing (pure, linear) --------------------------------------------------------------

# Linear patterns only (this runs on hostile bytes): no nested or overlapping repeats, and the
# one place a repeat could backtrack (\s* before the author text) is possessive.
_DOCTYPE_START = re.compile(rb"<!DOCTYPE\b", re.IGNORECASE)
_SUBSET_END = re.compile(rb"\]\s*>")
_PREFIX = rb"(?:[A-Za-z_][\w.-]{0,40}:)?"
_AUTHOR_TAGS = rb"(?:author|creator|managingEditor|webMaster|publisher|contributor|name|email)"
_ENTRY_END = re.compile(rb"</" + _PREFIX + rb"(?:item|entry)\s*>")
_ENTRY_START = re.compile(rb"<" + _PREFIX + rb"(?:item|entry)(?=[\s>/])")
# `&#` digits `;`: one class repeated then a fixed byte, so linear.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")
REPLACEMENT_REF = b"&#xFFFD;"
MAX_CODE_POINT_DIGITS = 7  # 0x10FFFF and 1114111 fit: more significant digits is out of range


def _valid_xml_char(code: int) -> bool:
    """XML 1.0's Char production."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _fix_char_ref(found: re.Match[bytes]) -> bytes:
    hex_digits, decimal = found.group(1), found.group(2)
    digits = (hex_digits or decimal).lstrip(b"0") or b"0"
    if len(digits) > MAX_CODE_POINT_DIGITS:  # also spares int() a huge decimal string
        return REPLACEMENT_REF
    code = int(digits, 16 if hex_digits else 10)
    return found.group(0) if _valid_xml_char(code) else REPLACEMENT_REF


def neutralise_char_refs(body: bytes) -> tuple[bytes, int]:
    """(body, how many references were replaced): invalid numeric character references
    become U+FFFD, so one bad character cannot fail the parse of every item."""
    replaced = 0

    def fix(found: re.Match[bytes]) -> bytes:
        nonlocal replaced
        fixed = _fix_char_ref(found)
        replaced += fixed is REPLACEMENT_REF
        return fixed

    return _CHAR_REF.sub(fix, body), replaced


def _author_pattern(limit: int) -> re.Pattern[bytes]:
    return re.compile(
        rb"(<"
        + _PREFIX
        + _AUTHOR_TAGS
        + rb"(?:\s[^<>]{0,2000})?>\s*+(?:<!\[CDATA\[)?)([^<\]]{%d})[^<\]]*" % limit
    )


def prepare_body(body: bytes, limits: ParseLimits) -> tuple[bytes, list[str], int]:
    """(body to parse, notes, entries dropped). Of more than twice `max_entries` entries, only
    the first and the last `max_entries` are left: parse_bytes keeps the newer end."""
    notes: list[str] = []
    doctype = _DOCTYPE_START.search(body, 0, 1 << 20)
    if doctype is not None:
        start = doctype.start()
        close = body.find(b">", start)
        subset = body.find(b"[", start, close if close != -1 else len(body))
        if subset != -1:
            # An internal subset: entity declarations (billion laughs, external entities).
            found = _SUBSET_END.search(body, subset)
            end = found.end() if found else len(body)
            notes.append("DOCTYPE with entity declarations removed")
        else:
            end = close + 1 if close != -1 else len(body)
        body = body[:start] + body[end:]
    body, replaced = neutralise_char_refs(body)
    if replaced:
        notes.append(f"{replaced} invalid character reference(s) replaced by U+FFFD")
    body, cut = _author_pattern(limits.max_author_chars).subn(rb"\1\2", body)
    if cut:
        notes.append(f"{cut} author field(s) cut to {limits.max_author_chars} characters")
    head_end = None
    # The ends of the last max_entries + 1 entries: the first of them is where the tail starts.
    recent: deque[int] = deque(maxlen=limits.max_entries + 1)
    count = 0
    for count, found in enumerate(_ENTRY_END.finditer(body), start=1):
        if count == limits.max_entries:
            head_end = found.end()
        recent.append(found.end())
    dropped = 0
    if head_end is not None and count > 2 * limits.max_entries:
        # The middle goes; what is around the entries (the channel's own elements before,
        # the closing tags after) stays, so the document stays well-formed.
        body = body[:head_end] + body[recent[0] :]
        dropped = count - 2 * limits.max_entries
    return body, notes, dropped


def _keep_newest(entries: list[Any], limit: int) -> tuple[list[Any], bool]:
    """The first `limit` entries, or the last `limit` when those hold a newer date: a feed
    listed oldest first then keeps its newest items, not its oldest. (entries, kept the last)"""
    if len(entries) <= limit:
        return entries, False
    start = len(entries) - limit  # of the last `limit` (not entries[-limit:]: limit may be 0)
    dates = [_when(e) for e in entries]
    head = max((d for d in dates[:limit] if d is not None), default=None)
    tail = max((d for d in dates[start:] if d is not None), default=None)
    if tail is not None and (head is None or tail > head):
        return entries[start:], True
    return entries[:limit], False


# --- the parse itself (runs in a worker) --------------------------------------------------------


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return cap(html_to_text(value, limit * 4), limit)


def _plain(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] if value else None


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime(*parsed[:6], tzinfo=UTC)
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _item(entry: Any, limits: ParseLimits) -> FeedItem:
    summary = entry.get("summary")
    if not summary:
        content = entry.get("content") or []
        summary = content[0].get("value") if content else ""
    raw_summary = summary[: limits.raw_summary_chars] if isinstance(summary, str) else ""
    categories = []
    for tag in (entry.get("tags") or [])[: limits.max_categories]:
        term = _text(tag.get("term") or tag.get("label"), limits.category_chars)
        if term:
            categories.append(term)
    return FeedItem(
        title=_text(entry.get("title"), limits.title_chars),
        link=_plain(entry.get("link"), limits.link_chars),
        guid=_plain(entry.get("id"), limits.guid_chars),
        summary=cap(html_to_text(raw_summary, limits.raw_summary_chars), limits.summary_chars),
        categories=tuple(categories),
        published=_when(entry),
        author=_text(entry.get("author"), 200) or None,
    )


def _items(entries: list[Any], limits: ParseLimits) -> tuple[tuple[FeedItem, ...], int]:
    """The entries as items, skipping one that cannot be read: (items, entries skipped)."""
    items: list[FeedItem] = []
    broken = 0
    for entry in entries:
        try:
            items.append(_item(entry, limits))
        except MemoryError:
            raise
        except Exception:
            log.warning("feed entry skipped: cannot be read", exc_info=True)
            broken += 1
    return tuple(items), broken


# The author text feedparser runs its quadratic regex on is capped at this many characters
# (`ParseLimits.max_author_chars` of the parse running in this thread or process).
_AUTHOR_CAP: ContextVar[int] = ContextVar(
    "leaderbot_author_cap", default=ParseLimits().max_author_chars
)
_BOUND = False
_BOUND_LOCK = threading.Lock()


def _bound_author_regex(feedparser: Any) -> None:
    """Cap the text feedparser's author e-mail regex runs on (`_sync_author_detail`, where it
    splits "name (e-mail)"), whatever markup split it in the document. Installed once per
    process; if a feedparser release renames the method, the byte-level cut and the worker's
    timeout still apply, and tests/test_feed_parser.py fails."""
    global _BOUND
    with _BOUND_LOCK:
        if _BOUND:
            return
        _BOUND = True
        mixin = getattr(getattr(feedparser, "mixin", None), "_FeedParserMixin", None)
        original = getattr(mixin, "_sync_author_detail", None)
        if mixin is None or original is None:
            log.warning("feedparser %s: author regex not bounded", feedparser.__version__)
            return

        def bounded(self: Any, key: str = "author") -> Any:
            context = self._get_context()
            value = context.get(key)
            limit = _AUTHOR_CAP.get()
            if isinstance(value, str) and len(value) > limit:
                context[key] = value[:limit]
            return original(self, key)

        mixin._sync_author_detail = bounded


def parse_bytes(
    body: bytes,
    *,
    content_type: str | None = None,
    base_url: str | None = None,
    limits: ParseLimits = ParseLimits(),
) -> ParsedFeed:
    """Parse in this process (the worker calls this). Never raises for bad input: a failure is
    a result with a code and a reason. (MemoryError is let through: the worker reports it.)"""
    started = time.monotonic()
    try:
        return _parse(body, content_type=content_type, base_url=base_url, limits=limits)
    except MemoryError:
        raise
    except Exception as exc:
        log.warning("feed parse failed: %s: %s", type(exc).__name__, exc)
        return ParsedFeed(
            ok=False,
            code="parse_error",
            reason=f"parser error: {type(exc).__name__}: {exc}"[:300],
            elapsed=time.monotonic() - started,
        )


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    import feedparser

    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers or None,
        sanitize_html=False,  # we never render feed HTML: it is reduced to text
        resolve_relative_uris=False,
    )


def _entry_spans(body: bytes) -> list[tuple[int, int]]:
    """(start, end) of each entry element: each closing tag with the first opening tag after
    the previous entry (linear in the tags, however many are left unclosed)."""
    starts = [m.start() for m in _ENTRY_START.finditer(body)]
    spans: list[tuple[int, int]] = []
    taken = 0  # starts before this index belong to entries already paired
    for end in (m.end() for m in _ENTRY_END.finditer(body)):
        after = bisect.bisect_left(starts, end, lo=taken)
        if after == taken:
            continue  # a closing tag with no opening one since the last entry
        spans.append((starts[taken], end))
        taken = after
    return spans


def _salvage(body: bytes, headers: dict[str, str], first: Exception) -> tuple[Any, list[Any]]:
    """feedparser raised on the whole document: parse each entry alone, with the channel's
    own elements around it, and keep those that parse. Returns (channel data, entries)."""
    spans = _entry_spans(body)
    if not spans:
        raise first
    head, tail = body[: spans[0][0]], body[spans[-1][1] :]
    channel: Any = None
    entries: list[Any] = []
    failures = 0
    for start, end in spans:
        try:
            data = _feedparser(head + body[start:end] + tail, headers)
        except Exception:
            failures += 1
            continue
        channel = channel if channel is not None else data
        entries.extend(data.get("entries") or [])
    if channel is None:
        raise first
    log.warning(
        "feed parse failed as a whole (%s: %s): %d of %d entries kept one by one",
        type(first).__name__,
        first,
        len(spans) - failures,
        len(spans),
    )
    return channel, entries


def _parse(
    body: bytes, *, content_type: str | None, base_url: str | None, limits: ParseLimits
) -> ParsedFeed:
    import feedparser

    _bound_author_regex(feedparser)
    _AUTHOR_CAP.set(limits.max_author_chars)
    started = time.monotonic()
    prepared, notes, dropped = prepare_body(body, limits)
    headers = {}
    if content_type:
        headers["content-type"] = content_type
    if base_url:
        headers["content-location"] = base_url  # resolves relative entry links
    try:
        data = _feedparser(prepared, headers)
        entries = list(data.get("entries") or [])
    except MemoryError:
        raise
    except Exception as exc:
        data, entries = _salvage(prepared, headers, exc)
        notes.append(
            f"the feed as a whole failed to parse ({type(exc).__name__}): "
            "its entries were parsed one by one"
        )
    bozo = None
    if data.get("bozo"):
        exc = data.get("bozo_exception")
        bozo = f"{type(exc).__name__}: {exc}"[:300] if exc is not None else "malformed"
    if not entries and not data.get("version"):
        why = f"not an RSS or Atom feed ({bozo})" if bozo else "not an RSS or Atom feed"
        return ParsedFeed(
            ok=False,
            code="not_a_feed",
            reason=why,
            bozo=bozo,
            notes=tuple(notes),
            elapsed=time.monotonic() - started,
        )
    kept, last = _keep_newest(entries, limits.max_entries)
    dropped += len(entries) - len(kept)
    if dropped and last:
        notes.append(
            f"{dropped} older entries ignored (the feed lists oldest first: "
            f"its last {limits.max_entries} kept)"
        )
    elif dropped:
        notes.append(f"{dropped} entries beyond the first {limits.max_entries} ignored")
    items, broken = _items(kept, limits)
    if broken:
        notes.append(f"{broken} entries could not be read and were skipped")
    feed = data.get("feed") or {}
    return ParsedFeed(
        ok=True,
        items=items,
        title=_text(feed.get("title"), 300) or None,
        link=_plain(feed.get("link"), limits.link_chars),
        entries=len(entries),
        dropped=dropped,
        bozo=bozo,
        notes=tuple(notes),
        elapsed=time.monotonic() - started,
    )


# --- worker processes ---------------------------------------------------------------------------

WORKER_RECYCLE_AFTER = 500  # parses; a fresh process now and then keeps memory flat


@dataclass(frozen=True, slots=True)
class _Request:
    body: bytes
    content_type: str | None
    base_url: str | None
    limits: ParseLimits


def _set_limits(limits: ParseLimits) -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the wall-clock kill still applies
        return
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = (
            limits.memory_bytes
            if hard == resource.RLIM_INFINITY
            else min(limits.memory_bytes, hard)
        )
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        # CPU: this parse's budget on top of what the worker has used so far. Exceeding it
        # kills the worker (SIGXCPU) even if the parent is no longer watching.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = usage.ru_utime + usage.ru_stime
        _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
        budget = math.ceil(used + limits.timeout) + 2
        if cpu_hard == resource.RLIM_INFINITY or budget <= cpu_hard:
            resource.setrlimit(resource.RLIMIT_CPU, (budget, cpu_hard))
    except (ValueError, OSError):
        pass


def _worker_main(conn: Connection) -> None:
    """A parse worker: one request at a time until told to stop (None) or the pipe closes."""
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        _set_limits(request.limits)
        try:
            result = parse_bytes(
                request.body,
                content_type=request.content_type,
                base_url=request.base_url,
                limits=request.limits,
            )
        except MemoryError:
            result = ParsedFeed(
                ok=False,
                code="parse_memory",
                reason=f"parsing needed more than {request.limits.memory_bytes >> 20} MB",
            )
        except Exception as exc:  # a feedparser bug must not take the worker down silently
            result = ParsedFeed(
                ok=False, code="parse_error", reason=f"parser error: {type(exc).__name__}: {exc}"
            )
        request = None  # free the body before waiting for the next one
        try:
            conn.send(result)
        except (OSError, ValueError):
            return


def _mp_context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        # Not plain fork: the bot has threads (aiosqlite, to_thread), and forking a threaded
        # process can copy a held lock. The forkserver is a clean process with feedparser
        # already imported, so a worker starts in milliseconds.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["bot.watch.parser", "feedparser"])
        return context
    return multiprocessing.get_context("spawn")


class _Worker:
    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        self.conn, child = context.Pipe(duplex=True)
        self.proc = context.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child,), daemon=True, name="leaderbot-feed-parser"
        )
        self.proc.start()
        child.close()
        self.uses = 0

    def stop(self, *, kill: bool) -> None:
        try:
            if kill:
                self.proc.kill()
            else:
                self.conn.send(None)
            self.proc.join(2)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(2)
        except (OSError, ValueError):
            pass
        finally:
            self.conn.close()


class ParserPool:
    """At most `size` worker processes, reused; a worker that overruns is killed and replaced.
    Thread-safe and blocking: call `parse` through asyncio.to_thread (`parse_feed` does)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._context: multiprocessing.context.BaseContext | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _take(self) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                if self._context is None:
                    self._context = _mp_context()
            return _Worker(self._context)

    def parse(self, request: _Request) -> ParsedFeed:
        with self._slots:
            if self._closed:
                return ParsedFeed(ok=False, code="parse_error", reason="parser pool closed")
            started = time.monotonic()
            try:
                worker = self._take()
            except Exception as exc:
                return ParsedFeed(
                    ok=False,
                    code="parse_error",
                    reason=f"cannot start a parser process: {type(exc).__name__}: {exc}",
                )
            keep = False
            try:
                try:
                    worker.conn.send(request)
                except (OSError, ValueError) as exc:
                    return ParsedFeed(
                        ok=False,
                        code="parse_crash",
                        reason=f"parser process unreachable: {type(exc).__name__}",
                    )
                if not worker.conn.poll(request.limits.timeout):
                    return ParsedFeed(
                        ok=False,
                        code="parse_timeout",
                        reason=f"parsing took longer than {request.limits.timeout:g} s: stopped",
                        elapsed=time.monotonic() - started,
                    )
                try:
                    result: ParsedFeed = worker.conn.recv()
                except (EOFError, OSError):
                    worker.proc.join(1)
                    return ParsedFeed(
                        ok=False,
                        code="parse_crash",
                        reason=f"parser process died (exit code {worker.proc.exitcode}): "
                        "likely its CPU or memory cap",
                        elapsed=time.monotonic() - started,
                    )
                worker.uses += 1
                keep = worker.uses < WORKER_RECYCLE_AFTER
                return result
            finally:
                if keep and not self._closed:
                    self._idle.put(worker)
                else:
                    worker.stop(kill=not keep)

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop(kill=False)
            except queue.Empty:
                return


_POOL: ParserPool | None = None
_POOL_LOCK = threading.Lock()


def pool() -> ParserPool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._closed:
            _POOL = ParserPool(size=max(2, min(4, os.cpu_count() or 1)))
        return _POOL


def shutdown() -> None:
    """Stop the idle workers (tests, benchmarks, shutdown). The next parse starts new ones."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None:
            _POOL.close()
            _POOL = None


async def parse_feed(
    body: bytes,
    *,
    content_type: str | None = None,
    base_url: str | None = None,
    limits: ParseLimits = ParseLimits(),
) -> ParsedFeed:
    """Parse a fetched body, bounded in time and memory. Never raises for bad input."""
    started = time.monotonic()
    if limits.isolate:
        request = _Request(body, content_type, base_url, limits)
        result = await asyncio.to_thread(pool().parse, request)
    else:
        result = await asyncio.to_thread(
            parse_bytes, body, content_type=content_type, base_url=base_url, limits=limits
        )
    return replace(result, elapsed=time.monotonic() - started)
