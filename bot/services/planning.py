"""Turning weekly schedules into outbox rows: one row per (schedule, occurrence), ever.

Questions and digests are planned the same way; each kind only says what goes in its row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.domain.schedule import Occurrence, WeeklyRule, occurrences_between
from bot.services import outbox
from bot.services.context import Context
from bot.store.models import Post, Schedule

log = logging.getLogger(__name__)

# How far back a restarted bot looks for occurrences it has not yet recorded.
CATCH_UP_WINDOW = timedelta(days=35)

# Given a schedule and a postable occurrence: the row's extra columns (question_id, payload…)
RowDetails = Callable[[Schedule, Occurrence], Awaitable[dict[str, Any]]]


def rule_of(schedule: Schedule) -> WeeklyRule:
    return WeeklyRule(
        weekday=schedule.weekday,
        time=schedule.time,
        timezone=schedule.timezone,
        nation=schedule.nation,
        holiday_policy="skip" if schedule.holiday_policy == "skip" else "move",
        paused_until=schedule.paused_until,
    )


def occurrence_key(schedule: Schedule, occ: Occurrence) -> str:
    return f"{schedule.kind}:{schedule.id}:{occ.nominal.isoformat()}"


async def _record(
    ctx: Context, schedule: Schedule, occ: Occurrence, details: RowDetails
) -> Post | None:
    common: dict[str, Any] = {
        "key": occurrence_key(schedule, occ),
        "kind": schedule.kind,
        "channel_id": schedule.target_channel_id or schedule.channel_id,
        "due_at": occ.due_at,
        "schedule_id": schedule.id,
        "occurrence": occ.nominal,
    }
    if not occ.postable:
        return await outbox.enqueue(ctx, **common, status="skipped", error=occ.note)
    if ctx.clock() - occ.due_at > timedelta(hours=ctx.settings.grace_hours):
        window = f"{ctx.settings.grace_hours:g} h"
        return await outbox.enqueue(
            ctx, **common, status="missed", error=f"bot was down; past the {window} grace window"
        )
    return await outbox.enqueue(ctx, **common, **await details(schedule, occ))


async def plan(
    ctx: Context, kind: str, details: RowDetails, *, schedule_ids: list[int] | None = None
) -> list[str]:
    """Record every occurrence of `kind` now due (or missed, or skipped) not yet recorded.

    Returns the keys of the pending rows recorded. The unique key per (schedule, nominal date)
    makes this safe to run from any number of processes, any number of times.
    """
    now = ctx.clock()
    async with ctx.db.read() as session:
        query = select(Schedule).where(Schedule.kind == kind, Schedule.enabled.is_(True))
        if schedule_ids is not None:
            query = query.where(Schedule.id.in_(schedule_ids))
        schedules = list((await session.scalars(query)).all())
    new_keys: list[str] = []
    for schedule in schedules:
        # Only occurrences after the rule last changed: a new or edited schedule does not
        # fire for times before it existed, and resuming does not replay paused weeks.
        start = max(schedule.updated_at, now - CATCH_UP_WINDOW)
        for occ in occurrences_between(rule_of(schedule), start, now + timedelta(microseconds=1)):
            row = await _record(ctx, schedule, occ, details)
            if row is not None:
                log.info("recorded %s (%s) for %s", row.key, row.status, row.channel_id)
                if row.status == "pending":
                    new_keys.append(row.key)
    return new_keys
