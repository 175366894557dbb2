"""The poll cycle: one cycle polls every due feed, concurrently within bounds.

`run_cycle(ctx)` is the single scheduler job (bot.scheduling.jobs runs it every minute); it
never creates a job per feed. A cycle:

1. seeds the catalogue feeds (feeds/catalogue.toml) not yet in the database (`seeding`);
2. claims the due feeds, or every enabled one when forced (a lease on next_poll_at, so a
   second process skips them);
3. fetches them concurrently (one SafeFetcher for the cycle, a semaphore bounding it),
   parses changed bodies in worker processes, and records the items (`stories`, which queues
   the alerts through `alerts`);
4. saves every feed's state in one transaction (`feed_state`: validators, failures, backoff),
   and queues one notice per run of failures (`alerts`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from bot import metrics
from bot.domain.feed_match import MatchRules
from bot.services.context import Context
from bot.settings import Settings
from bot.store.models_feeds import Feed
from bot.watch.alerts import alert_channels, notify_failure
from bot.watch.catalogue import CATALOGUE_PATH, RULES_PATH, CatalogueError, load_rules
from bot.watch.feed_state import FeedOutcome, FeedState, Polled, failed, save_states, succeeded
from bot.watch.fetcher import FetchLimits, FetchStatus, Resolver, SafeFetcher
from bot.watch.parser import ParseLimits, parse_feed
from bot.watch.seeding import seed_catalogue
from bot.watch.stories import chunks, record_items

log = logging.getLogger(__name__)


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

        async def guarded(feed: FeedState) -> Polled:
            try:
                return await _poll(
                    ctx, feed, fetcher, fetch_gate, parse_gate, rules, channels, options, now
                )
            except Exception as exc:  # a bug or a database error: this feed only
                log.exception("feed %d (%s): internal error", feed.id, feed.url)
                return failed(feed, now, "internal", f"internal error: {type(exc).__name__}")

        polled = await asyncio.gather(*(guarded(f) for f in feeds))
    for item in polled:
        if item.notify_reason is not None:
            sent = await notify_failure(ctx, item, channels, now)
            item.outcome.notices = sent
            item.state["v_failure_notified"] = True
    await save_states(ctx, polled)
    report.outcomes = [p.outcome for p in polled]
    for outcome in report.outcomes:
        metrics.FEED_POLLS.labels(outcome.code or outcome.status).inc()
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
) -> Polled:
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
            return failed(
                feed, now, result.code, result.reason, result.http_status, result.retry_after
            )
        if result.status is FetchStatus.NOT_MODIFIED:
            return succeeded(feed, now, result, "not_modified", title=feed.title)
        async with parse_gate:
            parsed = await parse_feed(
                result.body,
                content_type=result.content_type,
                base_url=result.final_url,
                limits=options.parse,
            )
        result = replace(result, body=b"")  # the items are parsed: let the bytes go
    if not parsed.ok:
        return failed(feed, now, parsed.code, parsed.reason, result.http_status)
    for note in (parsed.bozo, *parsed.notes):
        if note:
            log.warning("feed %d (%s): %s (entries still used)", feed.id, feed.url, note)
    polled = succeeded(
        feed, now, result, "changed" if feed.primed else "primed", title=parsed.title or feed.title
    )
    new, matched, alerts = await record_items(ctx, feed, parsed, rules, channels, now)
    polled.outcome.new_items, polled.outcome.matched, polled.outcome.alerts = new, matched, alerts
    return polled


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
        for ids in chunks([s.id for s in states]):
            await session.execute(
                update(Feed)
                .where(Feed.id.in_(ids))
                .values(next_poll_at=lease)
                .execution_options(synchronize_session=False)
            )
    return states
