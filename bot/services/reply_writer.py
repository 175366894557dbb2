"""Collected events, written in batches (group commit), in arrival order.

One write transaction per event caps ingest at a few hundred events a second on SQLite (each
BEGIN IMMEDIATE waits its turn, and each statement hops to aiosqlite's thread). The writer
queues events and applies them a batch per transaction through `collect.apply_changes` (the
one place replies are recorded); if a batch fails (a race with another process on the unique
keys), it applies them one at a time. A single consumer keeps a message's create, edit and
delete in the order they arrived.

An acknowledged reply is a stored reply: `store` returns only once the transaction holding its
event has committed (group commit: while one batch commits, the next one gathers every event
that arrives meanwhile, so a busy writer commits large batches and an idle one commits at
once). An adapter awaits `store` before it acknowledges its platform, so a crash (kill -9)
after the ack cannot lose the reply; if the write fails, `store` raises and the platform is
not acknowledged (it retries; the event id dedupes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.services.collect import ReplyChange, apply_changes, record
from bot.services.context import Context

log = logging.getLogger(__name__)

BATCH_SIZE = 500
LINGER_S = 0.003  # a batch waits at most this long for company (requests arriving together)
LINGER_STEP_S = 0.001  # ... and stops waiting after a step in which nothing arrived
MAX_QUEUE = 50_000  # about 50 MB of queued events at most; past it, listeners wait

Barrier = Callable[[], Awaitable[Any]]
"""Runs once everything queued before it is written (a purge must not be undone by a
reply queued earlier)."""

_Item = tuple[ReplyChange | Barrier, "asyncio.Future[None]"]
"""A queued change or barrier, and the future its submitter may await."""


async def apply_batch(ctx: Context, changes: Sequence[ReplyChange]) -> list[BaseException | None]:
    """Apply changes in order, in one transaction; one by one if the batch conflicts.
    Returns, for each change, None once it is committed (or found to be a duplicate), or the
    error that kept it from being written."""
    if not changes:
        return []
    try:
        async with ctx.db.write() as session:
            await apply_changes(ctx, session, changes)
        return [None] * len(changes)
    except IntegrityError as exc:
        log.info(
            "a batch of %d changes conflicted (%s); applying them one by one", len(changes), exc
        )
    errors: list[BaseException | None] = []
    for change in changes:
        try:
            await record(ctx, change)
            errors.append(None)
        except Exception as exc:  # one bad change must not cost the others
            log.exception("could not store a %s in %s", type(change).__name__, change.channel_id)
            errors.append(exc)
    return errors


class ReplyWriter:
    """A queue of reply events and one task that writes them, a batch at a time."""

    def __init__(
        self,
        ctx: Context,
        *,
        batch_size: int = BATCH_SIZE,
        max_queue: int = MAX_QUEUE,
        linger_s: float = LINGER_S,
    ):
        # A weak reference: the writer must not keep a finished context (and its pool) alive.
        self._ctx = weakref.ref(ctx)
        self.batch_size = batch_size
        self.linger_s = linger_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self.written = 0  # events taken off the queue and applied (or found to be duplicates)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="leaderbot-reply-writer"
            )

    async def submit(self, op: ReplyChange | Barrier) -> asyncio.Future[None]:
        """Queue an event (or a barrier); waits only if the queue is full. Returns a future
        that is done once the event is written (its batch committed), or fails with the
        error that kept it from being written."""
        self._ensure_running()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((op, done))
        return done

    async def store(self, change: ReplyChange) -> None:
        """Queue a change and return once it is durably written (see the module's notes).
        Raises if it could not be written."""
        done = await self.submit(change)
        await asyncio.shield(done)  # a cancelled request must not un-write its batch

    async def after_pending(self, fn: Barrier) -> None:
        """Run `fn` once every event queued so far is written; returns when it has run."""
        await (await self.submit(fn))

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

    async def _gather(self) -> list[_Item]:
        """The next batch: what is queued, and what arrives while more keeps arriving. Requests
        arrive together, so waiting makes one commit of many; but once a step brings nothing
        (every sender is waiting for its ack), waiting longer only delays the commit."""
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.linger_s
        while len(batch) < self.batch_size:
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if len(batch) >= self.batch_size or loop.time() >= deadline:
                break
            before = self._queue.qsize()
            await asyncio.sleep(LINGER_STEP_S)
            if self._queue.qsize() == before:
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._gather()
            try:
                await self._write(batch)
            except (SQLAlchemyError, OSError) as exc:
                # The database's failure, not a bug: one line (each sender is told, and its
                # platform retries).
                log.error("could not write %d collected events: %r", len(batch), exc)
                _settle([done for _, done in batch], exc)
            except Exception as exc:
                log.exception("could not write %d collected events", len(batch))
                _settle([done for _, done in batch], exc)
            finally:
                _settle([done for _, done in batch], None)  # the ones not settled yet
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[_Item]) -> None:
        ctx = self._ctx()
        if ctx is None:
            _settle([done for _, done in batch], RuntimeError("the bot is shutting down"))
            return
        run: list[_Item] = []

        async def flush() -> None:
            changes = [op for op, _ in run if not callable(op)]
            errors = await apply_batch(ctx, changes)
            self.written += len(changes)
            for (_, done), error in zip(run, errors, strict=True):
                _settle([done], error)
            run.clear()

        for op, done in batch:
            if not callable(op):
                run.append((op, done))
                continue
            await flush()
            try:
                await op()
            except Exception as exc:
                log.exception("a queued task failed")
                _settle([done], exc)
            _settle([done], None)
        await flush()


def _settle(futures: Sequence[asyncio.Future[None]], error: BaseException | None) -> None:
    """Finish the futures not finished yet: with `error`, or as written."""
    for done in futures:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
            # Nobody may be waiting (a caller of `submit` alone): do not warn about that.
            done.add_done_callback(lambda f: f.exception())


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
