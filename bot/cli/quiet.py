"""`leaderbot quiet add|list|remove|release`: pre-election quiet periods.

leaderbot quiet add --from 2027-03-25 --to 2027-05-06 [--channel ID | --all]
                    [--hold questions,alerts,digests] [--reason "…"]
leaderbot quiet list
leaderbot quiet remove ID
leaderbot quiet release [--channel ID]     (send the digests a period held)
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.common import OneLineParser, UsageError, check_channels, parse_date_arg, print_table
from bot.domain.quiet import QuietError, parse_holds

if TYPE_CHECKING:
    from bot.services.context import Context

CLI_ACTOR = "cli"


def register(sub: Any) -> None:
    group = sub.add_parser("quiet", help="pre-election quiet periods: hold questions, digests…")
    actions = group.add_subparsers(
        dest="quiet_command", metavar="ACTION", parser_class=OneLineParser
    )
    actions.required = True

    add = actions.add_parser("add", help="declare a quiet period")
    add.add_argument(
        "--from",
        dest="first_day",
        required=True,
        type=parse_date_arg,
        metavar="YYYY-MM-DD",
        help="its first day",
    )
    add.add_argument(
        "--to",
        dest="last_day",
        required=True,
        type=parse_date_arg,
        metavar="YYYY-MM-DD",
        help="its last day (included)",
    )
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--channel", help="one channel's ID")
    where.add_argument("--all", action="store_true", help="every channel")
    add.add_argument("--hold", help="what to hold: questions,alerts,digests (default: all three)")
    add.add_argument("--reason", default="pre-election period", help="shown with what it holds")
    add.set_defaults(handler=quiet_add)

    listing = actions.add_parser("list", help="every quiet period")
    listing.set_defaults(handler=quiet_list)

    remove = actions.add_parser("remove", help="remove a quiet period")
    remove.add_argument("id", type=int, metavar="ID", help="its number, from `quiet list`")
    remove.set_defaults(handler=quiet_remove)

    release = actions.add_parser("release", help="send the digests a quiet period held, now")
    release.add_argument("--channel", help="only this channel's (default: every channel's)")
    release.set_defaults(handler=quiet_release)


async def quiet_add(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services import quiet

    if args.channel is not None:
        check_channels(ctx, args.channel)
    try:
        period = await quiet.add_period(
            ctx,
            first_day=args.first_day,
            last_day=args.last_day,
            channel_id=None if args.all else args.channel,
            holds=parse_holds(args.hold),
            reason=args.reason,
            actor=CLI_ACTOR,
        )
    except QuietError as exc:
        raise UsageError(str(exc)) from None
    where = period.channel_id or "every channel"
    print(
        f"quiet period {period.id}: {period.first_day} to {period.last_day} in {where}, "
        f"holding {', '.join(period.holds)} ({period.reason})"
    )
    return 0


async def quiet_list(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services import quiet

    found = await quiet.periods(ctx)
    if not found:
        print("no quiet periods: `leaderbot quiet add --from YYYY-MM-DD --to YYYY-MM-DD --all`")
        return 0
    print_table(
        [
            {
                "id": p.id,
                "from": p.first_day,
                "to": p.last_day,
                "channel": p.channel_id or "all",
                "holds": ",".join(p.holds),
                "reason": p.reason,
            }
            for p in found
        ],
        ["id", "from", "to", "channel", "holds", "reason"],
    )
    return 0


async def quiet_remove(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services import quiet

    try:
        period = await quiet.remove_period(ctx, args.id, actor=CLI_ACTOR)
    except QuietError as exc:
        raise UsageError(str(exc)) from None
    print(f"removed quiet period {period.id} ({period.first_day} to {period.last_day})")
    return 0


async def quiet_release(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services import quiet

    if args.channel is not None:
        check_channels(ctx, args.channel)
    released = await quiet.release_held_digests(ctx, channel_id=args.channel, actor=CLI_ACTOR)
    if not released.keys:
        print("no held digests to send")
        return 0
    from bot.services import outbox

    report = await outbox.deliver_due(ctx, only_keys=released.keys)
    print(
        f"released {len(released.keys)} held digest(s): {len(report.sent)} sent, "
        f"{len(report.found)} already there, {len(report.deferred)} to retry"
    )
    return 0 if not report.failed else 1
