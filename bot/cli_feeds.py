"""`leaderbot feeds add|remove|list|poll`: the news feeds watched for new Socitm reports."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.cli import OneLineParser, print_table
from bot.services.context import Context
from bot.services.feeds import admin
from bot.watch.catalogue import CatalogueError, load_catalogue

KEYWORD_HELP = (
    "plain words widen (an item containing one alerts even without the Socitm test); "
    "+word requires it; -word excludes it (write --keywords=-word, or use --exclude)"
)


def register(subparsers: Any) -> None:
    feeds = subparsers.add_parser(
        "feeds",
        help="news feeds watched for new Socitm reports",
        description="Feeds watched for new Socitm reports. Alerts go to channels that turned "
        "them on (/leadership alerts on); a feed added with --channel alerts that channel only.",
    )
    sub = feeds.add_subparsers(dest="feeds_command", metavar="ACTION", parser_class=OneLineParser)
    sub.required = True

    add = sub.add_parser("add", help="watch a feed (its current items are never alerted)")
    add.add_argument("url", nargs="?", help="the feed's address (RSS or Atom), https://…")
    add.add_argument("--channel", help="alert this channel only (default: every alerts channel)")
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

    poll = sub.add_parser("poll", help="run one polling cycle now")
    poll.add_argument("--all", action="store_true", help="poll every feed, due or not")
    poll.add_argument(
        "--send", action="store_true", help="also send the alerts it queues (else the bot does)"
    )
    poll.set_defaults(handler=_poll)


def _err(message: str) -> int:
    print(f"leaderbot feeds: {message}", file=sys.stderr)
    return 1


async def _add(args: argparse.Namespace, ctx: Context) -> int:
    if args.catalogue:
        return await _add_catalogue(ctx)
    if not args.url:
        return _err("give the feed's address, e.g. `leaderbot feeds add https://…/feed/`")
    words = [*args.keywords, *(f"+{w}" for w in args.require), *(f"-{w}" for w in args.exclude)]
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
        return _err(str(exc))
    where = f"channel {view.channel_id} only" if view.channel_id else "every alerts channel"
    print(
        f"added feed {view.id}: {view.source} {view.url}\n"
        f"  every {view.poll_minutes} min; alerts to {where}"
        + (f"; keywords {' '.join(view.keywords)}" if view.keywords else "")
        + "\n  its current items are recorded on the first poll, not alerted"
    )
    if view.channel_id and not await admin.alerts_enabled(ctx, view.channel_id):
        print(
            f"  note: {view.channel_id} has alerts off; type `/leadership alerts on` there "
            "to receive them"
        )
    return 0


async def _add_catalogue(ctx: Context) -> int:
    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        return _err(str(exc))
    added = 0
    for entry in catalogue:
        try:
            view = await admin.add_feed(ctx, entry.url, actor="cli")
        except admin.FeedAdminError as exc:
            print(f"  skipped {entry.url}: {exc}")
            continue
        added += 1
        flag = "" if entry.confirmed else " (URL not confirmed)"
        print(f"added feed {view.id}: {view.source} {view.url}{flag}")
    print(f"{added} catalogue feed(s) added")
    return 0


async def _remove(args: argparse.Namespace, ctx: Context) -> int:
    try:
        view = await admin.remove_feed(ctx, args.feed_id, actor="cli")
    except admin.FeedAdminError as exc:
        return _err(str(exc))
    how = " (a catalogue feed: kept as removed)" if view.from_catalogue else ""
    print(f"removed feed {view.id}: {view.source} {view.url}{how}")
    return 0


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


async def _list(args: argparse.Namespace, ctx: Context) -> int:
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


async def _poll(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services import outbox
    from bot.watch.watcher import run_cycle

    report = await run_cycle(ctx, force=args.all)
    for o in report.outcomes:
        line = f"feed {o.feed_id} {o.source}: {o.status.replace('_', ' ')}"
        if o.status == "failed":
            line += f" [{o.code}] {o.reason}"
        elif o.new_items or o.alerts:
            line += f", {o.new_items} new item(s), {o.matched} report(s), {o.alerts} alert(s)"
        print(line)
    print(report.summary())
    if args.send and (report.alerts or report.notices):
        delivery = await outbox.deliver_due(ctx)
        print(f"sent {len(delivery.sent)}, failed {len(delivery.failed)}")
    return 0
