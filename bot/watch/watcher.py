"""The feed watcher: one cycle polls every due feed, concurrently within bounds.

`run_cycle(ctx)` is the single scheduler job (bot.scheduling.jobs runs it every minute); it
never creates a job per feed. A cycle:

1. seeds the catalogue feeds (feeds/catalogue.toml) not yet in the database;
2. claims the due feeds (a lease on next_poll_at, so a second process skips them);
3. fetches them concurrently (SafeFetcher, one pool for the cycle, a semaphore bounding it),
   parses changed bodies in worker processes, and records the items;
4. saves every feed's state in one transaction (feed by feed if the database refuses one), and
   posts one notice per run of failures.

Per item: resolved to its canonical story by its keys (guid, link, title+date); if the story is
new to this feed and the feed is primed (its first successful fetch only records the backlog)
and it matches the rules, an alert is enqueued for each target channel under the outbox key
`alert:{channel}:{item}`, which is what makes it once per channel, ever. Alerts are enqueued
before the item is marked seen, so a crash in between re-enqueues (a no-op) rather than loses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from bot.domain.content import FeedAlert
from bot.domain.feed_match import (
    FeedItem,
    Keywords,
    MatchRules,
    cap,
    clean_text,
    display_link,
    item_keys,
    match_item,
    one_paragraph,
    relate_question,
)
from bot.domain.questions import Question
from bot.services import outbox
from bot.services.context import Context
from bot.settings import Settings
from bot.store.models import Channel, Post
from bot.store.models_feeds import Feed, FeedEntry, FeedItemKey
from bot.store.models_feeds import FeedItem as FeedItemRow
from bot.watch.catalogue import (
    CATALOGUE_PATH,
    RULES_PATH,
    CatalogueError,
    load_catalogue,
    load_rules,
)
from bot.watch.fetcher import FetchLimits, FetchResult, FetchStatus, Resolver, SafeFetcher
from bot.watch.parser import ParsedFeed, ParseLimits, parse_feed
from bot.watch.policy import next_poll_at, should_notify

log = logging.getLogger(__name__)

IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WatchOptions:
    fetch: FetchLimits = field(default_factory=FetchLimits)
    parse: ParseLimits = field(default_factory=ParseLimits)
    concurrency: int = 32  # feeds fetched at once (and connections in the pool)
    parse_concurrency: int = 4  # bodies parsed at once (worker processes)
    allow_private: bool = False
    exempt: tuple[tuple[str, int | None], ...] = ()  # (network, port) allowed though private
    seed_catalogue: bool = True
    catalogue_path: Path = CATALOGUE_PATH
    rules_path: Path = RULES_PATH
    conditional: bool = True  # send ETag / Last-Modified (off only for the benchmark baseline)
    max_feeds: int = 1000  # per cycle; the rest wait for the next one
    lease_s: float = 900.0  # a claimed feed is not due for others until this passes
    resolver: Resolver | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WatchOptions:
        return cls(allow_private=settings.allow_private_feeds, **overrides)


@dataclass
class FeedOutcome:
    feed_id: int
    url: str
    source: str
    status: str  # "changed" | "primed" | "not_modified" | "failed"
    code: str = ""
    reason: str = ""
    new_items: int = 0
    matched: int = 0
    alerts: int = 0
    notices: int = 0
    elapsed: float = 0.0


@dataclass
class CycleReport:
    started_at: datetime
    finished_at: datetime | None = None
    seeded: int = 0
    outcomes: list[FeedOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def alerts(self) -> int:
        return sum(o.alerts for o in self.outcomes)

    @property
    def notices(self) -> int:
        return sum(o.notices for o in self.outcomes)

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> str:
        return (
            f"{len(self.outcomes)} feed(s) polled: {self.count('changed')} changed, "
            f"{self.count('primed')} first fetch (backlog recorded, not alerted), "
            f"{self.count('not_modified')} not modified, {self.count('failed')} failed; "
            f"{self.alerts} alert(s), {self.notices} notice(s) queued"
        )


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed row as the cycle saw it when claiming it (no ORM object crosses tasks)."""

    id: int
    url: str
    source: str
    title: str | None
    channel_id: str | None
    keywords: Keywords
    publisher_is_subject: bool
    poll_interval_s: int
    etag: str | None
    last_modified: str | None
    primed: bool
    last_success_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    failure_notified: bool

    @classmethod
    def of(cls, row: Feed) -> FeedState:
        return cls(
            id=row.id,
            url=row.url,
            source=row.source,
            title=row.title,
            channel_id=row.channel_id,
            keywords=Keywords.parse(row.keywords),
            publisher_is_subject=row.publisher_is_subject,
            poll_interval_s=row.poll_interval_s,
            etag=row.etag,
            last_modified=row.last_modified,
            primed=row.primed,
            last_success_at=row.last_success_at,
            consecutive_failures=row.consecutive_failures,
            failing_since=row.failing_since,
            failure_notified=row.failure_notified,
        )


@dataclass
class _Polled:
    feed: FeedState
    outcome: FeedOutcome
    state: dict[str, Any]  # the feed's new state, as _save's bind parameters
    notify_reason: str | None = None  # set when this failure warrants the admin notice


# --- the cycle ----------------------------------------------------------------------------------


async def run_cycle(
    ctx: Context, options: WatchOptions | None = None, *, force: bool = False
) -> CycleReport:
    """Poll every due feed once (every enabled feed with `force`). Never raises for a feed's
    failure: each ends in its FeedOutcome with a reason, and the others carry on."""
    options = options or WatchOptions.from_settings(ctx.settings)
    now = ctx.clock()
    report = CycleReport(started_at=now)
    rules = load_rules(options.rules_path)
    if options.seed_catalogue:
        try:
            report.seeded = await seed_catalogue(ctx, options.catalogue_path)
        except CatalogueError as exc:
            log.error("feed catalogue not loaded: %s", exc)
    feeds = await _claim_due(ctx, now, options, force=force)
    if not feeds:
        report.finished_at = ctx.clock()
        return report
    channels = await alert_channels(ctx)
    fetch_gate = asyncio.Semaphore(options.concurrency)
    parse_gate = asyncio.Semaphore(options.parse_concurrency)
    fetcher = SafeFetcher(
        limits=options.fetch,
        allow_private=options.allow_private,
        exempt=options.exempt,
        max_connections=options.concurrency,
        **({"resolver": options.resolver} if options.resolver else {}),
    )
    async with fetcher:

        async def guarded(feed: FeedState) -> _Polled:
            try:
                return await _poll(
                    ctx, feed, fetcher, fetch_gate, parse_gate, rules, channels, options, now
                )
            except Exception as exc:  # a bug or a database error: this feed only
                log.exception("feed %d (%s): internal error", feed.id, feed.url)
                return _failure(feed, now, "internal", f"internal error: {type(exc).__name__}")

        polled = await asyncio.gather(*(guarded(f) for f in feeds))
    for item in polled:
        if item.notify_reason is not None:
            sent = await _notify_failure(ctx, item, channels, now)
            item.outcome.notices = sent
            item.state["v_failure_notified"] = True
    await _save(ctx, polled)
    report.outcomes = [p.outcome for p in polled]
    report.finished_at = ctx.clock()
    log.info("feeds: %s", report.summary())
    return report


async def _poll(
    ctx: Context,
    feed: FeedState,
    fetcher: SafeFetcher,
    fetch_gate: asyncio.Semaphore,
    parse_gate: asyncio.Semaphore,
    rules: MatchRules,
    channels: Sequence[str],
    options: WatchOptions,
    now: datetime,
) -> _Polled:
    # The fetch slot is held until the body is parsed and dropped: bodies in memory are then
    # bounded by `concurrency` x the byte cap, however many feeds are due.
    async with fetch_gate:
        result = await fetcher.fetch(
            feed.url,
            etag=feed.etag if options.conditional else None,
            last_modified=feed.last_modified if options.conditional else None,
            now=now,
        )
        if result.permanent_redirect:
            log.info(
                "feed %d (%s) permanently redirects to %s: consider updating it",
                feed.id,
                feed.url,
                result.permanent_redirect,
            )
        if result.status is FetchStatus.FAILED:
            return _failure(
                feed, now, result.code, result.reason, result.http_status, result.retry_after
            )
        if result.status is FetchStatus.NOT_MODIFIED:
            return _success(feed, now, result, "not_modified", title=feed.title)
        async with parse_gate:
            parsed = await parse_feed(
                result.body,
                content_type=result.content_type,
                base_url=result.final_url,
                limits=options.parse,
            )
        result = replace(result, body=b"")  # the items are parsed: let the bytes go
    if not parsed.ok:
        return _failure(feed, now, parsed.code, parsed.reason, result.http_status)
    for note in (parsed.bozo, *parsed.notes):
        if note:
            log.warning("feed %d (%s): %s (entries still used)", feed.id, feed.url, note)
    polled = _success(
        feed, now, result, "changed" if feed.primed else "primed", title=parsed.title or feed.title
    )
    new, matched, alerts = await _record_items(ctx, feed, parsed, rules, channels, now)
    polled.outcome.new_items, polled.outcome.matched, polled.outcome.alerts = new, matched, alerts
    return polled


def _success(
    feed: FeedState, now: datetime, result: FetchResult, status: str, *, title: str | None
) -> _Polled:
    if result.status is FetchStatus.NOT_MODIFIED:
        # A 304 may omit the validators: the stored ones still describe what we have.
        etag = result.etag or feed.etag
        last_modified = result.last_modified or feed.last_modified
    else:
        etag, last_modified = result.etag, result.last_modified
    if feed.consecutive_failures:
        log.info(
            "feed %d (%s) recovered after %d failure(s)",
            feed.id,
            feed.url,
            feed.consecutive_failures,
        )
    outcome = FeedOutcome(feed.id, feed.url, feed.source, status, elapsed=result.elapsed)
    return _Polled(
        feed,
        outcome,
        _state(
            feed,
            etag=etag,
            last_modified=last_modified,
            last_polled_at=now,
            last_success_at=now,
            last_status=result.http_status,
            last_error=None,
            consecutive_failures=0,
            failing_since=None,
            failure_notified=False,
            next_poll_at=next_poll_at(now, feed.poll_interval_s, 0),
            title=(title or "")[:300] or None,
        ),
    )


def _failure(
    feed: FeedState,
    now: datetime,
    code: str,
    reason: str,
    http_status: int | None = None,
    retry_after: float | None = None,
) -> _Polled:
    failures = feed.consecutive_failures + 1
    when = next_poll_at(now, feed.poll_interval_s, failures, retry_after)
    log.warning(
        "feed %d (%s) failed [%s], %d in a row: %s; next try %s",
        feed.id,
        feed.url,
        code,
        failures,
        reason,
        when.isoformat(timespec="minutes"),
    )
    notify = should_notify(failures, feed.failure_notified)
    outcome = FeedOutcome(feed.id, feed.url, feed.source, "failed", code=code, reason=reason)
    return _Polled(
        feed,
        outcome,
        _state(
            feed,
            etag=feed.etag,
            last_modified=feed.last_modified,
            last_polled_at=now,
            last_success_at=feed.last_success_at,
            last_status=http_status,
            last_error=f"[{code}] {reason}"[:2000],
            consecutive_failures=failures,
            failing_since=feed.failing_since or now,
            failure_notified=feed.failure_notified,
            next_poll_at=when,
            title=feed.title,
        ),
        notify_reason=reason if notify else None,
    )


_STATE_COLUMNS = (
    "etag",
    "last_modified",
    "last_polled_at",
    "last_success_at",
    "last_status",
    "last_error",
    "consecutive_failures",
    "failing_since",
    "failure_notified",
    "next_poll_at",
    "title",
)


def _state(feed: FeedState, **values: Any) -> dict[str, Any]:
    assert set(values) == set(_STATE_COLUMNS)
    return {"b_id": feed.id, **{f"v_{k}": v for k, v in values.items()}}


async def _save(ctx: Context, polled: Sequence[_Polled]) -> None:
    """Every feed's new state in one executemany: cheap per feed, one write transaction.

    If the database refuses a value (the fetcher already drops validators too long for their
    columns; this is the backstop), the states are saved again feed by feed, so one bad row
    cannot cost the others their state: unsaved, every feed would stay at the lease and be
    polled again in 15 minutes, every cycle. A feed whose row is still refused is saved without
    the values that came from its server. A failure that is not about the values (the database
    unreachable, locked, the connection lost) is raised, as before."""
    if not polled:
        return
    table = Feed.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"v_{name}") for name in _STATE_COLUMNS})
    )
    try:
        async with ctx.db.write() as session:
            await session.execute(statement, [p.state for p in polled])
        return
    except StatementError as exc:
        if not _refused_values(exc):
            raise
        log.error(
            "feeds: saving %d feed state(s) at once failed (%s): saving them one by one",
            len(polled),
            _first_line(exc),
        )
    for item in polled:
        for attempt, state in enumerate((item.state, _without_server_values(item))):
            try:
                async with ctx.db.write() as session:
                    await session.execute(statement, [state])
                break
            except StatementError as exc:
                if not _refused_values(exc):
                    raise
                if attempt == 0:
                    log.warning(
                        "feed %d (%s): state refused by the database (%s): saved without "
                        "its validators, title and error text",
                        item.feed.id,
                        item.feed.url,
                        _first_line(exc),
                    )
                else:
                    log.error(
                        "feed %d (%s): state not saved (%s): it is polled again when its "
                        "lease ends",
                        item.feed.id,
                        item.feed.url,
                        _first_line(exc),
                    )


def _refused_values(exc: StatementError) -> bool:
    """True when the database (or the driver) refused the values, not when it was unreachable,
    locked or lost: only then can saving the rows one by one help."""
    return not isinstance(exc, OperationalError) and not getattr(
        exc, "connection_invalidated", False
    )


def _without_server_values(item: _Polled) -> dict[str, Any]:
    """The state with nothing from the feed's server (validators, title, error text): only
    what the watcher computed itself, which every column accepts."""
    error = item.state["v_last_error"]
    return {
        **item.state,
        "v_etag": None,
        "v_last_modified": None,
        "v_title": item.feed.title,
        "v_last_error": None if error is None else f"[{item.outcome.code}] (see the log)",
    }


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


# --- feeds due, channels ------------------------------------------------------------------------


def _chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


async def _claim_due(
    ctx: Context, now: datetime, options: WatchOptions, *, force: bool
) -> list[FeedState]:
    query = select(Feed).where(Feed.enabled.is_(True))
    if not force:
        query = query.where(or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= now))
    query = query.order_by(Feed.next_poll_at.asc().nulls_first(), Feed.id).limit(options.max_feeds)
    lease = now + timedelta(seconds=options.lease_s)
    # Most minutes nothing is due: look before taking the write lock (SQLite has only one).
    async with ctx.db.read() as session:
        if await session.scalar(query.with_only_columns(Feed.id).limit(1)) is None:
            return []
    async with ctx.db.write() as session:
        rows = list((await session.scalars(query)).all())
        states = [FeedState.of(row) for row in rows]
        for ids in _chunks([s.id for s in states]):
            await session.execute(
                update(Feed)
                .where(Feed.id.in_(ids))
                .values(next_poll_at=lease)
                .execution_options(synchronize_session=False)
            )
    return states


async def alert_channels(ctx: Context) -> list[str]:
    """Channels that turned alerts on (`/leadership alerts on`)."""
    async with ctx.db.read() as session:
        query = select(Channel.id).where(Channel.alerts_enabled.is_(True)).order_by(Channel.id)
        return list((await session.scalars(query)).all())


def _targets(feed: FeedState, channels: Sequence[str]) -> list[str]:
    """Alert channels, or only the feed's own channel when it was added for one."""
    if feed.channel_id is None:
        return list(channels)
    return [c for c in channels if c == feed.channel_id]


# --- items ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ToAlert:
    item: FeedItem
    item_id: int
    question: Question | None
    reason: str


async def _record_items(
    ctx: Context,
    feed: FeedState,
    parsed: ParsedFeed,
    rules: MatchRules,
    channels: Sequence[str],
    now: datetime,
) -> tuple[int, int, int]:
    """(items new to this feed, of which matched, alerts enqueued)."""
    # Feed-local keys (guid, title alone) are scoped by the feed's URL, not its id: SQLite
    # reuses a deleted row's id, and the keys of a removed feed stay (they are hashed, so they
    # cannot be found by feed to delete). The URL is unique among feeds, and a feed re-added
    # at the same URL is the same feed, so its keys meaning the same stories is right.
    keyed = [(item, item_keys(item, feed.url, rules)) for item in parsed.items]
    keyed = [(item, keys) for item, keys in keyed if keys]
    for attempt in range(3):
        try:
            new, to_alert = await _resolve(ctx, feed, keyed, rules, now)
            break
        except IntegrityError:
            # Another process recorded the same story at the same moment (PostgreSQL; SQLite
            # serialises writers): its keys are there now, so resolving again finds them.
            if attempt == 2:
                raise
    alerts = 0
    targets = _targets(feed, channels)
    for entry in to_alert:
        payload = alert_payload(entry.item, feed, entry.item_id, entry.question, rules, parsed)
        for channel_id in targets:
            # The related question travels in the payload, not in Post.question_id, which marks
            # the weekly question's own posts.
            row = await outbox.enqueue(
                ctx,
                key=f"alert:{channel_id}:{entry.item_id}",
                kind="alert",
                channel_id=channel_id,
                due_at=now,
                payload=payload,
            )
            alerts += row is not None
        log.info(
            "feed %d: Socitm report %r (%s) -> %d channel(s)",
            feed.id,
            entry.item.title[:120],
            entry.reason,
            len(targets),
        )
    if to_alert:
        await _mark_seen(ctx, feed.id, [e.item_id for e in to_alert], now)
    return new, len(to_alert), alerts


async def _resolve(
    ctx: Context,
    feed: FeedState,
    keyed: Sequence[tuple[FeedItem, tuple[str, ...]]],
    rules: MatchRules,
    now: datetime,
) -> tuple[int, list[_ToAlert]]:
    """One transaction: map items to canonical stories (creating new ones), record unmatched
    new entries (all of them on a first fetch), and return the matched new ones to alert."""
    all_keys = list(dict.fromkeys(k for _, keys in keyed for k in keys))
    to_alert: list[_ToAlert] = []
    async with ctx.db.write() as session:
        known: dict[str, int] = {}
        for chunk in _chunks(all_keys):
            rows = await session.execute(
                select(FeedItemKey.key, FeedItemKey.item_id).where(FeedItemKey.key.in_(chunk))
            )
            known.update({key: item_id for key, item_id in rows.all()})
        # New stories are inserted together (one batched INSERT … RETURNING at the flush), not
        # one round trip each: a first fetch records a whole backlog.
        targets: list[tuple[FeedItem, int | FeedItemRow]] = []
        fresh: dict[str, FeedItemRow] = {}  # key -> new story, for duplicates within the batch
        for item, keys in keyed:
            ids = {known[k] for k in keys if k in known}
            target: int | FeedItemRow
            if ids:
                target = min(ids)  # the oldest story wins if keys disagree
            else:
                same = next((fresh[k] for k in keys if k in fresh), None)
                if same is None:
                    same = FeedItemRow(
                        title=item.title[:500] or "(untitled)",
                        link=item.link,
                        guid=item.guid,
                        published=item.published,
                        matched=False,
                        first_feed_id=feed.id,
                        first_seen_at=now,
                    )
                    session.add(same)
                target = same
            for key in keys:
                if key in known or key in fresh:
                    continue
                # New aliases: a changed guid, a second feed's link, a new story's keys.
                if isinstance(target, int):
                    known[key] = target
                    session.add(FeedItemKey(key=key, item_id=target))
                else:
                    fresh[key] = target
            targets.append((item, target))
        if fresh:
            await session.flush()
            for key, row in fresh.items():
                session.add(FeedItemKey(key=key, item_id=row.id))
        resolved: dict[int, FeedItem] = {}
        for item, target in targets:
            resolved.setdefault(target if isinstance(target, int) else target.id, item)
        seen: set[int] = set()
        for ids in _chunks(list(resolved)):
            seen.update(
                (
                    await session.scalars(
                        select(FeedEntry.item_id).where(
                            FeedEntry.feed_id == feed.id, FeedEntry.item_id.in_(ids)
                        )
                    )
                ).all()
            )
        new = [(item_id, item) for item_id, item in resolved.items() if item_id not in seen]
        for item_id, item in new:
            if feed.primed:
                match = match_item(
                    item, rules, feed.keywords, publisher_is_subject=feed.publisher_is_subject
                )
                if match.matched:
                    question = relate_question(item, ctx.questions.questions, rules)
                    await session.execute(
                        update(FeedItemRow)
                        .where(FeedItemRow.id == item_id)
                        .values(matched=True, question_id=question.id if question else None)
                        .execution_options(synchronize_session=False)
                    )
                    # Marked seen only after its alerts are enqueued (see _record_items).
                    to_alert.append(_ToAlert(item, item_id, question, match.reason))
                    continue
            session.add(FeedEntry(feed_id=feed.id, item_id=item_id, first_seen_at=now))
        if not feed.primed:
            await session.execute(
                update(Feed)
                .where(Feed.id == feed.id)
                .values(primed=True)
                .execution_options(synchronize_session=False)
            )
            log.info(
                "feed %d (%s): first fetch, %d item(s) recorded as backlog, none alerted",
                feed.id,
                feed.url,
                len(new),
            )
    return len(new), to_alert


async def _mark_seen(ctx: Context, feed_id: int, item_ids: Sequence[int], now: datetime) -> None:
    try:
        async with ctx.db.write() as session:
            already = set(
                (
                    await session.scalars(
                        select(FeedEntry.item_id).where(
                            FeedEntry.feed_id == feed_id, FeedEntry.item_id.in_(list(item_ids))
                        )
                    )
                ).all()
            )
            for item_id in dict.fromkeys(item_ids):
                if item_id not in already:
                    session.add(FeedEntry(feed_id=feed_id, item_id=item_id, first_seen_at=now))
    except IntegrityError:
        pass  # another process marked them first: the same outcome


def alert_payload(
    item: FeedItem,
    feed: FeedState,
    item_id: int,
    question: Question | None,
    rules: MatchRules,
    parsed: ParsedFeed | None = None,
) -> dict[str, Any]:
    """The outbox payload: FeedAlert's fields as plain JSON, already cleaned and capped.
    Escaping for the platform happens when it is rendered."""
    link = (
        display_link(item.link, rules)
        or display_link(item.guid, rules)
        or display_link(parsed.link if parsed else None, rules)
        or display_link(feed.url, rules)
    )
    return {
        "title": cap(clean_text(item.title).replace("\n", " "), rules.title_chars) or "(untitled)",
        "source": feed.source,
        "link": link,
        "summary": one_paragraph(item.summary, rules.summary_chars),
        "published": item.published.isoformat() if item.published else None,
        "question_id": question.id if question else None,
        "feed_id": feed.id,
        "item_id": item_id,
    }


# --- failure notices ------------------------------------------------------------------------------


async def _notify_failure(
    ctx: Context, polled: _Polled, channels: Sequence[str], now: datetime
) -> int:
    feed = polled.feed
    failures = polled.state["v_consecutive_failures"]
    since: datetime = polled.state["v_failing_since"]
    targets = [feed.channel_id] if feed.channel_id else list(channels)
    if not targets:
        log.warning(
            "feed %d (%s) has failed %d times; no alerts channel to tell",
            feed.id,
            feed.url,
            failures,
        )
        return 0
    text = (
        f"Feed {feed.id} ({feed.source}, {feed.url}) has failed {failures} times in a row "
        f"since {since:%d %b %Y %H:%M} UTC: {polled.notify_reason}. I will keep trying, less "
        "often (at most a day apart), and say nothing more until it works again. To stop it: "
        f"/leadership feeds remove {feed.id}"
    )
    sent = 0
    for channel_id in targets:
        row = await outbox.enqueue(
            ctx,
            # One notice per run of failures: the run is named by when it started.
            key=f"notice:feed:{feed.id}:{since.isoformat()}:{channel_id}",
            kind="notice",
            channel_id=channel_id,
            due_at=now,
            payload={"text": text},
        )
        sent += row is not None
    return sent


# --- catalogue ------------------------------------------------------------------------------------

_SEEDED: dict[tuple[str, Path, bool], float] = {}


async def seed_catalogue(
    ctx: Context, path: Path = CATALOGUE_PATH, *, include_unconfirmed: bool = False
) -> int:
    """Add catalogue feeds not yet in the database (a removed one stays, disabled). Returns how
    many were added. Skipped while the file is unchanged since the last seed.

    Only `confirmed = true` entries are added automatically: a guessed URL would fail, back off
    and post a failure notice to every alerts channel. `leaderbot feeds add --catalogue` adds
    the unconfirmed ones on purpose."""
    try:
        mtime = path.stat().st_mtime  # noqa: ASYNC240  (one stat a cycle)
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read: {exc}") from None
    marker = (ctx.db.url, path, include_unconfirmed)
    if _SEEDED.get(marker) == mtime:
        return 0
    catalogue = load_catalogue(path)
    async with ctx.db.read() as session:
        present = set((await session.scalars(select(Feed.url))).all())
    missing = [
        entry
        for entry in catalogue
        if entry.url not in present and (entry.confirmed or include_unconfirmed)
    ]
    if missing:
        now = ctx.clock()
        try:
            async with ctx.db.write() as session:
                present = set((await session.scalars(select(Feed.url))).all())
                for entry in missing:
                    if entry.url in present:
                        continue
                    session.add(
                        Feed(
                            url=entry.url,
                            source=entry.name,
                            keywords=entry.keywords.as_list() or None,
                            publisher_is_subject=entry.publisher_is_subject,
                            from_catalogue=True,
                            enabled=True,
                            poll_interval_s=entry.poll_minutes * 60,
                            primed=False,
                            consecutive_failures=0,
                            failure_notified=False,
                            added_by="catalogue",
                            created_at=now,
                        )
                    )
        except IntegrityError:
            return 0  # another process seeded at the same moment; next cycle re-checks
        log.info("feeds: %d catalogue feed(s) added", len(missing))
    _SEEDED[marker] = mtime
    return len(missing)


# --- content for the outbox ---------------------------------------------------------------------


def _parse_when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def build_alert(row: Post, ctx: Context) -> FeedAlert:
    """An alert row back into FeedAlert, at send time (the question set may have changed)."""
    payload = row.payload or {}
    link = str(payload.get("link") or "")
    if not link.startswith(("https://", "http://")):
        link = ""  # belt and braces: only http(s) links ever reach a platform
    question_id = payload.get("question_id")
    question = ctx.questions.get(question_id) if isinstance(question_id, str) else None
    return FeedAlert(
        title=str(payload.get("title") or "(untitled)"),
        source=str(payload.get("source") or ""),
        link=link,
        summary=str(payload.get("summary") or ""),
        published=_parse_when(payload.get("published")),
        related_question=question,
    )
