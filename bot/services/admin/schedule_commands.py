"""The weekly question's schedule: `schedule`, `schedule off`, `pause`, `resume`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, Pause, Resume, ScheduleOff, SetSchedule
from bot.services import schedules as schedule_service
from bot.services.admin.channel_settings import find_schedule, next_due, next_sentence, set_weekly
from bot.services.admin.formats import rule_text
from bot.services.admin.replies import Invocation, Outcome, change_made, refused
from bot.services.admin.targets import Where, join
from bot.services.context import Context
from bot.store.models import Schedule


async def _weekly_question(ctx: Context, where: Where, inv: Invocation) -> Schedule | Outcome:
    """The channel's question schedule, or a refusal saying to set one first."""
    existing = await find_schedule(ctx, where.id, "question")
    if existing is None:
        return refused(
            f"{inv.style.channel(where.id)} has no weekly question yet. "
            f"Set one first, e.g. `{SLASH} schedule mon 09:00`."
        )
    return existing


async def set_schedule(ctx: Context, cmd: SetSchedule, where: Where, inv: Invocation) -> Outcome:
    if (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    existing = await find_schedule(ctx, where.id, "question")
    had_digest = await find_schedule(ctx, where.id, "digest") is not None
    schedule = await set_weekly(
        ctx,
        where,
        inv,
        kind="question",
        weekday=cmd.weekday,
        time=cmd.time,
        timezone=cmd.timezone or (existing.timezone if existing else None),
    )
    text = f"Done: the weekly question in {inv.style.channel(where.id)} is {rule_text(schedule)}."
    text += await next_sentence(ctx, schedule)
    if not had_digest:
        text += f" Its digest goes out Fridays at 16:00; `{SLASH} digest DAY TIME` changes that."
    return change_made(text)


async def schedule_off(ctx: Context, cmd: ScheduleOff, where: Where, inv: Invocation) -> Outcome:
    existing = await _weekly_question(ctx, where, inv)
    if isinstance(existing, Outcome):
        return existing
    channel = inv.style.channel(where.id)
    if not existing.enabled:
        return Outcome(
            f"The weekly question in {channel} is already off. `{SLASH} resume` turns it back on."
        )
    await schedule_service.turn_off(ctx, where.id, kind="question", actor=inv.user_id)
    return change_made(
        f"The weekly question in {channel} is off. "
        f"`{SLASH} resume` turns it back on; the digest is unchanged."
    )


async def pause(ctx: Context, cmd: Pause, where: Where, inv: Invocation) -> Outcome:
    existing = await _weekly_question(ctx, where, inv)
    if isinstance(existing, Outcome):
        return existing
    schedule = await schedule_service.pause(
        ctx, where.id, until=cmd.until, kind="question", actor=inv.user_id
    )
    channel = inv.style.channel(where.id)
    if cmd.until is None:
        return change_made(
            f"Paused: no weekly question in {channel} until you type `{SLASH} resume`."
        )
    day = f"{cmd.until:%A} {cmd.until.day} {cmd.until:%B %Y}"
    text = f"Paused: no weekly question in {channel} before {day}."
    if nxt := await next_due(ctx, schedule):
        text += f" The next one is {nxt}."
    return change_made(text + f" `{SLASH} resume` ends the pause early.")


async def resume(ctx: Context, cmd: Resume, where: Where, inv: Invocation) -> Outcome:
    existing = await _weekly_question(ctx, where, inv)
    if isinstance(existing, Outcome):
        return existing
    channel = inv.style.channel(where.id)
    if existing.enabled and existing.paused_until is None:
        nxt = await next_due(ctx, existing)
        return Outcome(
            f"The weekly question in {channel} is not paused"
            + (f": the next one is {nxt}." if nxt else ".")
        )
    if (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    schedule = await schedule_service.resume(ctx, where.id, kind="question", actor=inv.user_id)
    text = f"Resumed: the weekly question in {channel} is {rule_text(schedule)}."
    return change_made(text + await next_sentence(ctx, schedule))
