"""Pre-election quiet periods: `quiet`, `quiet add`, `quiet remove`, `quiet release`.

The same periods as `leaderbot quiet` (`bot.services.quiet`, which audits each change)."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, AddQuiet, ListQuiet, ReleaseQuiet, RemoveQuiet
from bot.domain.quiet import QuietError, QuietPeriod
from bot.services import outbox, quiet
from bot.services.admin.command_parsing import local_today
from bot.services.admin.replies import Invocation, Outcome, Style, change_made, refused
from bot.services.admin.targets import Where
from bot.services.context import Context
from bot.services.workspaces import is_foreign, refuses_every_channel

# Several workspaces share this deployment: "every channel" reaches theirs too.
_OPERATORS_ONLY = (
    "A quiet period for every channel would reach other workspaces served here too, so only "
    "whoever runs leaderbot sets or ends one (`leaderbot quiet`). Name this channel instead: "
    f"`{SLASH} quiet add YYYY-MM-DD YYYY-MM-DD [reason]`."
)


def _period_text(period: QuietPeriod, s: Style) -> str:
    where = s.channel(period.channel_id) if period.channel_id else "every channel"
    return (
        f"{period.id}: {period.first_day} to {period.last_day} in {where}, holding "
        f"{', '.join(period.holds)} ({s.escape(period.reason)})"
    )


async def list_quiet(ctx: Context, cmd: ListQuiet, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    found = [
        p
        for p in await quiet.periods(ctx, ending_from=local_today(ctx))
        if p.channel_id in (None, where.id)
    ]
    if not found:
        return Outcome(
            f"No quiet periods to come for {s.channel(where.id)}. Add one with "
            f"`{SLASH} quiet add YYYY-MM-DD YYYY-MM-DD [all] [reason]`."
        )
    lines = [s.bold(f"Quiet periods for {s.channel(where.id)} (current and to come):")]
    lines += [f"• {_period_text(p, s)}" for p in found]
    lines.append(f"`{SLASH} quiet remove NUMBER` ends one.")
    return Outcome("\n".join(lines))


async def add_quiet(ctx: Context, cmd: AddQuiet, where: Where, inv: Invocation) -> Outcome:
    if cmd.every_channel and await refuses_every_channel(ctx, inv.workspace_id):
        return refused(_OPERATORS_ONLY)
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
            f"That quiet period ends before it starts: give the first day, then the last, "
            f"e.g. `{SLASH} quiet add {cmd.first_day} {cmd.first_day}`."
        )
    return change_made(
        f"Quiet period {_period_text(period, inv.style)}. "
        f"`{SLASH} quiet remove {period.id}` ends it."
    )


async def remove_quiet(ctx: Context, cmd: RemoveQuiet, where: Where, inv: Invocation) -> Outcome:
    found = {p.id: p for p in await quiet.periods(ctx)}.get(cmd.period_id)
    if found is not None and found.channel_id is None:
        if await refuses_every_channel(ctx, inv.workspace_id):
            return refused(_OPERATORS_ONLY)
    elif found is not None and await is_foreign(ctx, found.channel_id, inv.workspace_id):
        found = None  # another workspace's: not this one's to see or end
    if found is None:
        return refused(f"There is no quiet period {cmd.period_id}: `{SLASH} quiet` lists them.")
    try:
        period = await quiet.remove_period(ctx, cmd.period_id, actor=inv.user_id)
    except QuietError:
        return refused(f"There is no quiet period {cmd.period_id}: `{SLASH} quiet` lists them.")
    return change_made(
        f"Removed quiet period {period.id} ({period.first_day} to {period.last_day})."
    )


async def release_quiet(ctx: Context, cmd: ReleaseQuiet, where: Where, inv: Invocation) -> Outcome:
    channel = inv.style.channel(where.id)
    released = await quiet.release_held_digests(ctx, channel_id=where.id, actor=inv.user_id)
    if not released.keys:
        return Outcome(f"No held digests in {channel}: `{SLASH} quiet` lists the quiet periods.")
    report = await outbox.deliver_due(ctx, only_keys=released.keys)
    text = (
        f"Released {len(released.keys)} held digest(s) of {channel}: {len(report.sent)} sent, "
        f"{len(report.found)} already there, {len(report.deferred)} to retry."
    )
    if report.held:
        text += (
            f" {len(report.held)} held again by a quiet period still running: "
            f"`{SLASH} quiet release` again once it ends."
        )
    if report.failed:
        text += f" {len(report.failed)} could not be sent: try `{SLASH} quiet release` later."
    return change_made(text, posted=bool(report.sent))
