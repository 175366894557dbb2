"""What the scheduler runs: the planners and the periodic jobs, listed.

A planner records what is due into the outbox (it never posts); the tick then delivers
everything due. Keeping planning and delivery apart is what lets any number of ticks, from any
number of processes, run safely.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.services import outbox
from bot.services.ask import plan_questions
from bot.services.context import Context
from bot.services.digest import plan_digests
from bot.services.nudge import plan_nudges
from bot.services.privacy import purge_expired
from bot.watch.cycle import run_cycle

log = logging.getLogger(__name__)

Planner = Callable[[Context], Awaitable[object]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    seconds: float
    run: Callable[[Context], Awaitable[object]]


DELIVERY_BATCH = 1000  # rows claimed (and sent, concurrently within limits) per delivery round
DELIVERY_ROUNDS = 100  # rounds per tick at most (100,000 posts): the next sweep does the rest

# Everything due is recorded by these, in this order, before each delivery.
PLANNERS: tuple[Planner, ...] = (plan_questions, plan_digests, plan_nudges)

PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("feeds", 60.0, run_cycle),
    PeriodicJob("retention", 3600.0, purge_expired),
)


async def tick(ctx: Context) -> outbox.DeliveryReport:
    """Plan everything due, then deliver it. Safe to run concurrently and repeatedly.

    Delivery claims up to DELIVERY_BATCH rows at a time (fewer on PostgreSQL, where other
    processes share the work); while a delivery claimed all it could there may be more due, so
    it claims again rather than leave the rest to the next sweep (15 s later per batch: 5,000
    questions due at one minute took a minute before this)."""
    for planner in PLANNERS:
        try:
            await planner(ctx)
        except Exception:
            log.exception("planner %s failed; the others carry on", planner.__name__)
    report = outbox.DeliveryReport()
    for _ in range(DELIVERY_ROUNDS):
        batch = await outbox.deliver_due(ctx, limit=DELIVERY_BATCH)
        report.merge(batch)
        if not batch.may_have_more:
            break
    try:
        await outbox.warn_overdue(ctx)
    except Exception:
        log.exception("cannot check for overdue posts")
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
