"""Who may change settings: `admins`, `admins add @person`, `admins remove @person`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, AddAdmin, ListAdmins, RemoveAdmin
from bot.domain.content import UserInfo
from bot.domain.language import Translator
from bot.services.admin.audit_text import actor_text
from bot.services.admin.authorization import who_is
from bot.services.admin.bot_admins import add_bot_admin, list_bot_admins, remove_bot_admin
from bot.services.admin.replies import Invocation, Outcome, change_made, refused
from bot.services.admin.targets import Where
from bot.services.context import Context


async def list_admins(ctx: Context, cmd: ListAdmins, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    added = await list_bot_admins(ctx, inv.workspace_id)

    def written(t: Translator) -> str:
        lines = [t.gettext("Workspace admins and owners can always change leaderbot's settings.")]
        if ctx.settings.admins:
            people = ", ".join(s.user(u) for u in sorted(ctx.settings.admins))
            lines.append(t.gettext("Listed in LEADERBOT_ADMINS: {people}.").format(people=people))
        if added:
            people = ", ".join(
                t.gettext("{person} (added by {actor}, {day})").format(
                    person=s.user(a.user_id),
                    actor=actor_text(a.added_by, s),
                    day=f"{a.added_at:%d %b %Y}"
                    if t.language == "en"
                    else t.format_date(a.added_at, "dd MMM y"),
                )
                for a in added
            )
            lines.append(
                t.gettext("Added with `{slash} admins add`: {people}.").format(
                    slash=SLASH, people=people
                )
            )
        else:
            lines.append(
                t.gettext("Nobody has been added with `{slash} admins add @person` yet.").format(
                    slash=SLASH
                )
            )
        return "\n".join(lines)

    return Outcome(inv.t.each(written, "\n\n"))


def _who_cannot(user: UserInfo, t: Translator) -> str:
    if user.deleted:
        return t.gettext("the account is deactivated")
    if user.is_bot:
        return t.gettext("it is a bot")
    return t.gettext("guests never can")


async def add_admin(ctx: Context, cmd: AddAdmin, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    person = s.user(cmd.user.id)
    user, error = await who_is(ctx, cmd.user.id, ctx.platform_for(inv.channel_id), inv.channel_id)
    if error is not None or user is None:
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "I couldn't check who {person} is ({why}), so nobody was added. "
                    "Try again in a minute."
                ).format(person=person, why=s.escape(error or t.gettext("no answer")))
            )
        )
    if user.deleted or user.is_bot or user.is_guest:
        # They would never pass the check (bot.domain.permissions): adding them would mislead.
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "{person} can't be a leaderbot admin: {why}. Nothing was changed; "
                    "`{slash} admins` lists who can."
                ).format(person=person, why=_who_cannot(user, t), slash=SLASH)
            )
        )
    if user.is_owner or user.is_admin:
        return Outcome(
            inv.write(
                lambda t: t.gettext(
                    "{person} is a workspace admin or owner, so can already change settings."
                ).format(person=person)
            )
        )
    if cmd.user.id in ctx.settings.admins:
        return Outcome(
            inv.write(
                lambda t: t.gettext(
                    "{person} is listed in LEADERBOT_ADMINS, so can already change settings."
                ).format(person=person)
            )
        )
    if not await add_bot_admin(ctx, cmd.user.id, actor=inv.user_id, workspace_id=inv.workspace_id):
        return Outcome(
            inv.write(
                lambda t: t.gettext("{person} is already a leaderbot admin.").format(person=person)
            )
        )
    return change_made(
        inv.write(
            lambda t: t.gettext(
                "{person} can now change leaderbot's settings. "
                "`{slash} admins remove` takes that back."
            ).format(person=person, slash=SLASH)
        )
    )


async def remove_admin(ctx: Context, cmd: RemoveAdmin, where: Where, inv: Invocation) -> Outcome:
    person = inv.style.user(cmd.user.id)
    if await remove_bot_admin(ctx, cmd.user.id, actor=inv.user_id, workspace_id=inv.workspace_id):
        return change_made(
            inv.write(
                lambda t: t.gettext("{person} is no longer a leaderbot admin.").format(
                    person=person
                )
            )
        )
    if cmd.user.id in ctx.settings.admins:
        return refused(
            inv.write(
                lambda t: t.gettext(
                    "{person} is listed in LEADERBOT_ADMINS, which only whoever runs leaderbot "
                    "can change (it is a setting of the server, not of the chat)."
                ).format(person=person)
            )
        )
    return refused(
        inv.write(
            lambda t: t.gettext(
                "{person} was not added with `{slash} admins add`, so there is nothing to "
                "remove. Workspace admins and owners always can; `{slash} admins` lists the rest."
            ).format(person=person, slash=SLASH)
        )
    )
