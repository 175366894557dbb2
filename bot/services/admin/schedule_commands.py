"""The weekly question's schedule: `schedule`, `schedule off`, `pause`, `resume`.

Each reply is written in the language of the channel the command was typed in (`inv.write`):
the sentences are built in one language at a time, so a `both` channel reads the whole
Welsh reply, then the whole English one.
"""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, Pause, Resume, ScheduleOff, SetSchedule
from bot.domain.language import Translator
from bot.services import schedules as schedule_service
from bot.services.admin.channel_settings import (
    find_schedule,
    find_schedules,
    next_due,
    next_sentence,
    set_weekly,
)
from bot.services.admin.formats import rule_text
from bot.services.admin.replies import Invocation, Outcome, change_made, refused
from bot.services.admin.targets import Where, join
from bot.services.context import Context
from bot.store.models import Schedule


async def _weekly_question(ctx: Context, where: Where, inv: Invocation) -> Schedule | Outcome:
    """The channel's question schedule, or a refusal saying to set one first."""
    existing = await find_schedule(ctx, where.id, "question")
    if existing is None:
        channel = inv.style.channel(where.id)
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "{channel} has no weekly question yet. "
                    "Set one first, e.g. `{slash} schedule mon 09:00`."
                ).format(channel=channel, slash=SLASH)
            )
        )
    return existing


async def set_schedule(ctx: Context, cmd: SetSchedule, where: Where, inv: Invocation) -> Outcome:
    if (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    found = await find_schedules(ctx, where.id)
    existing, had_digest = found.get("question"), "digest" in found
    schedule = await set_weekly(
        ctx,
        where,
        inv,
        kind="question",
        weekday=cmd.weekday,
        time=cmd.time,
        timezone=cmd.timezone or (existing.timezone if existing else None),
    )
    channel = inv.style.channel(where.id)
    parts = {lang.language: await next_sentence(ctx, schedule, lang) for lang in inv.t.languages()}

    def reply(t: Translator) -> str:
        text = t.gettext("Done: the weekly question in {channel} is {rule}.").format(
            channel=channel, rule=rule_text(schedule, t)
        )
        text += parts[t.language]
        if not had_digest:
            text += t.gettext(
                " Its digest goes out Fridays at 16:00; `{slash} digest DAY TIME` changes that."
            ).format(slash=SLASH)
        return text

    return change_made(inv.write(reply))


async def schedule_off(ctx: Context, cmd: ScheduleOff, where: Where, inv: Invocation) -> Outcome:
    existing = await _weekly_question(ctx, where, inv)
    if isinstance(existing, Outcome):
        return existing
    channel = inv.style.channel(where.id)
    if not existing.enabled:
        return Outcome(
            inv.write(
                lambda t: t.gettext(
                    "The weekly question in {channel} is already off. "
                    "`{slash} resume` turns it back on."
                ).format(channel=channel, slash=SLASH)
            )
        )
    await schedule_service.turn_off(ctx, where.id, kind="question", actor=inv.user_id)
    return change_made(
        inv.write(
            lambda t: t.gettext(
                "The weekly question in {channel} is off. "
                "`{slash} resume` turns it back on; the digest is unchanged."
            ).format(channel=channel, slash=SLASH)
        )
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
            inv.write(
                lambda t: t.gettext(
                    "Paused: no weekly question in {channel} until you type `{slash} resume`."
                ).format(channel=channel, slash=SLASH)
            )
        )
    until = cmd.until
    nexts = {lang.language: await next_due(ctx, schedule, lang) for lang in inv.t.languages()}

    def reply(t: Translator) -> str:
        if t.language == "en":
            day = f"{until:%A} {until.day} {until:%B %Y}"
        else:
            day = t.format_date(until, "EEEE d MMMM y")
            day = day[:1].lower() + day[1:]  # CLDR's "Dydd Llun", mid-sentence
        text = t.gettext("Paused: no weekly question in {channel} before {day}.").format(
            channel=channel, day=day
        )
        if nxt := nexts[t.language]:
            text += t.gettext(" The next one is {when}.").format(when=nxt)
        return text + t.gettext(" `{slash} resume` ends the pause early.").format(slash=SLASH)

    return change_made(inv.write(reply))


async def resume(ctx: Context, cmd: Resume, where: Where, inv: Invocation) -> Outcome:
    existing = await _weekly_question(ctx, where, inv)
    if isinstance(existing, Outcome):
        return existing
    channel = inv.style.channel(where.id)
    if existing.enabled and existing.paused_until is None:
        nexts = {lang.language: await next_due(ctx, existing, lang) for lang in inv.t.languages()}

        def not_paused(t: Translator) -> str:
            nxt = nexts[t.language]
            if nxt:
                return t.gettext(
                    "The weekly question in {channel} is not paused: the next one is {when}."
                ).format(channel=channel, when=nxt)
            return t.gettext("The weekly question in {channel} is not paused.").format(
                channel=channel
            )

        return Outcome(inv.write(not_paused))
    if (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    schedule = await schedule_service.resume(ctx, where.id, kind="question", actor=inv.user_id)
    endings = {
        lang.language: await next_sentence(ctx, schedule, lang) for lang in inv.t.languages()
    }

    def reply(t: Translator) -> str:
        text = t.gettext("Resumed: the weekly question in {channel} is {rule}.").format(
            channel=channel, rule=rule_text(schedule, t)
        )
        return text + endings[t.language]

    return change_made(inv.write(reply))
