"""The outbox: every post is recorded, under a unique key, before it is sent.

Exactly once, step by step:
1. `enqueue` inserts a row with a unique key (e.g. the schedule and the occurrence's date).
   A second scheduler, a retry or a restart hits the unique key and inserts nothing.
2. `deliver_due` claims due rows with a conditional UPDATE (status pending -> sending, with a
   lease and a token of its own), so two processes never send the same row at the same time.
   (On PostgreSQL the rows are first locked with `FOR UPDATE SKIP LOCKED`, in bounded batches:
   concurrent claimers take different rows instead of waiting on each other.)
   The lease is renewed before each call that could post; a sender that finds its claim gone
   stops. Every outcome is recorded only if this claim still holds the row; a fan-out records
   its outcomes in batches (one transaction per few milliseconds), each row on that condition.
3. The post is tagged with its key (Slack message metadata). Once an attempt may have reached
   the platform (a dropped connection, a 5xx, a crash between send and record), nothing is
   posted until a look-up says the tagged message is not there; if it is, it is recorded as
   sent. A failed look-up hands the row back instead of posting blind.
4. A claim whose sender died is taken over once its lease runs out, or sooner: as soon as the
   sender's process row (`processes`, beaten every few seconds by every registered process)
   has gone stale (kill -9, a clean stop: either way it beats no more). A live process's
   claims are never taken over before their lease; a process with no row (unregistered) keeps
   its lease too. A take-over still looks before posting, and is not the post's fault: it
   does not count as an attempt.

Retries and giving up:
- Transient errors (5xx, dropped connections, 429, a failed look-up, a content builder that
  raised) hand the row back with a capped exponential backoff in `retry_at` (15 s, 30 s, 1 min,
  ... at most 5 min), so an outage of any length costs a few claims, not the post.
- A timely kind (question, digest, nudge) is retried until its grace window closes; after
  that it is `missed` (if a look-up is still owed, looking goes on for LATE_LOOK_WINDOW more,
  and the post is recorded as sent if it turns out to be there). It is never `failed` for a
  transient error.
- Kinds without a grace window (alerts, notices) keep a generous bound instead: they are
  `failed` only once UNTIMED_GIVE_UP_AFTER has passed since they were due *and* they have had
  at least UNTIMED_MIN_ATTEMPTS attempts.
- `failed` straight away is for permanent errors only (channel not found, not in channel,
  invalid auth, no content builder).
- A post still pending OVERDUE_AFTER past its time is logged once as a warning (per process)
  and shown as late by `leaderbot schedules`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import random
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot import metrics
from bot.domain.content import in_language
from bot.domain.language import DEFAULT_LANGUAGE, Language
from bot.domain.quiet import QuietPeriod, holding
from bot.port import (
    ChatPlatform,
    DeliveryUnknown,
    PermanentFailure,
    PlatformError,
    RateLimited,
    Sent,
)
from bot.services import channels, quiet
from bot.services.context import Context
from bot.store.db import Database, conflict_insert
from bot.store.models import Post, ProcessRow

log = logging.getLogger(__name__)

# Kinds whose moment matters: too late past the grace window, they are recorded as missed.
TIMELY_KINDS = frozenset({"question", "digest", "nudge"})
# Kinds without a grace window: failed once both bounds are passed (a day, and 8 attempts).
UNTIMED_GIVE_UP_AFTER = timedelta(hours=24)
UNTIMED_MIN_ATTEMPTS = 8
# Past the grace window a timely post is never sent, but a look-up still owed (did an earlier
# attempt land?) goes on this much longer before the row is closed as missed.
LATE_LOOK_WINDOW = timedelta(hours=6)
RETRY_BASE_S = 15.0  # backoff between claims: 15 s, 30 s, 1 min, 2 min, 4 min, 5 min, 5 min...
RETRY_CAP_S = 300.0
OVERDUE_AFTER = timedelta(minutes=5)  # still pending this long past its time: say so
CLAIM_CHUNK = 500  # rows claimed per UPDATE
CLAIM_BATCH_PG = 100  # PostgreSQL: rows per SELECT ... FOR UPDATE SKIP LOCKED (one transaction)
# PostgreSQL: a delivery claims at most this many times LEADERBOT_MAX_CONCURRENT_POSTS rows, so
# that other processes find their share: one process taking 1,000 of 2,000 posts while the
# others ran out of work made three processes only 1.6x faster than one (2.1x now). Fewer
# (4) cost one process alone 7 % in the wait for each round's last post.
CLAIM_AHEAD_PG = 8
RECORD_BATCH = 200  # outcomes recorded in one transaction, at most
RECORD_DELAY_S = 0.005  # an outcome waits at most this long for others to share its write
IN_CALL_TRIES = 4  # tries within one claim before handing the row back for later
IN_CALL_BACKOFF_S = 0.5  # between those tries: 0.5 s, 1 s, 2 s (capped at IN_CALL_BACKOFF_CAP_S)
IN_CALL_BACKOFF_CAP_S = 2.0
LONGEST_INLINE_WAIT_S = 30.0  # a longer Retry-After is waited out by the sweep, not in-call
LOOKBACK = timedelta(minutes=5)  # clock skew allowance when looking for our own post

OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class NotReady(Exception):
    """Raised by a content builder whose content should wait (e.g. a digest whose threads
    could not be read): the row is handed back, to be built again after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_OUTCOMES = ("sent", "found", "missed", "failed", "deferred", "held")


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # already there: recorded, not re-posted
    missed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # a quiet period holds them (not posted)
    # The delivery claimed as many rows as it could take: more may be due (deliver again).
    may_have_more: bool = False

    @property
    def count(self) -> int:
        """Rows this delivery claimed (each has one outcome)."""
        return sum(len(getattr(self, name)) for name in _OUTCOMES)

    def merge(self, other: DeliveryReport) -> None:
        for name in _OUTCOMES:
            getattr(self, name).extend(getattr(other, name))
        self.may_have_more = other.may_have_more


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


KEY_CHUNK = 500  # keys per `IN (...)` look-up: well under every driver's parameter limit


async def recorded_keys(ctx: Context, keys: list[str]) -> set[str]:
    """Which of `keys` the outbox already holds (one query per KEY_CHUNK keys)."""
    found: set[str] = set()
    async with ctx.db.read() as session:
        for i in range(0, len(keys), KEY_CHUNK):
            chunk = keys[i : i + KEY_CHUNK]
            found.update(await session.scalars(select(Post.key).where(Post.key.in_(chunk))))
    return found


_ROW_DEFAULTS: dict[str, Any] = {
    "payload": None,
    "question_id": None,
    "schedule_id": None,
    "occurrence": None,
    "thread_id": None,
    "status": "pending",
    "error": None,
}


async def enqueue_many(ctx: Context, rows: list[dict[str, Any]]) -> list[str]:
    """Record many posts in one write transaction; returns the keys this call inserted.

    Each row is a dict of `enqueue`'s keyword arguments. A key already recorded, by us or by
    another process at the same moment, is skipped by the database itself (INSERT ... ON
    CONFLICT (key) DO NOTHING, on SQLite and PostgreSQL alike), so this is safe to run from any
    number of processes at once, and never fails the whole batch for one duplicate.
    """
    if not rows:
        return []
    now = ctx.clock()
    values = [_ROW_DEFAULTS | row | {"attempts": 0, "created_at": now} for row in rows]
    async with ctx.db.write() as session:
        statement = (
            conflict_insert(session, Post)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(Post.key)
        )
        result = await session.execute(statement, values)
        return [key for (key,) in result.all()]


# Rows this process is sending right now, per database handle. A claim whose lease the clock
# says has run out is still ours while its send is in flight: never take it over from
# ourselves. (Another process has its own handle, and is kept out by the lease.)
_IN_FLIGHT: WeakKeyDictionary[Database, set[int]] = WeakKeyDictionary()


def _in_flight(ctx: Context) -> set[int]:
    return _IN_FLIGHT.setdefault(ctx.db, set())


def dead_sender(ctx: Context, now: datetime) -> ColumnElement[bool]:
    """A `sending` row's claimer is a process known to be gone: its row in `processes` beat
    last more than `process_stale_s` ago (a process that stopped cleanly too: its in-flight
    requests get the same time to land before anyone looks for them). Claim tokens are
    `<owner>:<suffix>`, so the owner is the token's prefix. Never this process itself (alive,
    whatever a manual clock says): our own claims are kept by `_IN_FLIGHT` and the lease."""
    stale_before = now - timedelta(seconds=ctx.settings.process_stale_s)
    owner_prefix = ProcessRow.owner + ":"
    return exists(
        select(ProcessRow.owner).where(
            ProcessRow.owner != OWNER,
            ProcessRow.heartbeat_at < stale_before,
            func.substr(Post.claimed_by, 1, func.length(owner_prefix)) == owner_prefix,
        )
    )


async def _claim(
    ctx: Context, *, only_keys: Iterable[str] | None, limit: int
) -> list[tuple[Post, bool]]:
    """Take due rows for this process: pending ones, and those whose sender's lease ran out.

    Returns (row, taken_over) pairs; `row.attempts` is the count including this claim (a
    take-over continues the dead sender's attempt rather than starting one).
    Each claim gets its own token in `claimed_by`, so a sender that lost its claim (its lease
    ran out and another process took the row) cannot record over the new owner's outcome.

    On PostgreSQL the rows are taken CLAIM_BATCH_PG at a time, each batch locked with
    `SELECT ... FOR UPDATE SKIP LOCKED` in a short transaction of its own: claimers in other
    processes skip the rows being claimed instead of waiting on their locks, and take others.
    SQLite (one writer at a time anyway) claims in one transaction.
    """
    keys = list(only_keys) if only_keys is not None else None
    if ctx.db.sqlite:
        claimed, _ = await _claim_batch(ctx, only_keys=keys, limit=limit, skip_locked=False)
        return claimed
    claimed = []
    while len(claimed) < limit:
        want = min(CLAIM_BATCH_PG, limit - len(claimed))
        batch, selected = await _claim_batch(ctx, only_keys=keys, limit=want, skip_locked=True)
        claimed.extend(batch)
        if selected < want:
            break
    claimed.sort(key=lambda pair: (pair[0].due_at, pair[0].id))
    return claimed


async def _claim_batch(
    ctx: Context, *, only_keys: list[str] | None, limit: int, skip_locked: bool
) -> tuple[list[tuple[Post, bool]], int]:
    """One claim transaction: (the rows claimed, how many rows the SELECT found)."""
    now = ctx.clock()
    lease = now + timedelta(seconds=ctx.settings.send_lease_s)
    pending_due = and_(
        Post.status == "pending",
        Post.due_at <= now,
        or_(Post.retry_at.is_(None), Post.retry_at <= now),
    )
    orphaned = or_(Post.lease_until < now, dead_sender(ctx, now))
    claimable = or_(pending_due, and_(Post.status == "sending", orphaned))
    query = select(Post).where(claimable).order_by(Post.due_at, Post.id).limit(limit)
    if only_keys is not None:
        query = query.where(Post.key.in_(only_keys))
    busy = _in_flight(ctx)
    if busy:
        query = query.where(Post.id.not_in(list(busy)))
    if skip_locked:
        # Rows another claimer is locking right now are skipped, not waited for; the rows
        # returned stay locked by this transaction until it commits its UPDATEs.
        query = query.with_for_update(skip_locked=True)
    claimed: list[tuple[Post, bool]] = []
    async with ctx.db.write() as session:
        rows = (await session.scalars(query)).all()
        # Pending rows: one UPDATE per CLAIM_CHUNK, under one token for this claim, and only
        # rows still claimable when the UPDATE runs (another process may have been quicker).
        fresh = {row.id: row for row in rows if row.status == "pending"}
        ids = list(fresh)
        for i in range(0, len(ids), CLAIM_CHUNK):
            token = f"{OWNER}:{uuid.uuid4().hex[:8]}"
            result = await session.execute(
                update(Post)
                .where(Post.id.in_(ids[i : i + CLAIM_CHUNK]), pending_due)
                .values(
                    status="sending",
                    claimed_by=token,
                    lease_until=lease,
                    attempts=Post.attempts + 1,
                )
                .returning(Post.id, Post.attempts)
                .execution_options(synchronize_session=False)
            )
            for post_id, attempts in result.all():
                row = fresh[post_id]
                row.attempts, row.claimed_by, row.lease_until = attempts, token, lease
                busy.add(row.id)
                claimed.append((row, False))
        # Take-overs, one by one: the dead sender's own claim, still expired (or its process
        # still gone), and not one another process has just taken over. A take-over is not
        # the post's fault: it does not count as an attempt.
        for row in rows:
            if row.status != "sending":
                continue
            token = f"{OWNER}:{uuid.uuid4().hex[:8]}"
            result = await session.execute(
                update(Post)
                .where(
                    Post.id == row.id,
                    Post.status == "sending",
                    Post.claimed_by == row.claimed_by,
                    orphaned,
                )
                .values(claimed_by=token, lease_until=lease)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                why = (
                    "whose lease ran out"
                    if row.lease_until is None or row.lease_until < now
                    else "whose process is gone"
                )
                log.warning("taking over %s from %s, %s", row.key, row.claimed_by, why)
                row.claimed_by, row.lease_until = token, lease
                busy.add(row.id)
                claimed.append((row, True))
    claimed.sort(key=lambda pair: (pair[0].due_at, pair[0].id))
    return claimed, len(rows)


async def _renew(ctx: Context, row: Post, *, if_needed: bool = False) -> bool:
    """Extend our lease; False if the claim is no longer ours.

    Called before every platform call that could post: before the first try, again after a
    look-up (which may be slow), and before each further message of a long digest. A single
    chat.postMessage times out well within the lease, so the lease cannot run out under a post.
    With `if_needed`, a lease with more than half its time left is trusted without a write
    (nobody can take a row over before its lease has run out): a fresh claim posts at once.
    """
    now = ctx.clock()
    half = timedelta(seconds=ctx.settings.send_lease_s / 2)
    if if_needed and row.lease_until is not None and now < row.lease_until - half:
        return True
    lease = now + timedelta(seconds=ctx.settings.send_lease_s)
    async with ctx.db.write() as session:
        result = await session.execute(
            update(Post)
            .where(Post.id == row.id, Post.claimed_by == row.claimed_by, Post.status == "sending")
            .values(lease_until=lease)
            .execution_options(synchronize_session=False)
        )
    if result.rowcount == 1:
        row.lease_until = lease
        return True
    return False


async def _finish(ctx: Context, row: Post, **values: Any) -> None:
    """Record an outcome, only if this claim still holds the row.

    Within `deliver_due` the outcome joins a batch (`_Recorder`): one transaction for many
    rows, each row's UPDATE still conditional on its own claim token. The sender does not wait
    for the batch here (it would hold a place among the concurrent posts meanwhile): its task
    in `deliver_due` waits for it once that place is given up."""
    recorder = _RECORDER.get()
    if recorder is not None and recorder.db is ctx.db:
        written = recorder.enqueue(row, values)
        waits = _RECORD_WAITS.get()
        if waits is None:
            await written
        else:
            waits.append(written)
        return
    async with ctx.db.write() as session:
        await session.execute(
            update(Post)
            .where(Post.id == row.id, Post.claimed_by == row.claimed_by, Post.status == "sending")
            .values(lease_until=None, **values)
            .execution_options(synchronize_session=False)
        )


class _Recorder:
    """Outcomes recorded in batches: at most RECORD_BATCH rows, RECORD_DELAY_S after the first
    one waiting, in one write transaction.

    Each row keeps the outbox's rule: its UPDATE applies only while the row is still `sending`
    under this claim's own token (an executemany of `WHERE id = ? AND claimed_by = ? AND
    status = 'sending'`, grouped by the columns set). `enqueue` gives a future done once the
    outcome is written. A sender that dies before its batch is written, or a batch that cannot
    be written, leaves the row `sending`, as a crash between send and record always did: once
    the lease runs out, the take-over looks before it posts.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[tuple[int, str | None, dict[str, Any], asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._flushes: set[asyncio.Task[None]] = set()

    def enqueue(self, row: Post, values: dict[str, Any]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row.id, row.claimed_by, values, future))
        if len(self._waiting) >= RECORD_BATCH:
            self._start_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(RECORD_DELAY_S, self._start_flush)
        return future

    async def record(self, row: Post, values: dict[str, Any]) -> None:
        await self.enqueue(row, values)

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            task = asyncio.ensure_future(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(
        self, batch: list[tuple[int, str | None, dict[str, Any], asyncio.Future[None]]]
    ) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for post_id, token, values, _ in batch:
            params = {f"v_{name}": value for name, value in values.items()}
            groups.setdefault(tuple(sorted(values)), []).append(
                {"b_id": post_id, "b_token": token, **params}
            )
        table = Post.__table__
        try:
            async with self._lock, self.db.write() as session:
                for names, params in groups.items():
                    statement = (
                        table.update()
                        .where(
                            table.c.id == bindparam("b_id"),
                            table.c.claimed_by == bindparam("b_token"),
                            table.c.status == "sending",
                        )
                        .values(lease_until=None, **{n: bindparam(f"v_{n}") for n in names})
                    )
                    await session.execute(statement, params)
        except BaseException as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for *_, future in batch:
            if not future.done():
                future.set_result(None)

    async def close(self) -> None:
        """Write whatever is still waiting."""
        self._start_flush()
        while self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)


# The batch recorder of the `deliver_due` running in this task (its sends inherit it), and,
# in each send's own task, the records it has yet to see written.
_RECORDER: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar(
    "outbox_recorder", default=None
)
_RECORD_WAITS: contextvars.ContextVar[list[asyncio.Future[None]] | None] = contextvars.ContextVar(
    "outbox_record_waits", default=None
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


def retry_delay_s(attempts: int) -> float:
    """Seconds before the next claim after `attempts` failed ones: capped exponential backoff,
    with a little jitter so that many rows failed together do not all come back together."""
    base = min(RETRY_BASE_S * 2.0 ** max(attempts - 1, 0), RETRY_CAP_S)
    return base * random.uniform(0.9, 1.0)


def deadline(ctx: Context, row: Post) -> datetime | None:
    """The last moment a timely post may still be sent; None for kinds without a window."""
    if row.kind not in TIMELY_KINDS:
        return None
    return row.due_at + timedelta(hours=ctx.settings.grace_hours)


def overdue(row: Post, now: datetime) -> timedelta | None:
    """How late a post still waiting to be sent is, once that is worth saying; else None."""
    if row.status not in ("pending", "sending"):
        return None
    late = now - row.due_at
    return late if late >= OVERDUE_AFTER else None


# Keys already warned about as overdue, per database handle: the warning is logged once.
_WARNED: WeakKeyDictionary[Database, set[str]] = WeakKeyDictionary()


async def warn_overdue(ctx: Context) -> list[str]:
    """Log one warning (per process) for each post still unsent OVERDUE_AFTER past its time.

    Run by every sweep; returns the keys warned about this time."""
    now = ctx.clock()
    async with ctx.db.read() as session:
        rows = (
            await session.scalars(
                select(Post)
                .where(Post.status.in_(("pending", "sending")), Post.due_at <= now - OVERDUE_AFTER)
                .order_by(Post.due_at)
                .limit(1000)
            )
        ).all()
    warned = _WARNED.setdefault(ctx.db, set())
    still = {row.key for row in rows}
    warned &= still  # forget rows that are settled: the set stays as small as the backlog
    new: list[str] = []
    for row in rows:
        if row.key in warned:
            continue
        warned.add(row.key)
        new.append(row.key)
        late = now - row.due_at
        last = deadline(ctx, row) or row.due_at + UNTIMED_GIVE_UP_AFTER
        log.warning(
            "post %s to %s is still not sent %d min after its time (%d attempts; last error: "
            "%s); retrying until %s",
            row.key,
            row.channel_id,
            late.total_seconds() // 60,
            row.attempts,
            row.error or "none",
            last.isoformat(timespec="minutes"),
        )
    return new


async def _hand_back(
    ctx: Context, row: Post, error: PlatformError | Exception | str, wait_s: float | None = None
) -> str:
    """Give the row back for a later claim, with backoff; or close it once it is out of time.

    A timely post is given back until its grace window closes (and a look-up still owed, a
    while longer), then recorded as missed; an untimed one is failed only after both
    UNTIMED_GIVE_UP_AFTER and UNTIMED_MIN_ATTEMPTS. Transient errors never fail a timely post.
    """
    now = ctx.clock()
    last = deadline(ctx, row)
    if last is not None and now > last + LATE_LOOK_WINDOW:
        await _finish(
            ctx,
            row,
            status="missed",
            error=f"not sent within the {ctx.settings.grace_hours:g} h grace window: {error}",
        )
        log.warning("post %s missed: still failing past its grace window: %s", row.key, error)
        return "missed"
    if (
        last is None
        and now - row.due_at > UNTIMED_GIVE_UP_AFTER
        and row.attempts >= UNTIMED_MIN_ATTEMPTS
    ):
        hours = UNTIMED_GIVE_UP_AFTER.total_seconds() / 3600
        await _finish(
            ctx,
            row,
            status="failed",
            error=f"gave up after {row.attempts} attempts over {hours:g} h: {error}",
        )
        log.error("post %s failed: gave up after %d attempts: %s", row.key, row.attempts, error)
        return "failed"
    delay = retry_delay_s(row.attempts) if wait_s is None else wait_s
    retry_at = now + timedelta(seconds=delay)
    if last is not None and now < last and retry_at > last:
        # Keep one last chance inside the window rather than waking up just past it.
        retry_at = max(now + timedelta(seconds=1), last - timedelta(seconds=ctx.settings.sweep_s))
    await _finish(ctx, row, status="pending", retry_at=retry_at, error=str(error))
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


async def _deliver_one(
    ctx: Context,
    row: Post,
    pacer: _ChannelPacer,
    *,
    taken_over: bool = False,
    quiet_periods: Sequence[QuietPeriod] = (),
    language: Language = DEFAULT_LANGUAGE,
) -> tuple[str, str]:
    """Send one claimed row; returns (outcome, key).

    The rule that keeps a post single: once an attempt may have reached the platform (an
    earlier claim, a take-over, a dropped connection, a 5xx), nothing is posted until a
    look-up has said the post is not there. A look-up that fails hands the row back; it never
    posts blind.
    """
    grace = timedelta(hours=ctx.settings.grace_hours)
    builder = ctx.builders.get(row.kind)
    if builder is None:
        await _finish(ctx, row, status="failed", error=f"no content builder for kind {row.kind!r}")
        return "failed", row.key

    must_look = taken_over or row.attempts > 1  # row.attempts counts this claim
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

    # A quiet period holds what has not been tried (a post that may be out there is not).
    period = (
        None
        if must_look
        else holding(quiet_periods, row.kind, row.channel_id, quiet.local_day(ctx, row.due_at))
    )
    if period is not None:
        await _finish(ctx, row, status=quiet.HELD, error=f"held: {period.reason}")
        log.info("post %s held by quiet period %d (%s)", row.key, period.id, period.reason)
        return "held", row.key

    try:
        content = builder(row, ctx)
        if inspect.isawaitable(content):
            content = await content
        # Written in the channel's language (read once per delivery, like the quiet periods).
        content = in_language(content, language)
    except NotReady as exc:
        log.warning("post %s not ready (%s): retrying in %.0f s", row.key, exc, exc.retry_after)
        return await _hand_back(ctx, row, str(exc), exc.retry_after), row.key
    except PlatformError as exc:  # the platform is unreachable: one line, not a traceback
        log.warning("cannot build content for %s: %s: %s", row.key, type(exc).__name__, exc)
        return await _hand_back(ctx, row, f"cannot build content: {exc}"), row.key
    except Exception as exc:  # a database hiccup or a bad payload: retry, within the bounds
        log.exception("cannot build content for %s", row.key)
        return await _hand_back(ctx, row, f"cannot build content: {exc}"), row.key

    last_error: PlatformError | None = None
    pause = 0.0
    for attempt in range(IN_CALL_TRIES):
        if pause:
            await asyncio.sleep(pause)  # between tries only, and not holding the channel
        lock = await pacer.wait(row.channel_id)
        try:
            if not await _renew(ctx, row, if_needed=True):
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
            pause = exc.retry_after
            continue
        except DeliveryUnknown as exc:
            last_error = exc
            must_look = True
            log.warning("delivery of %s unknown (%s): will look before retrying", row.key, exc)
            pause = min(IN_CALL_BACKOFF_S * 2.0**attempt, IN_CALL_BACKOFF_CAP_S)
            continue
        except PermanentFailure as exc:
            await _finish(ctx, row, status="failed", error=str(exc))
            log.error("post %s failed for good: %s", row.key, exc)
            return "failed", row.key
        finally:
            pacer.done(row.channel_id, lock)
        await _record_sent(ctx, row, sent)
        return "sent", row.key

    # Hand the row back; the next claim looks first (attempts > 1), so nothing posts twice.
    wait_s = last_error.retry_after if isinstance(last_error, RateLimited) else None
    return await _hand_back(ctx, row, last_error or "no attempt succeeded", wait_s), row.key


async def deliver_due(
    ctx: Context, *, only_keys: Iterable[str] | None = None, limit: int = 1000
) -> DeliveryReport:
    """Send the due posts this process claims (up to `limit`; in a sweep on PostgreSQL up to
    its share, see CLAIM_AHEAD_PG), concurrently within limits. `may_have_more` says whether
    to call again. Named posts (`only_keys`) are all claimed at once."""
    report = DeliveryReport()
    if not ctx.db.sqlite and only_keys is None:
        limit = min(limit, CLAIM_AHEAD_PG * max(1, ctx.settings.max_concurrent_posts))
    rows = await _claim(ctx, only_keys=only_keys, limit=limit)
    if not rows:
        return report
    report.may_have_more = len(rows) >= limit
    pacer = _ChannelPacer(ctx.settings.per_channel_interval_s)
    # Periods that may hold a row due within the grace window (read once per delivery).
    earliest = ctx.clock() - timedelta(hours=ctx.settings.grace_hours, days=1)
    quiet_periods = await quiet.periods(ctx, ending_from=quiet.local_day(ctx, earliest))
    languages = await channels.languages(ctx, (row.channel_id for row, _ in rows))
    await _prepare_platforms(ctx, [row.channel_id for row, _ in rows])
    gate = asyncio.Semaphore(ctx.settings.max_concurrent_posts)
    recorder = _Recorder(ctx.db)
    token = _RECORDER.set(recorder)

    async def one(row: Post, taken_over: bool) -> tuple[str, str]:
        waits: list[asyncio.Future[None]] = []
        _RECORD_WAITS.set(waits)  # this task's own context: its records only
        try:
            async with gate:
                try:
                    outcome = await _deliver_one(
                        ctx,
                        row,
                        pacer,
                        taken_over=taken_over,
                        quiet_periods=quiet_periods,
                        language=languages.get(row.channel_id, DEFAULT_LANGUAGE),
                    )
                except Exception as exc:
                    # A bug or a database hiccup: hand the row back rather than lose it.
                    log.exception("unexpected error delivering %s", row.key)
                    outcome = await _hand_back(ctx, row, f"internal error: {exc}"), row.key
            # The outcome's batch is written with the next ones, no longer holding a place.
            try:
                for written in waits:
                    await written
            except Exception:
                # Left `sending`: once its lease runs out, the take-over looks before posting.
                log.exception("could not record the outcome of %s: left to its lease", row.key)
                return "deferred", row.key
            return outcome
        finally:
            _in_flight(ctx).discard(row.id)

    channel_of = {row.key: row.channel_id for row, _ in rows}
    try:
        outcomes = await asyncio.gather(*(one(r, t) for r, t in rows))
    finally:
        _RECORDER.reset(token)
        await recorder.close()
    for outcome, key in outcomes:
        getattr(report, outcome).append(key)
        metrics.POSTS.labels(_platform_name(ctx, channel_of[key]), outcome).inc()
    return report


async def _prepare_platforms(ctx: Context, channel_ids: list[str]) -> None:
    """Each platform's bulk reads for this batch (`ChatPlatform.prepare`). Only an economy: if
    one fails, each post reads what it needs on its own, so the batch goes on."""
    by_platform: dict[int, tuple[ChatPlatform, list[str]]] = {}
    for channel_id in channel_ids:
        try:
            platform = ctx.platform_for(channel_id)
        except PermanentFailure:
            continue  # its post reports it
        by_platform.setdefault(id(platform), (platform, []))[1].append(channel_id)
    for platform, ids in by_platform.values():
        try:
            await platform.prepare(ids)
        except Exception as exc:
            log.warning(
                "%s: could not read ahead for %d posts (%s); each reads its own",
                platform.name,
                len(ids),
                type(exc).__name__,
            )


def _platform_name(ctx: Context, channel_id: str) -> str:
    try:
        return ctx.platform_for(channel_id).name
    except PermanentFailure:
        return "unknown"
