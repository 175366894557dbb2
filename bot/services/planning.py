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
from bot.store.models import Schedule

log = logging.getLogger(__name__)

# How far back a restarted bot looks for occurrences it has not yet recorded.
CATCH_UP_WINDOW = timedelta(days=35)

# Given a schedule and a postable occurrence: the row's extra columns (question_id, payload…)
RowDetails = Callable[[Schedule, Occurrence], Awaitable[dict[str, Any]]]
# The same for many at once, in order (one query for all of them rather than one each).
BatchDetails = Callable[[list[tuple[Schedule, Occurrence]]], Awaitable[list[dict[str, Any]]]]

KEY_CHUNK = outbox.KEY_CHUNK


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


async def plan(
    ctx: Context,
    kind: str,
    details: RowDetails | None = None,
    *,
    batch_details: BatchDetails | None = None,
    schedule_ids: list[int] | None = None,
) -> list[str]:
    """Record every occurrence of `kind` now due (or missed, or skipped) not yet recorded.

    Returns the keys of the pending rows recorded, in due order. One pass for every schedule:
    one read of the schedules, one look-up of the keys already recorded, the new rows' details
    (`batch_details` for all of them at once, else `details` one by one), and one write
    transaction that inserts them all (`outbox.enqueue_many`). The unique key per (schedule,
    nominal date), enforced by the insert itself, makes this safe to run from any number of
    processes, any number of times.
    """
    now = ctx.clock()
    grace = timedelta(hours=ctx.settings.grace_hours)
    async with ctx.db.read() as session:
        query = select(Schedule).where(Schedule.kind == kind, Schedule.enabled.is_(True))
        if schedule_ids is not None:
            query = query.where(Schedule.id.in_(schedule_ids))
        schedules = list((await session.scalars(query)).all())
    candidates: list[tuple[Schedule, Occurrence, str]] = []
    for schedule in schedules:
        # Only occurrences after the rule last changed: a new or edited schedule does not
        # fire for times before it existed, and resuming does not replay paused weeks.
        start = max(schedule.updated_at, now - CATCH_UP_WINDOW)
        for occ in occurrences_between(rule_of(schedule), start, now + timedelta(microseconds=1)):
            candidates.append((schedule, occ, occurrence_key(schedule, occ)))
    if not candidates:
        return []
    recorded = await outbox.recorded_keys(ctx, [key for _, _, key in candidates])
    rows: list[dict[str, Any]] = []
    pending: list[tuple[Schedule, Occurrence, dict[str, Any]]] = []
    for schedule, occ, key in sorted(candidates, key=lambda c: (c[1].due_at, c[0].id)):
        if key in recorded:
            continue
        common: dict[str, Any] = {
            "key": key,
            "kind": schedule.kind,
            "channel_id": schedule.target_channel_id or schedule.channel_id,
            "due_at": occ.due_at,
            "schedule_id": schedule.id,
            "occurrence": occ.nominal,
        }
        if not occ.postable:
            rows.append(common | {"status": "skipped", "error": occ.note})
        elif now - occ.due_at > grace:
            window = f"{ctx.settings.grace_hours:g} h"
            error = f"bot was down; past the {window} grace window"
            rows.append(common | {"status": "missed", "error": error})
        else:
            pending.append((schedule, occ, common))
    if pending:
        pairs = [(schedule, occ) for schedule, occ, _ in pending]
        if batch_details is not None:
            extras = await batch_details(pairs)
        elif details is not None:
            extras = [await details(schedule, occ) for schedule, occ in pairs]
        else:
            extras = [{} for _ in pairs]
        rows.extend(common | extra for (_, _, common), extra in zip(pending, extras, strict=True))
    if not rows:
        return []
    inserted = set(await outbox.enqueue_many(ctx, rows))
    new_keys: list[str] = []
    for row in rows:
        if row["key"] not in inserted:
            continue  # another process recorded it first
        status = row.get("status", "pending")
        if status == "pending":
            new_keys.append(row["key"])
            log.debug("recorded %s (pending) for %s", row["key"], row["channel_id"])
        else:
            log.info(
                "recorded %s (%s) for %s: %s", row["key"], status, row["channel_id"], row["error"]
            )
    if new_keys:
        log.info("planned %d %s post(s) in one transaction", len(new_keys), kind)
    return new_keys
