"""Which channel a command means, and making sure the bot can post there."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.command_grammar import SLASH
from bot.domain.language import N_
from bot.domain.messages import Msg
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
    message = Msg(
        N_(
            "I can't find `#{name}`. Pick the channel from the list that appears as "
            "you type #, e.g. `{slash} status #general`."
        ),
        name=show(ref.name),
        slash=SLASH,
    )
    return inv.style.escape(inv.write(message))


async def join(ctx: Context, where: Where, inv: Invocation) -> Outcome | None:
    """Make sure the bot can post in the channel; an Outcome saying why not if it can't."""
    escape = inv.style.escape
    try:
        await ctx.platform_for(where.id).ensure_channel(where.id)
    except PermanentFailure as exc:
        # The platform's reason stays in its own words (English): it names its own settings.
        message = (
            Msg(N_("I can't post in that channel: {error}. Then try again."), error=str(exc))
            if exc.code in (NEEDS_INVITE, NOT_INSTALLED)
            else Msg(
                N_(
                    "I can't post in that channel ({error}). Nothing was changed; name another "
                    "channel, e.g. `{slash} schedule mon 09:00 #general`."
                ),
                error=str(exc),
                slash=SLASH,
            )
        )
        return refused(escape(inv.write(message)))
    except PlatformError as exc:
        message = Msg(
            N_("I couldn't join that channel ({error}). Try again in a minute."), error=str(exc)
        )
        return refused(escape(inv.write(message)))
    return None
