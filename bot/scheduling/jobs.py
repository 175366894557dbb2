"""What the scheduler runs. Features add their planners and periodic jobs here.

A planner records what is due into the outbox (it never posts); the tick then delivers
everything due. Keeping planning and delivery apart is what lets any number of ticks, from any
number of processes, run safely.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.services import outbox
from bot.services.ask import plan_questions
from bot.services.context import Context

log = logging.getLogger(__name__)

Planner = Callable[[Context], Awaitable[object]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    seconds: float
    run: Callable[[Context], Awaitable[object]]


def planners() -> list[Planner]:
    found: list[Planner] = [plan_questions]
    for module_name, attr in OPTIONAL_PLANNERS:
        fn = _optional(module_name, attr)
        if fn is not None:
            found.append(fn)
    return found


def periodic_jobs() -> list[PeriodicJob]:
    jobs: list[PeriodicJob] = []
    for name, seconds, module_name, attr in OPTIONAL_PERIODIC:
        fn = _optional(module_name, attr)
        if fn is not None:
            jobs.append(PeriodicJob(name, seconds, fn))
    return jobs


# Features that plug in: (module, function). Looked up by name so each feature stays in its
# own module and this file needs no edit beyond one line.
OPTIONAL_PLANNERS: list[tuple[str, str]] = [
    ("bot.services.digest", "plan_digests"),
    ("bot.services.nudge", "plan_nudges"),
]
OPTIONAL_PERIODIC: list[tuple[str, float, str, str]] = [
    ("feeds", 60.0, "bot.watch.watcher", "run_cycle"),
    ("retention", 3600.0, "bot.services.privacy", "purge_expired"),
]


def _optional(module_name: str, attr: str) -> Callable[[Context], Awaitable[object]] | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return None
    return getattr(module, attr, None)


async def tick(ctx: Context) -> outbox.DeliveryReport:
    """Plan everything due, then deliver it. Safe to run concurrently and repeatedly."""
    for planner in planners():
        try:
            await planner(ctx)
        except Exception:
            log.exception("planner %s failed; the others carry on", planner.__name__)
    report = await outbox.deliver_due(ctx)
    if report.sent or report.found or report.failed or report.missed:
        log.info(
            "tick: %d sent, %d found, %d missed, %d failed, %d deferred",
            len(report.sent),
            len(report.found),
            len(report.missed),
            len(report.failed),
            len(report.deferred),
        )
    return report
