"""One feed's state across polls: what the cycle saw when it claimed the feed (FeedState), what
a poll changes (validators, last success, failures and the backoff to the next poll), and
saving every feed's new state at the end of a cycle.

Validators: ETag / Last-Modified are sent back byte for byte, and a 304 that omits them keeps
the stored ones. Backoff: `bot.watch.policy` (pure) decides when a failing feed is polled next.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.exc import OperationalError, StatementError

from bot.domain.feed_match import Keywords
from bot.services.context import Context
from bot.store.models_feeds import Feed
from bot.watch.fetcher import FetchResult, FetchStatus
from bot.watch.policy import next_poll_at, should_notify

log = logging.getLogger(__name__)


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
class Polled:
    feed: FeedState
    outcome: FeedOutcome
    state: dict[str, Any]  # the feed's new state, as save_states's bind parameters
    notify_reason: str | None = None  # set when this failure warrants the admin notice


def succeeded(
    feed: FeedState, now: datetime, result: FetchResult, status: str, *, title: str | None
) -> Polled:
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
    return Polled(
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


def failed(
    feed: FeedState,
    now: datetime,
    code: str,
    reason: str,
    http_status: int | None = None,
    retry_after: float | None = None,
) -> Polled:
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
    return Polled(
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


async def save_states(ctx: Context, polled: Sequence[Polled]) -> None:
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


def _without_server_values(item: Polled) -> dict[str, Any]:
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
