"""When to poll a feed next. Pure functions: the watcher passes the clock in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

MAX_BACKOFF_S = 86_400.0  # never wait more than a day, whatever the errors or the server say
FAILURES_BEFORE_NOTICE = 3


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_BACKOFF_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_BACKOFF_S)


def backoff_delay(
    interval_s: float,
    failures: int,
    retry_after: float | None = None,
    *,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> float:
    """Seconds until the next poll: the feed's interval while healthy; after `failures`
    consecutive failures, interval x 2^failures, capped at a day; never sooner than the
    server's Retry-After (itself capped at a day)."""
    if failures <= 0:
        delay = interval_s
    else:
        # The exponent is capped so the arithmetic never overflows on a long-dead feed.
        delay = min(interval_s * 2.0 ** min(failures, 32), max_backoff_s)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_backoff_s))
    return max(delay, 1.0)


def next_poll_at(
    now: datetime, interval_s: float, failures: int, retry_after: float | None = None
) -> datetime:
    return now + timedelta(seconds=backoff_delay(interval_s, failures, retry_after))


def should_notify(failures: int, already_notified: bool) -> bool:
    """One admin notice per run of failures, once it reaches FAILURES_BEFORE_NOTICE."""
    return failures >= FAILURES_BEFORE_NOTICE and not already_notified
