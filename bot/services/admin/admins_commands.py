"""Who may change settings: `admins`, `admins add @person`, `admins remove @person`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, AddAdmin, ListAdmins, RemoveAdmin
from bot.domain.content import UserInfo
from bot.domain.permissions import ALLOW_LISTED
from bot.services.admin.audit_text import actor_text
from bot.services.admin.authorization import who_is
from bot.services.admin.bot_admins import add_bot_admin, list_bot_admins, remove_bot_admin
from bot.services.admin.replies import Invocation, Outcome, change_made, refused
from bot.services.admin.targets import Where
from bot.services.context import Context


async def list_admins(ctx: Context, cmd: ListAdmins, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    added = await list_bot_admins(ctx, inv.workspace_id)
    lines = ["Workspace admins and owners can always change leaderbot's settings."]
    if ctx.settings.admins:
        people = ", ".join(s.user(u) for u in sorted(ctx.settings.admins))
        lines.append(f"Listed in LEADERBOT_ADMINS: {people}.")
    if added:
        people = ", ".join(
            f"{s.user(a.user_id)} (added by {actor_text(a.added_by, s)}, {a.added_at:%d %b %Y})"
            for a in added
        )
        lines.append(f"Added with `{SLASH} admins add`: {people}.")
    else:
        lines.append(f"Nobody has been added with `{SLASH} admins add @person` yet.")
    return Outcome("\n".join(lines))


def _who_cannot(user: UserInfo) -> str:
    if user.deleted:
        return "the account is deactivated"
    if user.is_bot:
        return "it is a bot"
    return "guests never can"


async def add_admin(ctx: Context, cmd: AddAdmin, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    person = s.user(cmd.user.id)
    user, error = await who_is(ctx, cmd.user.id, ctx.platform_for(inv.channel_id), inv.channel_id)
    if error is not None or user is None:
        return refused(
            f"I couldn't check who {person} is ({s.escape(error or 'no answer')}), so nobody "
            "was added. Try again in a minute."
        )
    if user.deleted or user.is_bot or user.is_guest:
        # They would never pass the check (bot.domain.permissions): adding them would mislead.
        return refused(
            f"{person} can't be a leaderbot admin: {_who_cannot(user)}. Nothing was changed; "
            f"`{SLASH} admins` lists who can."
        )
    if user.is_owner or user.is_admin:
        return Outcome(f"{person} is a workspace admin or owner, so can already change settings.")
    if cmd.user.id in ctx.settings.admins:
        return Outcome(f"{person} is {ALLOW_LISTED}, so can already change settings.")
    if not await add_bot_admin(ctx, cmd.user.id, actor=inv.user_id, workspace_id=inv.workspace_id):
        return Outcome(f"{person} is already a leaderbot admin.")
    return change_made(
        f"{person} can now change leaderbot's settings. `{SLASH} admins remove` takes that back."
    )


async def remove_admin(ctx: Context, cmd: RemoveAdmin, where: Where, inv: Invocation) -> Outcome:
    person = inv.style.user(cmd.user.id)
    if await remove_bot_admin(ctx, cmd.user.id, actor=inv.user_id, workspace_id=inv.workspace_id):
        return change_made(f"{person} is no longer a leaderbot admin.")
    if cmd.user.id in ctx.settings.admins:
        return refused(
            f"{person} is listed in LEADERBOT_ADMINS, which only whoever runs leaderbot can "
            "change (it is a setting of the server, not of the chat)."
        )
    return refused(
        f"{person} was not added with `{SLASH} admins add`, so there is nothing to remove. "
        f"Workspace admins and owners always can; `{SLASH} admins` lists the rest."
    )
