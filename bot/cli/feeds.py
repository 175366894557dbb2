"""`leaderbot feeds add|remove|list|poll` and `leaderbot alerts on|off`: the news feeds watched
for new Socitm reports, and the channels alerted.

Every refusal is one line on stderr naming what to type instead, and exit code 2 (the CLI
contract); the feed service words its errors for any surface, and `_refuse` turns its
"`feeds`" into the command to type here.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any

from bot.cli.common import EXIT_USAGE, OneLineParser, check_channels, print_table

if TYPE_CHECKING:
    from bot.services.context import Context
    from bot.services.feeds.admin import FeedAdminError
    from bot.watch.cycle import FeedOutcome

# The handlers import the feed service and the watcher (an HTTP client, a feed parser) when
# they run: `leaderbot --help` registers these commands without loading any of them.

KEYWORD_HELP = (
    "plain words widen (an item containing one alerts even without the Socitm test); "
    "+word requires it; -word excludes it (write --keywords=-word, or use --exclude)"
)
EXIT_ALL_FAILED = 1  # `feeds poll` when every feed failed: a cron job should notice


def register(subparsers: Any) -> None:
    _register_feeds(subparsers)
    _register_alerts(subparsers)


def _register_feeds(subparsers: Any) -> None:
    feeds = subparsers.add_parser(
        "feeds",
        help="news feeds watched for new Socitm reports",
        description="Feeds watched for new Socitm reports. Alerts go to channels that turned "
        "them on (leaderbot alerts on --channel ID); a feed added with --channel alerts that "
        "channel only, and turns its alerts on.",
    )
    sub = feeds.add_subparsers(dest="feeds_command", metavar="ACTION", parser_class=OneLineParser)
    sub.required = True

    add = sub.add_parser("add", help="watch a feed (its current items are never alerted)")
    add.add_argument("url", nargs="?", help="the feed's address (RSS or Atom), https://…")
    add.add_argument(
        "--channel", help="alert this channel only, turning its alerts on (default: every "
        "alerts channel)"
    )  # fmt: skip
    add.add_argument("--keywords", nargs="+", default=[], metavar="WORD", help=KEYWORD_HELP)
    add.add_argument("--require", nargs="+", default=[], metavar="WORD", help="only items with")
    add.add_argument("--exclude", nargs="+", default=[], metavar="WORD", help="never items with")
    add.add_argument("--name", help="publisher name shown in alerts (default: from the host)")
    add.add_argument("--interval", type=int, metavar="MINUTES", help="poll interval (5-1440)")
    add.add_argument(
        "--catalogue",
        action="store_true",
        help="add every feed in feeds/catalogue.toml (brings back removed ones)",
    )
    add.set_defaults(handler=_add)

    remove = sub.add_parser("remove", help="stop watching a feed")
    remove.add_argument("feed_id", type=int, metavar="ID", help="the feed's number (feeds list)")
    remove.set_defaults(handler=_remove)

    listing = sub.add_parser("list", help="the feeds watched, with their health")
    listing.add_argument("--all", action="store_true", help="include removed catalogue feeds")
    listing.set_defaults(handler=_list)

    poll = sub.add_parser("poll", help="poll every feed now and send the alerts found")
    # Accepted so that scripts written for the old `poll --all --send` keep working: polling
    # every feed and sending is what `poll` does now.
    poll.add_argument("--all", action="store_true", help=argparse.SUPPRESS)
    poll.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    poll.set_defaults(handler=_poll)


def _register_alerts(subparsers: Any) -> None:
    alerts = subparsers.add_parser(
        "alerts",
        help="turn report alerts on or off for a channel",
        description="Alerts about new Socitm reports, for one channel.",
    )
    alerts.add_argument("state", choices=("on", "off"), help="on or off")
    alerts.add_argument("--channel", required=True, help="channel ID (C… in Slack, 19:… in Teams)")
    alerts.set_defaults(handler=_alerts)


def _refuse(message: str) -> int:
    print(f"leaderbot: {message}", file=sys.stderr)
    return EXIT_USAGE


def _refuse_feed(exc: FeedAdminError) -> int:
    text = str(exc).replace("`feeds`", "`leaderbot feeds list`")
    if "leaderbot" not in text and "LEADERBOT_" not in text:
        text += " (`leaderbot feeds list` shows the feeds)"
    return _refuse(text)


def _channel_refusal(ctx: Context, channel: str | None) -> str | None:
    if channel is None:
        return None
    if not channel.strip():
        return "--channel needs a channel ID, e.g. --channel C0123ABCD (or leave it out)"
    check_channels(ctx, channel)  # Slack: an ID, not a name (raises UsageError: exit 2)
    return None


async def _add(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.feeds import admin

    if args.catalogue:
        return await _add_catalogue(ctx)
    if not args.url:
        return _refuse("give the feed's address: `leaderbot feeds add https://…/feed/`")
    if (refusal := _channel_refusal(ctx, args.channel)) is not None:
        return _refuse(refusal)
    words = [*args.keywords, *(f"+{w}" for w in args.require), *(f"-{w}" for w in args.exclude)]
    was_on = args.channel is not None and await admin.alerts_enabled(ctx, args.channel)
    try:
        view = await admin.add_feed(
            ctx,
            args.url,
            channel_id=args.channel,
            keywords=words,
            name=args.name,
            interval_minutes=args.interval,
            actor="cli",
        )
    except admin.FeedAdminError as exc:
        return _refuse_feed(exc)
    where = f"channel {view.channel_id} only" if view.channel_id else "every alerts channel"
    print(
        f"added feed {view.id}: {view.source} {view.url}\n"
        f"  every {view.poll_minutes} min; alerts to {where}"
        + (f"; keywords {' '.join(view.keywords)}" if view.keywords else "")
        + "\n  its current items are recorded on the first poll, not alerted"
    )
    if view.channel_id and not was_on:
        print(
            f"  alerts turned on in {view.channel_id} "
            f"(`leaderbot alerts off --channel {view.channel_id}` turns them off)"
        )
    return 0


async def _add_catalogue(ctx: Context) -> int:
    from bot.services.feeds import admin
    from bot.watch.catalogue import CatalogueError, load_catalogue

    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        return _refuse(f"{exc} (fix the file, then `leaderbot feeds add --catalogue`)")
    added = 0
    for entry in catalogue:
        try:
            view = await admin.add_feed(ctx, entry.url, actor="cli", catalogue=catalogue)
        except admin.FeedAdminError as exc:
            print(f"  skipped {entry.url}: {exc}")
            continue
        added += 1
        flag = "" if entry.confirmed else " (URL not confirmed)"
        print(f"added feed {view.id}: {view.source} {view.url}{flag}")
    print(f"{added} catalogue feed(s) added")
    return 0


async def _remove(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.feeds import admin

    try:
        view = await admin.remove_feed(ctx, args.feed_id, actor="cli")
    except admin.FeedAdminError as exc:
        return _refuse_feed(exc)
    how = " (a catalogue feed: kept as removed)" if view.from_catalogue else ""
    print(f"removed feed {view.id}: {view.source} {view.url}{how}")
    return 0


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


async def _list(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.feeds import admin

    views = await admin.list_feeds(ctx, include_removed=args.all)
    if not views:
        print("no feeds yet: `leaderbot feeds add URL`, or `leaderbot feeds add --catalogue`")
        return 0
    rows: list[dict[str, Any]] = []
    for v in views:
        if not v.enabled:
            health = "removed"
        elif v.consecutive_failures:
            health = f"failing x{v.consecutive_failures}: {(v.last_error or '')[:60]}"
        elif v.last_success_at:
            health = f"ok {_when(v.last_success_at)}"
        else:
            health = "not polled yet"
        rows.append(
            {
                "id": v.id,
                "source": v.source,
                "url": v.url,
                "channel": v.channel_id or "all",
                "keywords": " ".join(v.keywords) or "-",
                "every": f"{v.poll_minutes}m",
                "next": _when(v.next_poll_at),
                "health": health,
            }
        )
    print_table(rows, ["id", "source", "url", "channel", "keywords", "every", "next", "health"])
    return 0


def _feed_line(o: FeedOutcome, sent: int, unsent: int) -> str:
    line = f"feed {o.feed_id} {o.source}: {o.status.replace('_', ' ')}"
    if o.status == "failed":
        line += f" [{o.code}] {o.reason}"
    elif o.new_items or o.alerts:
        line += f", {o.new_items} new item(s), {o.matched} report(s), {o.alerts} alert(s) queued"
    if sent or unsent:
        line += f"; {sent} post(s) sent" + (f", {unsent} not sent" if unsent else "")
    return line


async def _poll(args: argparse.Namespace, ctx: Context) -> int:
    """Poll every feed now, then send the alerts and notices waiting (no `run` needed)."""
    from bot.services import outbox
    from bot.watch.alerts import feed_posts_waiting
    from bot.watch.cycle import run_cycle

    report = await run_cycle(ctx, force=True)
    waiting = await feed_posts_waiting(ctx)
    delivery = await outbox.deliver_due(ctx, only_keys=waiting) if waiting else None
    sent: Counter[int | None] = Counter()
    unsent: Counter[int | None] = Counter()
    if delivery is not None:
        for key in (*delivery.sent, *delivery.found):
            sent[waiting.get(key)] += 1
        for key in (*delivery.failed, *delivery.missed, *delivery.deferred):
            unsent[waiting.get(key)] += 1
    if not report.outcomes:
        print("no feeds yet: `leaderbot feeds add URL`, or `leaderbot feeds add --catalogue`")
    for o in report.outcomes:
        print(_feed_line(o, sent[o.feed_id], unsent[o.feed_id]))
    print(report.summary())
    if delivery is not None:
        print(f"sent {sum(sent.values())} post(s), {sum(unsent.values())} not sent (retried later)")
    if report.outcomes and len(report.failed) == len(report.outcomes):
        print("leaderbot: every feed failed (see the reasons above)", file=sys.stderr)
        return EXIT_ALL_FAILED
    return 0


async def _alerts(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.feeds import admin

    if (refusal := _channel_refusal(ctx, args.channel)) is not None:
        return _refuse(refusal)
    enabled = args.state == "on"
    before = await admin.set_alerts(ctx, args.channel, enabled, actor="cli")
    if before == enabled:
        print(f"alerts already {args.state} in {args.channel}")
    else:
        print(f"alerts {args.state} in {args.channel}")
    return 0
