"""APScheduler wiring. The database is the source of truth: jobs are rebuilt from it at start
and whenever a schedule changes, and a sweep catches anything a job missed.

One job per distinct due time fires at that exact time (computed by our own domain code,
which knows bank holidays; a cron trigger does not): 200 channels due at 09:00 Monday make one
job, which plans everything due in one pass (one transaction), delivers it, and rebuilds the
jobs once. The sweep runs every few seconds for retries, catch-up after downtime, and changes
made by another process (the CLI).

A stop waits for the jobs running then (a fan-out finishes and records what it sent), up to
LEADERBOT_SHUTDOWN_GRACE_SECONDS; what still runs after that is cancelled with one line in the
log, and its claimed posts are taken over at the next start (or by another process).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime

import aiohttp
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from bot.domain.schedule import next_occurrence
from bot.port import PlatformError
from bot.scheduling import jobs
from bot.services.context import Context
from bot.services.planning import rule_of
from bot.store.models import Schedule

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 300.0


def is_outage(exc: BaseException) -> bool:
    """A platform or connection failure (Slack unreachable, a 5xx, a timeout): expected in
    operation, worth one line, not a traceback. Anything else is a bug and keeps its
    traceback."""
    return isinstance(
        exc, PlatformError | ConnectionError | TimeoutError | aiohttp.ClientError
    ) or type(exc).__module__.startswith("httpx")


class Backoff:
    """After an outage, skip runs for a while, doubling up to MAX_BACKOFF_S; reset on success."""

    def __init__(self, base_s: float) -> None:
        self.base_s = max(1.0, base_s)
        self.failures = 0
        self.until = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.until

    def failed(self) -> float:
        self.failures += 1
        wait = min(MAX_BACKOFF_S, self.base_s * 2 ** (self.failures - 1))
        self.until = time.monotonic() + wait
        return wait

    def succeeded(self) -> None:
        if self.failures:
            log.info("platform reachable again after %d failed runs", self.failures)
        self.failures = 0
        self.until = 0.0


def log_failure(what: str, exc: Exception, backoff: Backoff | None = None) -> None:
    """One line for an outage, the traceback for anything else. With a backoff (a repeating
    job), an outage also pauses the runs, growing; without one (a due-time job), the sweep
    retries."""
    if not is_outage(exc):
        then = "it runs again next time" if backoff is not None else "the sweep retries"
        log.exception("%s failed; %s", what, then)
        return
    then = "the sweep retries" if backoff is None else f"next try in {backoff.failed():.0f} s"
    log.warning("%s failed: %s: %s; %s", what, type(exc).__name__, exc, then)


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
        self._backoff: dict[str, Backoff] = {}
        self._reload_again = False
        # The jobs running now (their tasks), so that a stop can wait for them.
        self._running: set[asyncio.Task[object]] = set()
        self._stopping = False
        ctx.schedule_changed = self.request_reload

    async def start(self) -> None:
        self.scheduler.start()
        for job in jobs.PERIODIC_JOBS:
            self.scheduler.add_job(
                self._tracked(self._guarded(job.name, job.run, job.seconds)),
                IntervalTrigger(seconds=job.seconds, timezone=UTC),
                id=f"periodic:{job.name}",
            )
        await self.rebuild()
        await self._sweep()  # catch up at once on anything due while we were down
        self.scheduler.add_job(
            self._tracked(self._sweep),
            IntervalTrigger(seconds=self.sweep_seconds, timezone=UTC),
            id="sweep",
        )

    async def shutdown(self, grace_s: float | None = None) -> None:
        """Stop: no job starts from now on; the jobs running finish, for up to `grace_s`
        (LEADERBOT_SHUTDOWN_GRACE_SECONDS), then are cancelled quietly, with one line."""
        if not self.scheduler.running:
            return
        grace_s = self.ctx.settings.shutdown_grace_s if grace_s is None else grace_s
        self._stopping = True
        self.scheduler.pause()
        # A job submitted just before the pause has its task but has not started: one turn of
        # the loop and it has (and is in `_running`), so it is waited for, not cancelled unseen.
        await asyncio.sleep(0)
        running = set(self._running)
        if self._reload_task is not None and not self._reload_task.done():
            running.add(self._reload_task)
        if running:
            log.info("stopping: waiting up to %.0f s for %d running job(s)", grace_s, len(running))
            _, pending = await asyncio.wait(running, timeout=grace_s)
            if pending:
                log.warning(
                    "stopping: %d job(s) still running after %.0f s, cancelled; their claimed "
                    "posts are taken over at the next start",
                    len(pending),
                    grace_s,
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=5)
        self.scheduler.shutdown(wait=False)

    def _tracked(self, fn):  # type: ignore[no-untyped-def]
        """`fn` as a job whose run a stop waits for; cancelled by the stop, it ends quietly
        (the stop has said so), not as a failed job with a traceback."""

        @functools.wraps(fn)
        async def run(*args: object, **kwargs: object) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await fn(*args, **kwargs)
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
            finally:
                self._running.discard(task)

        return run

    def _backoff_for(self, name: str, base_s: float) -> Backoff:
        return self._backoff.setdefault(name, Backoff(base_s))

    def _guarded(self, name: str, fn, seconds: float = 60.0):  # type: ignore[no-untyped-def]
        async def run() -> None:
            backoff = self._backoff_for(f"job:{name}", seconds)
            if not backoff.ready():
                return
            try:
                await fn(self.ctx)
            except Exception as exc:
                log_failure(f"periodic job {name}", exc, backoff)
            else:
                backoff.succeeded()

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
            if self._stopping:
                return
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
                self._tracked(self._fire),
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
        except Exception as exc:
            log_failure(f"scheduled run for {due_at.isoformat()}", exc)
        await self.rebuild()

    async def _sweep(self) -> None:
        backoff = self._backoff_for("sweep", self.sweep_seconds)
        if not backoff.ready():
            return
        try:
            if await self._version() != self._seen_version:
                await self.rebuild()  # changed by another process (the CLI)
            await jobs.tick(self.ctx)
        except Exception as exc:
            log_failure("sweep", exc, backoff)
        else:
            backoff.succeeded()
