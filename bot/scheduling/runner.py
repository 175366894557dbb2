"""APScheduler wiring. The database is the source of truth: jobs are rebuilt from it at start
and whenever a schedule changes, and a sweep catches anything a job missed.

One job per distinct due time fires at that exact time (computed by our own domain code,
which knows bank holidays; a cron trigger does not): 200 channels due at 09:00 Monday make one
job, which plans everything due in one pass (one transaction), delivers it, and rebuilds the
jobs once. The sweep runs every few seconds for retries, catch-up after downtime, and changes
made by another process (the CLI).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from bot.domain.schedule import next_occurrence
from bot.scheduling import jobs
from bot.services.context import Context
from bot.services.planning import rule_of
from bot.store.models import Schedule

log = logging.getLogger(__name__)


class BotScheduler:
    def __init__(self, ctx: Context, *, sweep_seconds: float | None = None) -> None:
        self.ctx = ctx
        self.sweep_seconds = sweep_seconds or ctx.settings.sweep_s
        grace_s = max(1, int(ctx.settings.grace_hours * 3600))
        # Our own memory job store, never shared: APScheduler must not share a store between
        # schedulers. misfire_grace_time defaults to 1 s in 3.x; a late job still runs within
        # the grace window (the outbox decides what is too late).
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace_s},
        )
        self._seen_version: tuple[int, object] | None = None
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False
        ctx.schedule_changed = self.request_reload

    async def start(self) -> None:
        self.scheduler.start()
        for job in jobs.PERIODIC_JOBS:
            self.scheduler.add_job(
                self._guarded(job.name, job.run),
                IntervalTrigger(seconds=job.seconds, timezone=UTC),
                id=f"periodic:{job.name}",
            )
        await self.rebuild()
        await self._sweep()  # catch up at once on anything due while we were down
        self.scheduler.add_job(
            self._sweep, IntervalTrigger(seconds=self.sweep_seconds, timezone=UTC), id="sweep"
        )

    async def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def _guarded(self, name: str, fn):  # type: ignore[no-untyped-def]
        async def run() -> None:
            try:
                await fn(self.ctx)
            except Exception:
                log.exception("periodic job %s failed; it runs again next time", name)

        run.__name__ = f"job_{name}"
        return run

    def request_reload(self) -> None:
        """Called when a schedule changes in this process. Requests made while a rebuild runs
        are folded into one more rebuild after it (a burst of changes is not N rebuilds)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = True
            return
        self._reload_task = loop.create_task(self._reload())

    async def _reload(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.rebuild()
            except Exception:
                log.exception("cannot rebuild the schedule jobs; the sweep tries again")
            if not self._reload_again:
                return

    async def _version(self) -> tuple[int, object]:
        async with self.ctx.db.read() as session:
            count, latest = (
                await session.execute(
                    select(func.count(Schedule.id), func.max(Schedule.updated_at))
                )
            ).one()
        return int(count), latest

    async def rebuild(self) -> None:
        """Replace the due-time jobs: one per distinct next occurrence, whatever the number of
        schedules due then."""
        self._seen_version = await self._version()
        now = self.ctx.clock()
        async with self.ctx.db.read() as session:
            schedules = (await session.scalars(select(Schedule))).all()
        due: dict[datetime, list[int]] = defaultdict(list)
        for schedule in schedules:
            if not schedule.enabled:
                continue
            due[next_occurrence(rule_of(schedule), now).due_at].append(schedule.id)
        wanted: set[str] = set()
        for due_at, schedule_ids in due.items():
            job_id = f"due:{due_at.isoformat()}"
            wanted.add(job_id)
            self.scheduler.add_job(
                self._fire,
                DateTrigger(run_date=due_at, timezone=UTC),
                id=job_id,
                args=[due_at],
                kwargs={"schedules": len(schedule_ids)},
                replace_existing=True,
            )
        for job in self.scheduler.get_jobs():
            if job.id.startswith("due:") and job.id not in wanted:
                job.remove()

    def due_jobs(self) -> dict[datetime, int]:
        """The due-time jobs: when each fires, and how many schedules are due then."""
        return {
            job.args[0]: job.kwargs["schedules"]
            for job in self.scheduler.get_jobs()
            if job.id.startswith("due:")
        }

    async def _fire(self, due_at: datetime, schedules: int = 0) -> None:
        """One planning pass and one delivery for everything due at `due_at`."""
        try:
            await jobs.tick(self.ctx)
        except Exception:
            log.exception("scheduled run for %s failed; the sweep retries", due_at.isoformat())
        await self.rebuild()

    async def _sweep(self) -> None:
        try:
            if await self._version() != self._seen_version:
                await self.rebuild()  # changed by another process (the CLI)
            await jobs.tick(self.ctx)
        except Exception:
            log.exception("sweep failed; it runs again in %.0f s", self.sweep_seconds)
