"""The reads and writes the commands share: a channel's schedule and when it is next due, the
channel's own row, and a command's audit entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.domain.language import ENGLISH, Translator
from bot.services import audit
from bot.services import schedules as schedule_service
from bot.services.admin.formats import when
from bot.services.admin.replies import Invocation
from bot.services.admin.targets import Where
from bot.services.channels import ensure_channel
from bot.services.context import Context
from bot.store.models import Schedule


async def find_schedule(
    ctx: Context, channel_id: str, kind: schedule_service.Kind
) -> Schedule | None:
    async with ctx.db.read() as session:
        return await session.scalar(
            select(Schedule).where(Schedule.channel_id == channel_id, Schedule.kind == kind)
        )


async def find_schedules(ctx: Context, channel_id: str) -> dict[str, Schedule]:
    """The channel's schedules by kind ("question", "digest"), in one query."""
    async with ctx.db.read() as session:
        rows = await session.scalars(select(Schedule).where(Schedule.channel_id == channel_id))
        return {row.kind: row for row in rows.all()}


async def next_due(ctx: Context, schedule: Schedule, t: Translator = ENGLISH) -> str | None:
    """When the schedule next posts, as people in its zone read it; None if it won't.
    From the row in hand (just read or written): what `list_schedules` would say, unread."""
    upcoming = schedule_service.upcoming(schedule, ctx.clock())
    return None if upcoming is None else when(upcoming.due_at, schedule.timezone, t)


async def next_sentence(ctx: Context, schedule: Schedule, t: Translator = ENGLISH) -> str:
    """A reply's ending naming when the schedule next posts; nothing if it won't."""
    nxt = await next_due(ctx, schedule, t)
    return t.gettext(" Next: {when}.").format(when=nxt) if nxt else ""


async def remember_channel(ctx: Context, where: Where, inv: Invocation) -> None:
    """Record the channel with its name and workspace (uninstall purges by workspace)."""
    async with ctx.db.write() as session:
        await ensure_channel(session, ctx, where.id, name=where.name, workspace_id=inv.workspace_id)


async def set_weekly(
    ctx: Context,
    where: Where,
    inv: Invocation,
    *,
    kind: schedule_service.Kind,
    weekday: int,
    time: str,
    timezone: str | None,
    target_channel_id: str | None = None,
) -> Schedule:
    """Record the channel and set its weekly question or digest (audited as the person), in
    one transaction."""
    return await schedule_service.set_schedule(
        ctx,
        where.id,
        channel_name=where.name,
        workspace_id=inv.workspace_id,
        weekday=weekday,
        time=time,
        timezone=timezone,
        kind=kind,
        target_channel_id=target_channel_id,
        actor=inv.user_id,
    )


async def record(
    ctx: Context,
    inv: Invocation,
    action: str,
    channel_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """The audit entry of a post made on request (`ask`, `digest now`)."""
    async with ctx.db.write() as session:
        audit.record(
            session,
            ctx,
            actor=inv.user_id,
            action=action,
            channel_id=channel_id,
            before=before,
            after=after,
            workspace_id=inv.workspace_id,
        )
