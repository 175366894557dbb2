"""Collected events, written in batches after the ack, in arrival order.

One write transaction per event caps ingest at a few hundred events a second on SQLite (each
BEGIN IMMEDIATE waits its turn, and each statement hops to aiosqlite's thread). The writer
queues events and applies them a batch per transaction through `collect.apply_changes` (the
one place replies are recorded); if a batch fails (a race with another process on the unique
keys), it applies them one at a time. A single consumer keeps a message's create, edit and
delete in the order they arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.services.collect import ReplyChange, apply_changes, record
from bot.services.context import Context

log = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_QUEUE = 50_000  # about 50 MB of queued events at most; past it, listeners wait

Barrier = Callable[[], Awaitable[Any]]
"""Runs once everything queued before it is written (a purge must not be undone by a
reply queued earlier)."""


async def apply_batch(ctx: Context, changes: Sequence[ReplyChange]) -> None:
    """Apply changes in order, in one transaction; one by one if the batch conflicts."""
    if not changes:
        return
    try:
        async with ctx.db.write() as session:
            await apply_changes(ctx, session, changes)
        return
    except IntegrityError as exc:
        log.info(
            "a batch of %d changes conflicted (%s); applying them one by one", len(changes), exc
        )
    for change in changes:
        try:
            await record(ctx, change)
        except Exception:  # one bad change must not cost the others
            log.exception("could not store a %s in %s", type(change).__name__, change.channel_id)


class ReplyWriter:
    """A queue of reply events and one task that writes them, a batch at a time."""

    def __init__(self, ctx: Context, *, batch_size: int = BATCH_SIZE, max_queue: int = MAX_QUEUE):
        # A weak reference: the writer must not keep a finished context (and its pool) alive.
        self._ctx = weakref.ref(ctx)
        self.batch_size = batch_size
        self._queue: asyncio.Queue[ReplyChange | Barrier] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self.written = 0  # events taken off the queue and applied (or found to be duplicates)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="leaderbot-reply-writer"
            )

    async def submit(self, op: ReplyChange | Barrier) -> None:
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

    async def _write(self, batch: list[ReplyChange | Barrier]) -> None:
        ctx = self._ctx()
        if ctx is None:
            return
        run: list[ReplyChange] = []
        for item in batch:
            if not callable(item):
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
