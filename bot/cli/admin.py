"""`leaderbot audit` and `leaderbot admins list|add|remove`: the admin side of the CLI.

Whoever runs the CLI runs the bot, so these need no chat permission; they are audited all the
same, with the actor "cli".
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.common import OneLineParser, UsageError, print_table

if TYPE_CHECKING:
    from bot.services.context import Context

# The handlers import SQLAlchemy, the models and the services when they run: `leaderbot --help`
# registers these commands without loading any of them.

CLI_ACTOR = "cli"


def register(sub: Any) -> None:
    log = sub.add_parser("audit", help="the log of admin changes, newest first")
    log.add_argument("--limit", type=int, default=50, help="how many entries (default 50)")
    log.add_argument("--channel", help="only changes to this channel (and workspace-wide ones)")
    log.add_argument(
        "--workspace", help="only changes made in this workspace (a Slack team id, e.g. T0123ABCD)"
    )
    log.set_defaults(handler=audit_log)

    admins = sub.add_parser("admins", help="who may change settings besides workspace admins")
    actions = admins.add_subparsers(
        dest="admins_command", metavar="ACTION", parser_class=OneLineParser
    )
    actions.required = True
    listing = actions.add_parser("list", help="LEADERBOT_ADMINS and the admins added")
    listing.set_defaults(handler=admins_list)
    add = actions.add_parser("add", help="let a user change settings")
    add.add_argument("user", metavar="USER_ID", help="e.g. U0123ABCD")
    add.set_defaults(handler=admins_add)
    remove = actions.add_parser("remove", help="take that back")
    remove.add_argument("user", metavar="USER_ID", help="e.g. U0123ABCD")
    remove.set_defaults(handler=admins_remove)


async def audit_log(args: argparse.Namespace, ctx: Context) -> int:
    from sqlalchemy import select

    from bot.services.admin import describe_change
    from bot.store.models import AuditEntry, ChatUser

    if args.limit < 1:
        raise UsageError(f"--limit must be 1 or more, not {args.limit} (e.g. --limit 20)")
    async with ctx.db.read() as session:
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        if args.channel:
            query = query.where(
                (AuditEntry.channel_id == args.channel) | AuditEntry.channel_id.is_(None)
            )
        if args.workspace:
            query = query.where(AuditEntry.workspace_id == args.workspace)
        entries = list((await session.scalars(query.limit(args.limit))).all())
        actors = {e.actor for e in entries}
        names = {
            u.id: u.display_name
            for u in (await session.scalars(select(ChatUser).where(ChatUser.id.in_(actors))))
        }
    if not entries:
        print("no changes recorded yet")
        return 0
    rows = [
        {
            "when": f"{e.at:%Y-%m-%d %H:%M} UTC",
            "who": f"{e.actor} ({names[e.actor]})" if e.actor in names else e.actor,
            "action": e.action,
            "workspace": e.workspace_id or "-",
            "channel": e.channel_id or "-",
            "change": describe_change(e.before, e.after, arrow="->"),
        }
        for e in entries
    ]
    # Which workspace, once there is more than one to tell apart.
    several = len({e.workspace_id for e in entries if e.workspace_id}) > 1
    columns = ["when", "who", "action", "channel", "change"]
    print_table(rows, [*columns[:3], "workspace", *columns[3:]] if several else columns)
    return 0


def _user(value: str) -> str:
    """A user id, or a mention pasted from Slack (`<@U0123ABCD>`). Read as Slack reads it,
    as before: only Slack ids are known by their shape (other platforms' ids: not yet)."""
    from bot.domain.parsing import ParseError, parse_user
    from bot.platforms.slack.command_text import command_words

    try:
        words = command_words(value)
        if len(words) != 1:
            raise ParseError(f"give one user ID, e.g. U0123ABCD, not {value!r}")
        return parse_user(words[0]).id
    except ParseError as exc:
        raise UsageError(exc.message.replace("`", "")) from None


async def admins_list(args: argparse.Namespace, ctx: Context) -> int:
    from sqlalchemy import select

    from bot.store.models import BotAdmin

    print("Workspace admins and owners can always change settings; guests and bots never can.")
    listed = sorted(ctx.settings.admins)
    print(f"LEADERBOT_ADMINS: {', '.join(listed) if listed else '(empty)'}")
    async with ctx.db.read() as session:
        added = list((await session.scalars(select(BotAdmin).order_by(BotAdmin.added_at))).all())
    if not added:
        print("added admins: none (`leaderbot admins add USER_ID`)")
        return 0
    rows = [
        {"user": a.user_id, "added by": a.added_by, "added": f"{a.added_at:%Y-%m-%d %H:%M} UTC"}
        for a in added
    ]
    print_table(rows, ["user", "added by", "added"])
    return 0


async def admins_add(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.admin import add_bot_admin

    user_id = _user(args.user)
    if not await add_bot_admin(ctx, user_id, actor=CLI_ACTOR):
        print(f"{user_id} is already an admin")
        return 0
    print(f"{user_id} can now change settings")
    return 0


async def admins_remove(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.admin import remove_bot_admin

    user_id = _user(args.user)
    if await remove_bot_admin(ctx, user_id, actor=CLI_ACTOR):
        print(f"{user_id} is no longer an admin")
        return 0
    hint = (
        "listed in LEADERBOT_ADMINS: change that setting instead"
        if user_id in ctx.settings.admins
        else "`leaderbot admins list` shows who is"
    )
    raise UsageError(f"{user_id} is not an added admin ({hint})")
