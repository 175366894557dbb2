"""The outbox: every post is recorded, under a unique key, before it is sent.

Exactly once, step by step:
1. `enqueue` inserts a row with a unique key (e.g. the schedule and the occurrence's date).
   A second scheduler, a retry or a restart hits the unique key and inserts nothing.
2. `deliver_due` claims due rows with a conditional UPDATE (status pending -> sending, with a
   lease and a token of its own), so two processes never send the same row at the same time.
   The lease is renewed before each call that could post; a sender that finds its claim gone
   stops.
3. The post is tagged with its key (Slack message metadata). Once an attempt may have reached
   the platform (a dropped connection, a 5xx, a crash between send and record), nothing is
   posted until a look-up says the tagged message is not there; if it is, it is recorded as
   sent. A failed look-up hands the row back instead of posting blind.
4. A claim whose sender died is taken over once its lease runs out.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.port import DeliveryUnknown, PermanentFailure, PlatformError, RateLimited, Sent
from bot.services.context import Context
from bot.store.db import Database
from bot.store.models import Post

log = logging.getLogger(__name__)

# Kinds whose moment matters: too late past the grace window, they are recorded as missed.
TIMELY_KINDS = frozenset({"question", "digest", "nudge"})
MAX_ATTEMPTS = 8
IN_CALL_TRIES = 4  # tries within one claim before handing the row back for later
LONGEST_INLINE_WAIT_S = 30.0  # a longer Retry-After is waited out by the sweep, not in-call
LOOKBACK = timedelta(minutes=5)  # clock skew allowance when looking for our own post

OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class NotReady(Exception):
    """Raised by a content builder whose content should wait (e.g. a digest whose threads
    could not be read): the row is handed back, to be built again after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # already there: recorded, not re-posted
    missed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        for name in ("sent", "found", "missed", "failed", "deferred"):
            getattr(self, name).extend(getattr(other, name))


async def enqueue(
    ctx: Context,
    *,
    key: str,
    kind: str,
    channel_id: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    question_id: str | None = None,
    schedule_id: int | None = None,
    occurrence: date | None = None,
    thread_id: str | None = None,
    status: str = "pending",
    error: str | None = None,
) -> Post | None:
    """Record a post to be sent at `due_at`. Returns None if `key` was already recorded."""
    row = Post(
        key=key,
        kind=kind,
        channel_id=channel_id,
        due_at=due_at,
        payload=payload,
        question_id=question_id,
        schedule_id=schedule_id,
        occurrence=occurrence,
        thread_id=thread_id,
        status=status,
        error=error,
        attempts=0,
        created_at=ctx.clock(),
    )
    try:
        async with ctx.db.write() as session:
            if await session.scalar(select(Post.id).where(Post.key == key)) is not None:
                return None
            session.add(row)
    except IntegrityError:
        return None  # another process recorded it between our look and our insert
    return row


# Rows this process is sending right now, per database handle. A claim whose lease the clock
# says has run out is still ours while its send is in flight: never take it over from
# ourselves. (Another process has its own handle, and is kept out by the lease.)
_IN_FLIGHT: WeakKeyDictionary[Database, set[int]] = WeakKeyDictionary()


def _in_flight(ctx: Context) -> set[int]:
    return _IN_FLIGHT.setdefault(ctx.db, set())


async def _claim(ctx: Context, *, only_keys: Iterable[str] | None, limit: int) -> list[Post]:
    """Take due rows for this process: pending ones, and those whose sender's lease ran out.

    Each claim gets its own token in `claimed_by`, so a sender that lost its claim (its lease
    ran out and another process took the row) cannot record over the new owner's outcome.
    """
    now = ctx.clock()
    lease = now + timedelta(seconds=ctx.settings.send_lease_s)
    claimable = or_(
        and_(
            Post.status == "pending",
            Post.due_at <= now,
            or_(Post.retry_at.is_(None), Post.retry_at <= now),
        ),
        and_(Post.status == "sending", Post.lease_until < now),
    )
    query = select(Post).where(claimable).order_by(Post.due_at, Post.id).limit(limit)
    if only_keys is not None:
        query = query.where(Post.key.in_(list(only_keys)))
    busy = _in_flight(ctx)
    if busy:
        query = query.where(Post.id.not_in(list(busy)))
    claimed: list[Post] = []
    async with ctx.db.write() as session:
        for row in (await session.scalars(query)).all():
            token = f"{OWNER}:{uuid.uuid4().hex[:8]}"
            result = await session.execute(
                update(Post)
                .where(Post.id == row.id, Post.status == row.status, Post.attempts == row.attempts)
                .values(
                    status="sending",
                    claimed_by=token,
                    lease_until=lease,
                    attempts=Post.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                row.claimed_by = token  # row.attempts still holds the count before this claim
                busy.add(row.id)
                claimed.append(row)
    return claimed


async def _renew(ctx: Context, row: Post) -> bool:
    """Extend our lease; False if the claim is no longer ours.

    Called before every platform call that could post: before the first try, again after a
    look-up (which may be slow), and before each further message of a long digest. A single
    chat.postMessage times out well within the lease, so the lease cannot run out under a post.
    """
    lease = ctx.clock() + timedelta(seconds=ctx.settings.send_lease_s)
    async with ctx.db.write() as session:
        result = await session.execute(
            update(Post)
            .where(Post.id == row.id, Post.claimed_by == row.claimed_by, Post.status == "sending")
            .values(lease_until=lease)
            .execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


async def _finish(ctx: Context, row: Post, **values: Any) -> None:
    """Record an outcome, only if this claim still holds the row."""
    async with ctx.db.write() as session:
        await session.execute(
            update(Post)
            .where(Post.id == row.id, Post.claimed_by == row.claimed_by, Post.status == "sending")
            .values(lease_until=None, **values)
            .execution_options(synchronize_session=False)
        )


async def _record_sent(ctx: Context, row: Post, sent: Sent) -> None:
    await _finish(
        ctx,
        row,
        status="sent",
        message_id=sent.message_id,
        link=sent.link,
        sent_at=ctx.clock(),
        error=None,
    )


async def _hand_back(
    ctx: Context, row: Post, error: PlatformError | Exception | str, wait_s: float = 30.0
) -> str:
    """Give the row back for a later sweep, or fail it once it has had all its attempts."""
    if row.attempts + 1 >= MAX_ATTEMPTS:
        await _finish(ctx, row, status="failed", error=f"gave up after {MAX_ATTEMPTS}: {error}")
        return "failed"
    await _finish(
        ctx,
        row,
        status="pending",
        retry_at=ctx.clock() + timedelta(seconds=wait_s),
        error=str(error),
    )
    return "deferred"


class _ChannelPacer:
    """At most about one post per second per channel (Slack's chat.postMessage guidance)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    async def wait(self, channel_id: str) -> asyncio.Lock:
        lock = self._locks.setdefault(channel_id, asyncio.Lock())
        await lock.acquire()
        loop = asyncio.get_running_loop()
        last = self._last.get(channel_id)
        if last is not None:
            delay = self.interval_s - (loop.time() - last)
            if delay > 0:
                await asyncio.sleep(delay)
        return lock

    def done(self, channel_id: str, lock: asyncio.Lock) -> None:
        self._last[channel_id] = asyncio.get_running_loop().time()
        lock.release()


async def _look(ctx: Context, row: Post) -> Sent | None:
    since = row.created_at - LOOKBACK
    return await ctx.platform_for(row.channel_id).find_post(
        row.channel_id, row.key, since, thread_id=row.thread_id
    )


async def _deliver_one(ctx: Context, row: Post, pacer: _ChannelPacer) -> tuple[str, str]:
    """Send one claimed row; returns (outcome, key).

    The rule that keeps a post single: once an attempt may have reached the platform (an
    earlier claim, a dropped connection, a 5xx), nothing is posted until a look-up has said
    the post is not there. A look-up that fails hands the row back; it never posts blind.
    """
    grace = timedelta(hours=ctx.settings.grace_hours)
    builder = ctx.builders.get(row.kind)
    if builder is None:
        await _finish(ctx, row, status="failed", error=f"no content builder for kind {row.kind!r}")
        return "failed", row.key

    must_look = row.attempts > 0
    late = row.kind in TIMELY_KINDS and ctx.clock() - row.due_at > grace
    if late and not must_look:
        await _finish(
            ctx,
            row,
            status="missed",
            error=f"not sent within the {ctx.settings.grace_hours:g} h grace window",
        )
        log.warning("post %s missed: due %s, now %s", row.key, row.due_at, ctx.clock())
        return "missed", row.key

    try:
        content = builder(row, ctx)
        if inspect.isawaitable(content):
            content = await content
    except NotReady as exc:
        log.warning("post %s not ready (%s): retrying in %.0f s", row.key, exc, exc.retry_after)
        return await _hand_back(ctx, row, str(exc), exc.retry_after), row.key
    except PlatformError as exc:  # the platform is unreachable: one line, not a traceback
        log.warning("cannot build content for %s: %s: %s", row.key, type(exc).__name__, exc)
        return await _hand_back(ctx, row, f"cannot build content: {exc}"), row.key
    except Exception as exc:  # a database hiccup or a bad payload: retry, then give up
        log.exception("cannot build content for %s", row.key)
        return await _hand_back(ctx, row, f"cannot build content: {exc}"), row.key

    last_error: PlatformError | None = None
    for attempt in range(IN_CALL_TRIES):
        lock = await pacer.wait(row.channel_id)
        try:
            if not await _renew(ctx, row):
                log.warning("lost the claim on %s to another sender: leaving it", row.key)
                return "deferred", row.key
            if must_look:
                found = await _look(ctx, row)
                if found is not None and found.complete:
                    await _record_sent(ctx, row, found)
                    log.info(
                        "post %s was already delivered (ts %s): recorded", row.key, found.message_id
                    )
                    return "found", row.key
                must_look = False
                if found is None and late:  # not there, and too late to post now
                    await _finish(ctx, row, status="missed", error="past the grace window")
                    return "missed", row.key
                # A look can be slow (pages, rate limits): make sure the row is still ours
                # before posting. (Partly there: posting again resumes it, late or not.)
                if not await _renew(ctx, row):
                    log.warning("lost the claim on %s while looking: leaving it", row.key)
                    return "deferred", row.key
            sent = await ctx.platform_for(row.channel_id).post(
                row.channel_id,
                content,
                key=row.key,
                thread_id=row.thread_id,
                still_ours=lambda: _renew(ctx, row),
            )
        except RateLimited as exc:
            last_error = exc
            log.info("rate limited on %s: retry after %.1f s", row.key, exc.retry_after)
            if exc.retry_after > LONGEST_INLINE_WAIT_S:
                break
            await asyncio.sleep(exc.retry_after)
            continue
        except DeliveryUnknown as exc:
            last_error = exc
            must_look = True
            log.warning("delivery of %s unknown (%s): will look before retrying", row.key, exc)
            await asyncio.sleep(min(2.0**attempt * 0.5, 8.0))
            continue
        except PermanentFailure as exc:
            await _finish(ctx, row, status="failed", error=str(exc))
            log.error("post %s failed for good: %s", row.key, exc)
            return "failed", row.key
        finally:
            pacer.done(row.channel_id, lock)
        await _record_sent(ctx, row, sent)
        return "sent", row.key

    # Hand the row back; the next claim looks first (attempts > 0), so nothing posts twice.
    wait_s = last_error.retry_after if isinstance(last_error, RateLimited) else 30.0
    return await _hand_back(ctx, row, last_error or "no attempt succeeded", wait_s), row.key


async def deliver_due(
    ctx: Context, *, only_keys: Iterable[str] | None = None, limit: int = 1000
) -> DeliveryReport:
    """Send every due post this process can claim, concurrently within limits."""
    report = DeliveryReport()
    rows = await _claim(ctx, only_keys=only_keys, limit=limit)
    if not rows:
        return report
    pacer = _ChannelPacer(ctx.settings.per_channel_interval_s)
    gate = asyncio.Semaphore(ctx.settings.max_concurrent_posts)

    async def one(row: Post) -> tuple[str, str]:
        async with gate:
            try:
                return await _deliver_one(ctx, row, pacer)
            except Exception as exc:
                # A bug or a database hiccup: hand the row back rather than lose it.
                log.exception("unexpected error delivering %s", row.key)
                return await _hand_back(ctx, row, f"internal error: {exc}"), row.key
            finally:
                _in_flight(ctx).discard(row.id)

    for outcome, key in await asyncio.gather(*(one(r) for r in rows)):
        getattr(report, outcome).append(key)
    return report
