"""The weekly digest: `digest DAY TIME [#channel]`, `digest now`, `digest off`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, DigestNow, DigestOff, SetDigest
from bot.domain.language import Translator
from bot.services import schedules as schedule_service
from bot.services.admin.channel_settings import (
    find_schedule,
    find_schedules,
    next_sentence,
    record,
    set_weekly,
)
from bot.services.admin.formats import rule_text
from bot.services.admin.replies import Invocation, Outcome, change_made, refused
from bot.services.admin.targets import Where, join, resolve
from bot.services.context import Context
from bot.services.digest import post_digest_now, window_ending
from bot.services.workspaces import is_foreign
from bot.store.models import Post

DIGEST_NOW_DAYS = 7


async def set_digest(ctx: Context, cmd: SetDigest, where: Where, inv: Invocation) -> Outcome:
    destination = where
    if cmd.deliver_to is not None:
        resolved = resolve(cmd.deliver_to, inv)
        if isinstance(resolved, Outcome):
            return resolved
        if await is_foreign(ctx, resolved.id, inv.workspace_id):
            elsewhere = inv.style.channel(resolved.id)
            return refused(
                inv.write(
                    lambda t: t.gettext(
                        "{channel} is in another workspace: a digest goes to a channel of this "
                        "workspace. Name one, or none for this channel."
                    ).format(channel=elsewhere)
                )
            )
        destination = resolved
    if (refusal := await join(ctx, destination, inv)) is not None:
        return refusal
    found = await find_schedules(ctx, where.id)
    existing, question = found.get("digest"), found.get("question")
    # No zone given: keep the digest's, else follow the question's, else the default.
    known = existing or question
    zone = cmd.timezone or (known.timezone if known else None)
    schedule = await set_weekly(
        ctx,
        where,
        inv,
        kind="digest",
        weekday=cmd.weekday,
        time=cmd.time,
        timezone=zone,
        # Always stored, so naming no channel moves a digest back here from elsewhere.
        target_channel_id=destination.id,
    )
    s = inv.style
    endings = {one.language: await next_sentence(ctx, schedule, one) for one in inv.t.languages()}

    def reply(t: Translator) -> str:
        text = t.gettext("Done: the digest of {channel} goes out {rule} in {target}.").format(
            channel=s.channel(where.id),
            rule=rule_text(schedule, t),
            target=s.channel(destination.id),
        )
        text += endings[t.language]
        if question is None:
            text += t.gettext(
                " (There is no weekly question here yet: `{slash} schedule mon 09:00`.)"
            ).format(slash=SLASH)
        return text

    return change_made(inv.write(reply))


async def digest_now(ctx: Context, cmd: DigestNow, where: Where, inv: Invocation) -> Outcome:
    digest = await find_schedule(ctx, where.id, "digest")
    target = Where(digest.target_channel_id) if digest and digest.target_channel_id else where
    if (refusal := await join(ctx, target, inv)) is not None:
        return refusal
    zone = digest.timezone if digest else ctx.settings.timezone
    window = window_ending(ctx.clock(), zone, DIGEST_NOW_DAYS)
    row, report = await post_digest_now(
        ctx, where.id, window, target.id if target.id != where.id else None
    )
    delivered = bool(report.sent or report.found)
    await record(
        ctx,
        inv,
        "digest.now",
        where.id,
        None,
        {"to": target.id, "days": DIGEST_NOW_DAYS, "status": "sent" if delivered else "not sent"},
    )
    s = inv.style
    if delivered:
        return change_made(
            inv.write(
                lambda t: t.gettext(
                    "Posted the digest of the last {days} days of {channel} in {target}."
                ).format(
                    days=DIGEST_NOW_DAYS, channel=s.channel(where.id), target=s.channel(target.id)
                )
            ),
            posted=True,
        )
    async with ctx.db.read() as session:
        fresh = await session.get(Post, row.id)
    error = fresh.error if fresh else None  # the platform's words, as recorded

    def not_posted(t: Translator) -> str:
        why = s.escape(error or t.gettext("not delivered yet"))
        return t.gettext(
            "The digest was not posted ({why}). Try `{slash} digest now` again later."
        ).format(why=why, slash=SLASH)

    return refused(inv.write(not_posted))


async def digest_off(ctx: Context, cmd: DigestOff, where: Where, inv: Invocation) -> Outcome:
    existing = await find_schedule(ctx, where.id, "digest")
    channel = inv.style.channel(where.id)
    if existing is None or not existing.enabled:
        return Outcome(
            inv.write(
                lambda t: t.gettext(
                    "{channel} has no weekly digest on. `{slash} digest fri 16:00` sets one."
                ).format(channel=channel, slash=SLASH)
            )
        )
    await schedule_service.turn_off(ctx, where.id, kind="digest", actor=inv.user_id)
    return change_made(
        inv.write(
            lambda t: t.gettext(
                "The weekly digest of {channel} is off. `{slash} digest fri 16:00` sets it again."
            ).format(channel=channel, slash=SLASH)
        )
    )
