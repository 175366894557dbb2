"""Which channel a command means, and making sure the bot can post there."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.command_grammar import SLASH
from bot.domain.parsing import ChannelId, ChannelName, ChannelRef, show
from bot.port import NEEDS_INVITE, NOT_INSTALLED, PermanentFailure, PlatformError
from bot.services.admin.replies import Invocation, Outcome, refused
from bot.services.context import Context


@dataclass(frozen=True)
class Where:
    id: str
    name: str | None = None
    named: bool = False  # a #channel was given (else: where the command was typed)


def resolve(ref: ChannelRef | None, inv: Invocation) -> Where | Outcome:
    """The channel named (or, naming none, the one typed in); a refusal if it is unknown."""
    if ref is None:
        return Where(inv.channel_id, inv.channel_name)
    if isinstance(ref, ChannelId):
        return Where(ref.id, ref.name, named=True)
    return refused(_unknown_channel(ref, inv))


def _unknown_channel(ref: ChannelName, inv: Invocation) -> str:
    # The platform turns every channel the person can see into a mention (a ChannelId); a
    # bare #name means there is no such channel, or one they cannot see.
    return inv.style.escape(
        f"I can't find `#{show(ref.name)}`. Pick the channel from the list that appears as "
        f"you type #, e.g. `{SLASH} status #general`."
    )


async def join(ctx: Context, where: Where, inv: Invocation) -> Outcome | None:
    """Make sure the bot can post in the channel; an Outcome saying why not if it can't."""
    escape = inv.style.escape
    try:
        await ctx.platform_for(where.id).ensure_channel(where.id)
    except PermanentFailure as exc:
        return refused(
            escape(f"I can't post in that channel: {exc}. Then try again.")
            if exc.code in (NEEDS_INVITE, NOT_INSTALLED)
            else escape(
                f"I can't post in that channel ({exc}). Nothing was changed; name another "
                f"channel, e.g. `{SLASH} schedule mon 09:00 #general`."
            )
        )
    except PlatformError as exc:
        return refused(escape(f"I couldn't join that channel ({exc}). Try again in a minute."))
    return None
