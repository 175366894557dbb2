"""Carrying out an admin command: parse it, check the channel and the person, dispatch it.

The Slack slash command, the App Home modals and the console all come here, with the text
(`run`) or an already-built command (`execute`), and get back an `Outcome`: the reply meant
for that person only, and whether something was posted publicly (a question, a digest).

Reading is open to everyone. A change needs an admin (see `bot.domain.permissions`), checked
with the platform's users.info, cached for a minute at most, and refused when the platform
cannot say (fail closed). Every change is in the audit log: who, what, when, before -> after.

`bot.services.admin` names the public API (its docstring is the map of the parts).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bot.domain.command_grammar import (
    AddAdmin,
    AddFeed,
    AddQuiet,
    Ask,
    Command,
    DigestNow,
    DigestOff,
    Help,
    ListAdmins,
    ListFeeds,
    ListQuestions,
    ListQuiet,
    Pause,
    ReleaseQuiet,
    RemoveAdmin,
    RemoveFeed,
    RemoveQuiet,
    Resume,
    ScheduleOff,
    SetAlerts,
    SetDigest,
    SetLanguage,
    SetSchedule,
    Status,
)
from bot.domain.language import N_, translator
from bot.domain.messages import Msg, render
from bot.domain.parsing import ParseError
from bot.port import PlatformError
from bot.services import channels
from bot.services import schedules as schedule_service
from bot.services.admin import (
    admins_commands,
    digest_commands,
    feed_commands,
    language_commands,
    quiet_commands,
    reading_commands,
    schedule_commands,
)
from bot.services.admin.ask_command import ask
from bot.services.admin.authorization import authorize
from bot.services.admin.command_parsing import parse
from bot.services.admin.replies import Invocation, Outcome, as_sentence, refused
from bot.services.admin.targets import Where, resolve
from bot.services.ask import UnknownQuestion
from bot.services.context import Context
from bot.services.workspaces import foreign, is_foreign

log = logging.getLogger(__name__)

Handler = Callable[[Context, Any, Where, Invocation], Awaitable[Outcome]]
_HANDLERS: dict[type, Handler] = {
    Help: reading_commands.show_help,
    Status: reading_commands.show_status,
    ListQuestions: reading_commands.list_questions,
    Ask: ask,
    SetSchedule: schedule_commands.set_schedule,
    ScheduleOff: schedule_commands.schedule_off,
    Pause: schedule_commands.pause,
    Resume: schedule_commands.resume,
    SetDigest: digest_commands.set_digest,
    DigestNow: digest_commands.digest_now,
    DigestOff: digest_commands.digest_off,
    ListFeeds: feed_commands.list_feeds,
    AddFeed: feed_commands.add_feed,
    RemoveFeed: feed_commands.remove_feed,
    SetAlerts: feed_commands.set_alerts,
    SetLanguage: language_commands.set_language,
    ListAdmins: admins_commands.list_admins,
    AddAdmin: admins_commands.add_admin,
    RemoveAdmin: admins_commands.remove_admin,
    ListQuiet: quiet_commands.list_quiet,
    AddQuiet: quiet_commands.add_quiet,
    RemoveQuiet: quiet_commands.remove_quiet,
    ReleaseQuiet: quiet_commands.release_quiet,
}


async def run(
    ctx: Context,
    text: str,
    inv: Invocation,
    *,
    typed_in: Awaitable[channels.ChannelFacts] | None = None,
) -> Outcome:
    """Read what followed `/leadership` (with the platform's reader, `inv.read`) and execute it.
    The reply is in the language of the channel it was typed in. `typed_in`: the caller's
    read of that channel (`channels.facts_of`), already under way."""
    # The language and the workspace of the channel it was typed in, in one read.
    if typed_in is None:
        typed_in = channels.facts_of(ctx, inv.channel_id)
    facts = await typed_in
    if inv.language is None:
        inv = replace(inv, language=facts.language)
    try:
        command = parse(ctx, text, inv)
    except ParseError as exc:
        return refused(inv.style.escape(exc.text(inv.t)))
    return await _execute(ctx, command, inv, facts)


WENT_WRONG = N_(
    "Something went wrong on my side, so that may not have worked. "
    "{status} shows the current settings; try again in a minute."
)


async def went_wrong(ctx: Context, channel_id: str, status: str) -> str:
    """The answer when a command failed on our side, in the channel's language (English if
    even that cannot be read). `status` is how the platform types the status command."""
    try:
        language = await channels.language_of(ctx, channel_id)
    except Exception:  # whatever broke the command may break this too
        language = "en"
    return translator(language).each(Msg(WENT_WRONG, status=status).render, "\n")


async def in_channel_language(ctx: Context, inv: Invocation) -> Invocation:
    """`inv` with the language of the channel it was typed in (unless already known)."""
    if inv.language is not None:
        return inv
    return replace(inv, language=await channels.language_of(ctx, inv.channel_id))


async def execute(ctx: Context, command: Command, inv: Invocation) -> Outcome:
    """Check the channel and the person's rights, then carry the command out."""
    return await _execute(ctx, command, await in_channel_language(ctx, inv))


async def _execute(
    ctx: Context, command: Command, inv: Invocation, typed_in: channels.ChannelFacts | None = None
) -> Outcome:
    """`execute`, given what `run` already read of the channel typed in (`typed_in`)."""
    where = resolve(command.channel, inv)
    if isinstance(where, Outcome):
        return where
    if (
        foreign(typed_in.workspace_id, inv.workspace_id)
        if typed_in is not None and where.id == inv.channel_id
        else await is_foreign(ctx, where.id, inv.workspace_id)
    ):
        # Reading too: one workspace's settings, replies and audit are not another's to see.
        channel = inv.style.channel(where.id)
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "{channel} is in another workspace: its settings are read and changed from "
                    "there only. Name a channel of this workspace, or none for this one."
                ).format(channel=channel)
            )
        )
    platform = ctx.platform_for(inv.channel_id)
    # Standing is asked where the change is made (a Teams owner owns one team, not all).
    target = where.id if platform.owns(where.id) else inv.channel_id
    decision = await authorize(
        ctx,
        command,
        inv.user_id,
        platform,
        channel_id=target,
        platform_label=inv.platform_label,
        workspace_id=inv.workspace_id,
    )
    if not decision.allowed:
        return refused(inv.style.escape(decision.text(inv.t)))
    handler = _HANDLERS[type(command)]
    try:
        return await handler(ctx, command, where, inv)
    except UnknownQuestion as unknown:
        message = unknown.msg
        said = inv.write(lambda t: as_sentence(render(message, t)))
        return refused(inv.style.escape(said))
    except schedule_service.ScheduleError as exc:
        # Worded for the CLI as well (it names `leaderbot schedule`): English.
        return refused(inv.style.escape(as_sentence(str(exc))))
    except PlatformError as exc:
        log.warning("%s failed on the platform: %s", command.action, exc)
        said_no = Msg(
            N_("The chat platform said no ({error}). Nothing was changed; try again in a minute."),
            error=str(exc),
        )
        return refused(inv.style.escape(inv.write(said_no)))
