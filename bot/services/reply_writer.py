"""Collected events, written in batches after the ack, in arrival order.

One write transaction per event caps ingest at a few hundred events a second on SQLite (each
BEGIN IMMEDIATE waits its turn, and each statement hops to aiosqlite's thread). The writer
queues events and applies them a batch per transaction, with the same rules as
`collect.record_reply` / `collect.record_deletion` (tombstones and erased users included); if
a batch fails (a race with another process on the unique keys), it falls back to those, one
event at a time. A single consumer keeps a message's create, edit and delete in the order
they arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.collect import (
    ReplyEvent,
    add_tombstones,
    erased_among,
    record_deletion,
    record_reply,
    tombstoned_among,
    ts_to_datetime,
)
from bot.services.context import Context
from bot.store.models import Post, ProcessedEvent, Reply

log = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_QUEUE = 50_000  # about 50 MB of queued events at most; past it, listeners wait
IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's limits


@dataclass(frozen=True)
class Deletion:
    channel_id: str
    ts: str
    event_id: str | None = None


Barrier = Callable[[], Awaitable[Any]]
"""Runs once everything queued before it is written (a purge must not be undone by a
reply queued earlier)."""

Op = ReplyEvent | Deletion


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


async def _seen_event_ids(session: AsyncSession, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for chunk in _chunks(ids):
        rows = await session.scalars(
            select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(chunk))
        )
        seen.update(rows.all())
    return seen


async def _question_posts(
    session: AsyncSession, threads: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sorted({ts for _, ts in threads})):
        rows = await session.execute(
            select(Post.id, Post.channel_id, Post.ts).where(
                Post.ts.in_(chunk), Post.kind == "question", Post.status == "sent"
            )
        )
        for post_id, channel_id, ts in rows.all():
            if (channel_id, ts) in threads:
                found[(channel_id, ts)] = post_id
    return found


async def _stored_replies(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Reply]:
    found: dict[tuple[str, str], Reply] = {}
    for chunk in _chunks(sorted({ts for _, ts in keys})):
        for reply in (await session.scalars(select(Reply).where(Reply.ts.in_(chunk)))).all():
            if (reply.channel_id, reply.ts) in keys:
                found[(reply.channel_id, reply.ts)] = reply
    return found


async def _apply(session: AsyncSession, ctx: Context, ops: Sequence[Op]) -> None:
    now = ctx.clock()
    seen = await _seen_event_ids(session, [op.event_id for op in ops if op.event_id])
    fresh: list[Op] = []
    for op in ops:
        if op.event_id:
            if op.event_id in seen:
                continue  # a retry or a replay
            seen.add(op.event_id)
            session.add(ProcessedEvent(event_id=op.event_id, received_at=now))
        fresh.append(op)
    posts = await _question_posts(
        session, {(op.channel_id, op.thread_ts) for op in fresh if isinstance(op, ReplyEvent)}
    )
    keys = {(op.channel_id, op.ts) for op in fresh}
    rows: dict[tuple[str, str], Reply | None] = dict(await _stored_replies(session, keys))
    # Deleted messages (before this batch, or earlier in it) and erased users' messages are
    # not stored again, as in collect.record_reply.
    tombstoned = await tombstoned_among(session, keys)
    erased = await erased_among(session, {op.user_id for op in fresh if isinstance(op, ReplyEvent)})
    deleted: list[tuple[str, str]] = []
    for op in fresh:
        key = (op.channel_id, op.ts)
        row = rows.get(key)
        if isinstance(op, Deletion):
            if row is not None:
                if row in session.new:
                    session.expunge(row)
                else:
                    await session.delete(row)
                rows[key] = None
            if key not in tombstoned:
                tombstoned.add(key)
                deleted.append(key)
            continue
        post_id = posts.get((op.channel_id, op.thread_ts))
        if post_id is None:
            continue  # a thread that is not one of our questions
        if key in tombstoned or op.user_id in erased:
            continue  # deleted before this copy arrived, or its author was erased
        if row is None:
            rows[key] = row = Reply(
                post_id=post_id,
                channel_id=op.channel_id,
                team_id=op.team_id,
                user_id=op.user_id,
                text=op.text,
                ts=op.ts,
                thread_ts=op.thread_ts,
                edited=op.edited,
                posted_at=ts_to_datetime(op.ts),
                updated_at=now,
            )
            session.add(row)
        elif row.edited and not op.edited:
            continue  # the original arrived after its edit: keep the edit
        elif row.text != op.text or op.edited:
            row.text = op.text
            row.edited = row.edited or op.edited
            row.updated_at = now
    await add_tombstones(session, deleted, now)


async def _apply_one(ctx: Context, op: Op) -> None:
    if isinstance(op, Deletion):
        await record_deletion(ctx, op.channel_id, op.ts, event_id=op.event_id)
    else:
        await record_reply(ctx, op)


async def apply_batch(ctx: Context, ops: Sequence[Op]) -> None:
    """Apply events in order, in one transaction; one by one if the batch conflicts."""
    if not ops:
        return
    try:
        async with ctx.db.write() as session:
            await _apply(session, ctx, ops)
        return
    except IntegrityError as exc:
        log.info("a batch of %d events conflicted (%s); applying them one by one", len(ops), exc)
    for op in ops:
        try:
            await _apply_one(ctx, op)
        except Exception:  # one bad event must not cost the others
            log.exception("could not store %r", op)


class ReplyWriter:
    """A queue of reply events and one task that writes them, a batch at a time."""

    def __init__(self, ctx: Context, *, batch_size: int = BATCH_SIZE, max_queue: int = MAX_QUEUE):
        # A weak reference: the writer must not keep a finished context (and its pool) alive.
        self._ctx = weakref.ref(ctx)
        self.batch_size = batch_size
        self._queue: asyncio.Queue[Op | Barrier] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self.written = 0  # events taken off the queue and applied (or found to be duplicates)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="leaderbot-reply-writer"
            )

    async def submit(self, op: Op | Barrier) -> None:
        """Queue an event (or a barrier); waits only if the queue is full."""
        self._ensure_running()
        await self._queue.put(op)

    async def after_pending(self, fn: Barrier) -> None:
        """Run `fn` once every event queued so far is written; returns when it has run."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def barrier() -> None:
            try:
                await fn()
            finally:
                if not done.done():
                    done.set_result(None)

        await self.submit(barrier)
        await done

    async def drain(self) -> None:
        """Wait until everything queued so far is written."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        """Write what is queued, then stop."""
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.exception("could not write %d collected events", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[Op | Barrier]) -> None:
        ctx = self._ctx()
        if ctx is None:
            return
        run: list[Op] = []
        for item in batch:
            if isinstance(item, ReplyEvent | Deletion):
                run.append(item)
                continue
            await apply_batch(ctx, run)
            self.written += len(run)
            run = []
            try:
                await item()
            except Exception:
                log.exception("a queued task failed")
        await apply_batch(ctx, run)
        self.written += len(run)


# One writer per context. Context is an unhashable dataclass, so the key is its id, and a
# finalizer drops the entry when the context goes.
_WRITERS: dict[int, ReplyWriter] = {}


def writer_for(ctx: Context) -> ReplyWriter:
    writer = _WRITERS.get(id(ctx))
    if writer is not None and writer._ctx() is ctx:
        return writer
    writer = ReplyWriter(ctx)
    _WRITERS[id(ctx)] = writer
    weakref.finalize(ctx, _WRITERS.pop, id(ctx), None)
    return writer
