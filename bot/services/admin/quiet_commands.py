"""Pre-election quiet periods: `quiet`, `quiet add`, `quiet remove`, `quiet release`.

The same periods as `leaderbot quiet` (`bot.services.quiet`, which audits each change)."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, AddQuiet, ListQuiet, ReleaseQuiet, RemoveQuiet
from bot.domain.language import N_, Translator
from bot.domain.messages import Msg
from bot.domain.quiet import QuietError, QuietPeriod
from bot.services import outbox, quiet
from bot.services.admin.command_parsing import local_today
from bot.services.admin.replies import Invocation, Outcome, Style, change_made, refused
from bot.services.admin.targets import Where
from bot.services.context import Context
from bot.services.workspaces import is_foreign, refuses_every_channel

# Several workspaces share this deployment: "every channel" reaches theirs too.
_OPERATORS_ONLY = Msg(
    N_(
        "A quiet period for every channel would reach other workspaces served here too, so only "
        "whoever runs leaderbot sets or ends one (`leaderbot quiet`). Name this channel instead: "
        "`{slash} quiet add YYYY-MM-DD YYYY-MM-DD [reason]`."
    ),
    slash=SLASH,
)

_HOLDS = {"questions": N_("questions"), "alerts": N_("alerts"), "digests": N_("digests")}


def _period_text(period: QuietPeriod, s: Style, t: Translator) -> str:
    holds = ", ".join(t.gettext(_HOLDS[h]) if h in _HOLDS else h for h in period.holds)
    values = {
        "id": period.id,
        "first": period.first_day,
        "last": period.last_day,
        "holds": holds,
        "reason": s.escape(period.reason),
    }
    if period.channel_id:
        return t.gettext("{id}: {first} to {last} in {channel}, holding {holds} ({reason})").format(
            channel=s.channel(period.channel_id), **values
        )
    return t.gettext("{id}: {first} to {last} in every channel, holding {holds} ({reason})").format(
        **values
    )


async def list_quiet(ctx: Context, cmd: ListQuiet, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    found = [
        p
        for p in await quiet.periods(ctx, ending_from=local_today(ctx))
        if p.channel_id in (None, where.id)
    ]
    channel = s.channel(where.id)
    if not found:
        return Outcome(
            inv.write(
                lambda t: t.gettext(
                    "No quiet periods to come for {channel}. Add one with "
                    "`{slash} quiet add YYYY-MM-DD YYYY-MM-DD [all] [reason]`."
                ).format(channel=channel, slash=SLASH)
            )
        )

    def written(t: Translator) -> str:
        title = t.gettext("Quiet periods for {channel} (current and to come):")
        lines = [s.bold(title.format(channel=channel))]
        lines += [f"• {_period_text(p, s, t)}" for p in found]
        lines.append(t.gettext("`{slash} quiet remove NUMBER` ends one.").format(slash=SLASH))
        return "\n".join(lines)

    return Outcome(inv.t.each(written, "\n\n"))


async def add_quiet(ctx: Context, cmd: AddQuiet, where: Where, inv: Invocation) -> Outcome:
    if cmd.every_channel and await refuses_every_channel(ctx, inv.workspace_id):
        return refused(inv.write(_OPERATORS_ONLY))
    try:
        period = await quiet.add_period(
            ctx,
            first_day=cmd.first_day,
            last_day=cmd.last_day,
            channel_id=None if cmd.every_channel else where.id,
            holds=cmd.holds,
            reason=cmd.reason,
            actor=inv.user_id,
        )
    except QuietError:
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "That quiet period ends before it starts: give the first day, then the last, "
                    "e.g. `{slash} quiet add {day} {day}`."
                ).format(slash=SLASH, day=cmd.first_day)
            )
        )
    return change_made(
        inv.write(
            lambda t: t.gettext(
                "Quiet period {period}. `{slash} quiet remove {id}` ends it."
            ).format(period=_period_text(period, inv.style, t), slash=SLASH, id=period.id)
        )
    )


async def remove_quiet(ctx: Context, cmd: RemoveQuiet, where: Where, inv: Invocation) -> Outcome:
    found = {p.id: p for p in await quiet.periods(ctx)}.get(cmd.period_id)
    if found is not None and found.channel_id is None:
        if await refuses_every_channel(ctx, inv.workspace_id):
            return refused(inv.write(_OPERATORS_ONLY))
    elif found is not None and await is_foreign(ctx, found.channel_id, inv.workspace_id):
        found = None  # another workspace's: not this one's to see or end
    if found is None:
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "There is no quiet period {id}: `{slash} quiet` lists them."
                ).format(id=cmd.period_id, slash=SLASH)
            )
        )
    try:
        period = await quiet.remove_period(ctx, cmd.period_id, actor=inv.user_id)
    except QuietError:
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "There is no quiet period {id}: `{slash} quiet` lists them."
                ).format(id=cmd.period_id, slash=SLASH)
            )
        )
    return change_made(
        inv.write(
            lambda t: t.gettext("Removed quiet period {id} ({first} to {last}).").format(
                id=period.id, first=period.first_day, last=period.last_day
            )
        )
    )


async def release_quiet(ctx: Context, cmd: ReleaseQuiet, where: Where, inv: Invocation) -> Outcome:
    channel = inv.style.channel(where.id)
    released = await quiet.release_held_digests(ctx, channel_id=where.id, actor=inv.user_id)
    if not released.keys:
        return Outcome(
            inv.write(
                lambda t: t.gettext(
                    "No held digests in {channel}: `{slash} quiet` lists the quiet periods."
                ).format(channel=channel, slash=SLASH)
            )
        )
    report = await outbox.deliver_due(ctx, only_keys=released.keys)

    def reply(t: Translator) -> str:
        text = t.gettext(
            "Released {count} held digest(s) of {channel}: {sent} sent, {found} already there, "
            "{deferred} to retry."
        ).format(
            count=len(released.keys),
            channel=channel,
            sent=len(report.sent),
            found=len(report.found),
            deferred=len(report.deferred),
        )
        if report.held:
            text += t.gettext(
                " {count} held again by a quiet period still running: "
                "`{slash} quiet release` again once it ends."
            ).format(count=len(report.held), slash=SLASH)
        if report.failed:
            text += t.gettext(
                " {count} could not be sent: try `{slash} quiet release` later."
            ).format(count=len(report.failed), slash=SLASH)
        return text

    return change_made(inv.write(reply), posted=bool(report.sent))
