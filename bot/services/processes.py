"""Live processes: each registered process beats its row in `processes` every few seconds.

A post claimed by a process that has died (kill -9, a lost host) is then taken over as soon as
its beat is `process_stale_s` old (10 s by default), not when its 120 s send lease runs out;
a clean stop marks the row stopped (and beats no more: what it left `sending` is taken over
10 s later, time enough for a request it had in flight to land before the look). A live
process keeps beating, so its claims are never taken over before their lease (the outbox's
`dead_sender`). The beat loop also notices claims held by a dead process and delivers them
straight away, without waiting for the next sweep.

Every process that can claim posts registers: `leaderbot run`, and each CLI command for its
duration. A process with no row at all (an older version, a tool) is not presumed dead: its
claims keep their lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, select

from bot.services import outbox
from bot.services.context import Context
from bot.store.db import conflict_insert
from bot.store.models import Post, ProcessRow

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(days=1)  # a row this stale is deleted (its claims' leases are long out)
REAP_EVERY = 100  # beats between two clean-ups of forgotten rows
RECOVERY_POLL_S = 1.0  # how often `leaderbot run` looks for claims held by a dead process
TAKE_OVER_ROUNDS = 100  # deliveries per take-over at most (each claims up to its share)


async def beat(ctx: Context, *, owner: str = outbox.OWNER, stopped: bool = False) -> None:
    """Insert or refresh this process's row (or mark it stopped)."""
    now = ctx.clock()
    values: dict[str, datetime | None] = {
        "heartbeat_at": now,
        "stopped_at": now if stopped else None,
    }
    async with ctx.db.write() as session:
        statement = conflict_insert(session, ProcessRow).values(
            owner=owner, started_at=now, **values
        )
        statement = statement.on_conflict_do_update(index_elements=["owner"], set_=values)
        await session.execute(statement)


async def forget_old(ctx: Context) -> None:
    """Delete the rows of processes gone for more than FORGET_AFTER."""
    async with ctx.db.write() as session:
        await session.execute(
            delete(ProcessRow).where(ProcessRow.heartbeat_at < ctx.clock() - FORGET_AFTER)
        )


async def orphaned_claims(ctx: Context) -> bool:
    """Whether a `sending` post is held by a process known to be gone (and whose leases may
    not have run out yet: older ones are the sweep's). The posts are looked at only when such
    a process exists (the processes table is tiny)."""
    now = ctx.clock()
    stale = timedelta(seconds=ctx.settings.process_stale_s)
    recent = now - stale - timedelta(seconds=ctx.settings.send_lease_s) - stale
    async with ctx.db.read() as session:
        died = await session.scalar(
            select(ProcessRow.owner)
            .where(
                ProcessRow.owner != outbox.OWNER,
                ProcessRow.heartbeat_at < now - stale,
                ProcessRow.heartbeat_at >= recent,
            )
            .limit(1)
        )
        if died is None:
            return False
        found = await session.scalar(
            select(Post.id)
            .where(and_(Post.status == "sending", outbox.dead_sender(ctx, now)))
            .limit(1)
        )
    return found is not None


class Heartbeat:
    """The beat loop of one process (see `alive`)."""

    def __init__(self, ctx: Context, *, recover: bool) -> None:
        self.ctx = ctx
        self.recover = recover
        self._recovery: asyncio.Task[None] | None = None
        self.beats = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.ctx.settings.heartbeat_s
        # Orphaned claims are looked for more often than we beat (one indexed read): a dead
        # process's posts go out within about a second of its beat going stale.
        tick = min(RECOVERY_POLL_S, interval) if self.recover else interval
        next_beat = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, min(tick, next_beat - loop.time())))
            try:
                if loop.time() >= next_beat:
                    next_beat = loop.time() + interval
                    await beat(self.ctx)
                    self.beats += 1
                    if self.beats % REAP_EVERY == 0:
                        await forget_old(self.ctx)
                idle = self._recovery is None or self._recovery.done()
                if self.recover and idle and await orphaned_claims(self.ctx):
                    # Its own task: a long fan-out must never hold up the next beat.
                    self._recovery = asyncio.create_task(self._deliver())
            except Exception as exc:
                log.warning("heartbeat failed: %s: %s", type(exc).__name__, exc)

    async def _deliver(self) -> None:
        try:
            report = outbox.DeliveryReport()
            for _ in range(TAKE_OVER_ROUNDS):
                report.merge(await outbox.deliver_due(self.ctx))
                if not report.may_have_more:
                    break
        except Exception:
            log.exception("taking over the posts of a dead process failed; the sweep retries")
        else:
            if report.sent or report.found:
                log.info(
                    "took over from a dead process: %d sent, %d found already there",
                    len(report.sent),
                    len(report.found),
                )

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)


@contextlib.asynccontextmanager
async def alive(ctx: Context, *, recover: bool = True) -> AsyncIterator[Heartbeat]:
    """Register this process for the duration: a first beat now, then every `heartbeat_s`;
    marked stopped at a clean exit. With `recover`, the beat loop also delivers at once what a
    dead process left `sending` (for `leaderbot run`; a one-shot command leaves that to it)."""
    await beat(ctx)
    heartbeat = Heartbeat(ctx, recover=recover)
    task = asyncio.create_task(heartbeat.run())
    try:
        yield heartbeat
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await heartbeat.stop()
        try:
            await beat(ctx, stopped=True)
        except Exception as exc:  # the database is gone: our claims keep their lease
            log.warning("could not mark this process stopped: %s: %s", type(exc).__name__, exc)
