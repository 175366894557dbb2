"""Setting, pausing and listing weekly schedules (questions and digests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select

from bot.domain.schedule import DAY_NAMES, Occurrence, WeeklyRule, next_occurrence
from bot.services import audit
from bot.services.channels import ensure_channel
from bot.services.context import Context
from bot.services.planning import rule_of
from bot.store.models import Post, Schedule

Kind = Literal["question", "digest"]
DEFAULT_DIGEST_WEEKDAY = 4  # Friday
DEFAULT_DIGEST_TIME = "16:00"


class ScheduleError(ValueError):
    """A change that cannot be made; the message says what to do instead."""


def snapshot(schedule: Schedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {
        "kind": schedule.kind,
        "day": DAY_NAMES[schedule.weekday],
        "time": schedule.time,
        "timezone": schedule.timezone,
        "nation": schedule.nation,
        "holiday_policy": schedule.holiday_policy,
        "paused_until": schedule.paused_until.isoformat() if schedule.paused_until else None,
        "enabled": schedule.enabled,
        "target_channel_id": schedule.target_channel_id,
        "nudge_after_days": schedule.nudge_after_days,
    }


async def _get(session: Any, channel_id: str, kind: Kind) -> Schedule | None:
    return await session.scalar(
        select(Schedule).where(Schedule.channel_id == channel_id, Schedule.kind == kind)
    )


def _audit(
    session: Any,
    ctx: Context,
    actor: str,
    action: str,
    schedule: Schedule,
    before: dict[str, Any] | None,
) -> None:
    audit.record(
        session,
        ctx,
        actor=actor,
        action=f"{schedule.kind}.{action}",
        channel_id=schedule.channel_id,
        before=before,
        after=snapshot(schedule),
    )


def _changed(ctx: Context) -> None:
    if ctx.schedule_changed is not None:
        ctx.schedule_changed()


async def set_schedule(
    ctx: Context,
    channel_id: str,
    *,
    weekday: int,
    time: str,
    timezone: str | None = None,
    kind: Kind = "question",
    nation: str | None = None,
    holiday_policy: str | None = None,
    target_channel_id: str | None = None,
    nudge_after_days: int | Literal["keep"] | None = "keep",
    actor: str = "cli",
    channel_name: str | None = None,
    workspace_id: str | None = None,
) -> Schedule:
    """Set the channel's weekly schedule of `kind` (a question also gets the default digest
    if it has none), recording the channel (with its name and workspace, when given)."""
    rule = WeeklyRule(  # validates day, time, zone and nation before anything is written
        weekday=weekday,
        time=time,
        timezone=timezone or ctx.settings.timezone,
        nation=nation or "england-and-wales",
        holiday_policy="skip" if holiday_policy == "skip" else "move",
    )
    now = ctx.clock()
    async with ctx.db.write() as session:
        await ensure_channel(session, ctx, channel_id, name=channel_name, workspace_id=workspace_id)
        schedule = await _get(session, channel_id, kind)
        before = snapshot(schedule)
        if schedule is None:
            schedule = Schedule(channel_id=channel_id, kind=kind, created_at=now)
            schedule.nudge_after_days = 2 if kind == "question" else None
            session.add(schedule)
        schedule.weekday = rule.weekday
        schedule.time = rule.time
        schedule.timezone = rule.timezone
        schedule.nation = nation or schedule.nation or rule.nation
        schedule.holiday_policy = holiday_policy or schedule.holiday_policy or "move"
        schedule.enabled = True
        schedule.paused_until = None
        schedule.updated_at = now
        if target_channel_id is not None:
            schedule.target_channel_id = target_channel_id
        if nudge_after_days != "keep":
            schedule.nudge_after_days = nudge_after_days
        await session.flush()
        _audit(session, ctx, actor, "schedule", schedule, before)
        if kind == "question" and await _get(session, channel_id, "digest") is None:
            # Every question gets a digest unless someone says otherwise: Friday 16:00.
            digest = Schedule(
                channel_id=channel_id,
                kind="digest",
                weekday=DEFAULT_DIGEST_WEEKDAY,
                time=DEFAULT_DIGEST_TIME,
                timezone=schedule.timezone,
                nation=schedule.nation,
                holiday_policy=schedule.holiday_policy,
                enabled=True,
                nudge_after_days=None,
                created_at=now,
                updated_at=now,
            )
            session.add(digest)
            _audit(session, ctx, actor, "schedule", digest, None)
    _changed(ctx)
    return schedule


async def _update(
    ctx: Context, channel_id: str, kind: Kind, action: str, actor: str, **values: Any
) -> Schedule:
    async with ctx.db.write() as session:
        schedule = await _get(session, channel_id, kind)
        if schedule is None:
            raise ScheduleError(
                f"{channel_id} has no {kind} schedule yet: set one first, e.g. "
                f"`leaderbot schedule --channel {channel_id} --day mon --time 09:00`"
            )
        before = snapshot(schedule)
        for name, value in values.items():
            setattr(schedule, name, value)
        schedule.updated_at = ctx.clock()
        await session.flush()
        _audit(session, ctx, actor, action, schedule, before)
    _changed(ctx)
    return schedule


async def turn_off(ctx: Context, channel_id: str, *, kind: Kind = "question", actor: str = "cli"):
    return await _update(ctx, channel_id, kind, "off", actor, enabled=False)


async def pause(
    ctx: Context,
    channel_id: str,
    *,
    until: date | None,
    kind: Kind = "question",
    actor: str = "cli",
) -> Schedule:
    """Pause until a date (exclusive: it posts again on that date), or indefinitely."""
    if until is not None and until <= ctx.clock().date():
        raise ScheduleError(f"{until.isoformat()} is not in the future: give a later date")
    if until is None:
        return await _update(ctx, channel_id, kind, "pause", actor, enabled=False)
    return await _update(ctx, channel_id, kind, "pause", actor, paused_until=until)


async def resume(
    ctx: Context, channel_id: str, *, kind: Kind = "question", actor: str = "cli"
) -> Schedule:
    return await _update(ctx, channel_id, kind, "resume", actor, enabled=True, paused_until=None)


def upcoming(schedule: Schedule, now: datetime) -> Occurrence | None:
    """The schedule's next occurrence after `now`; None if it is off."""
    return next_occurrence(rule_of(schedule), now) if schedule.enabled else None


@dataclass(frozen=True)
class ScheduleView:
    schedule: Schedule
    next: Occurrence | None
    last_posts: list[Post]  # newest first: sent, missed, skipped, failed...

    @property
    def state(self) -> str:
        s = self.schedule
        if not s.enabled:
            return "off"
        if s.paused_until is not None:
            return f"paused until {s.paused_until.isoformat()}"
        return "active"


async def list_schedules(
    ctx: Context, *, channel_id: str | None = None, history: int = 5
) -> list[ScheduleView]:
    now = ctx.clock()
    async with ctx.db.read() as session:
        query = select(Schedule).order_by(Schedule.channel_id, Schedule.kind)
        if channel_id is not None:
            query = query.where(Schedule.channel_id == channel_id)
        views: list[ScheduleView] = []
        for schedule in (await session.scalars(query)).all():
            posts = (
                (
                    await session.scalars(
                        select(Post)
                        .where(Post.schedule_id == schedule.id)
                        .order_by(Post.due_at.desc())
                        .limit(history)
                    )
                ).all()
                if history > 0
                else []
            )
            views.append(ScheduleView(schedule, upcoming(schedule, now), list(posts)))
    return views
