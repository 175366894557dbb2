"""Digest and data-protection sub-commands: digest, export, forget."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, add_channel_arg, check_channels, parse_date_arg, user_id_arg

if TYPE_CHECKING:
    from bot.services.context import Context

# bot.domain.digest_render.FORMATS, spelt out: importing the renderer (and the question models
# under it) only to list its formats would slow every command down. tests/test_cli_startup.py
# checks the two agree.
FORMATS = ("markdown", "html", "csv", "json", "text")


def register(sub: Any) -> None:
    digest = sub.add_parser("digest", help="build a channel's digest now (and optionally post it)")
    add_channel_arg(digest)
    digest.add_argument(
        "--since", type=parse_date_arg, metavar="YYYY-MM-DD", help="default: the last 7 days"
    )
    digest.add_argument(
        "--until",
        type=parse_date_arg,
        metavar="YYYY-MM-DD",
        help="with --out: the last day archived (default: today)",
    )
    digest.add_argument("--format", choices=FORMATS, default="markdown")
    digest.add_argument(
        "--out",
        metavar="DIR",
        help="archive --since..--until into DIR, one file a week (YYYY-Www-CHANNEL.html|json)",
    )
    digest.add_argument("--post", action="store_true", help="also post it to the channel")
    digest.add_argument("--to", metavar="CHANNEL", help="with --post: post it here instead")
    digest.set_defaults(handler=_digest)

    export = sub.add_parser("export", help="everything stored about a user, as JSON")
    export.add_argument("--user", required=True, type=user_id_arg, help="user ID, e.g. U0123ABCD")
    export.set_defaults(handler=_export)

    forget = sub.add_parser("forget", help="erase a user's replies and cached profile")
    forget.add_argument("--user", required=True, type=user_id_arg, help="user ID, e.g. U0123ABCD")
    forget.set_defaults(handler=_forget)


async def _digest(args: argparse.Namespace, ctx: Context) -> int:
    from zoneinfo import ZoneInfo

    from bot.domain.digest import window_since
    from bot.domain.digest_render import incomplete_note, render
    from bot.domain.language import translator
    from bot.services import channels
    from bot.services.digest import (
        build_channel_digest,
        digest_post,
        post_digest_now,
        window_ending,
    )

    zone = ZoneInfo(ctx.settings.timezone)
    now = ctx.clock()
    if args.out is not None:
        return await _archive(args, ctx)
    if args.until is not None:
        raise UsageError("--until only makes sense with --out (archiving a range by week)")
    if args.since is not None:
        if args.since > now.astimezone(zone).date():
            raise UsageError(f"--since {args.since.isoformat()} is in the future")
        window = window_since(args.since, now, zone)
    else:
        window = window_ending(now, ctx.settings.timezone)
    check_channels(ctx, args.channel, args.to)
    if args.to and not args.post:
        raise UsageError("--to only makes sense with --post")
    digest = await build_channel_digest(ctx, args.channel, window)
    # Written in the channel's language (`leaderbot schedule --language`), like the posts.
    language = await channels.language_of(ctx, args.channel)
    chart = digest_post(digest, language) if args.format == "html" else None
    # No chart_alt: the page's own alt text sums the chart up and points to its data table.
    sys.stdout.write(
        render(
            digest,
            args.format,
            chart_png=chart.chart_png if chart else None,
            t=translator(language),
        )
    )
    if args.post:
        row, report = await post_digest_now(ctx, args.channel, window, args.to)
        if not (report.sent or report.found):
            print(f"digest not posted: {report}", file=sys.stderr)
            return 1
        print(f"digest posted to {row.channel_id}", file=sys.stderr)
    if not digest.complete:
        # A thread could not be read back from the platform: replies may be missing.
        print(f"warning: {incomplete_note(digest)}", file=sys.stderr)
        return 1
    return 0


ARCHIVE_FORMATS = ("html", "json")


async def _archive(args: argparse.Namespace, ctx: Context) -> int:
    """`digest --since DATE [--until DATE] --format html|json --out DIR`: one file a week."""
    from zoneinfo import ZoneInfo

    from bot.domain.digest import archive_file_name, archive_windows
    from bot.domain.digest_render import render
    from bot.services.digest import build_channel_digest, digest_post

    if args.format not in ARCHIVE_FORMATS:
        raise UsageError(
            f"--out archives as html or json, not {args.format}: add --format html or --format json"
        )
    if args.since is None:
        raise UsageError("--out needs --since YYYY-MM-DD: the first day to archive")
    if args.post or args.to:
        raise UsageError("--out archives to files; post a digest without --out")
    zone = ZoneInfo(ctx.settings.timezone)
    today = ctx.clock().astimezone(zone).date()
    until = args.until or today
    for name, day in (("--since", args.since), ("--until", until)):
        if day > today:
            raise UsageError(f"{name} {day.isoformat()} is in the future (today is {today})")
    try:
        weeks = archive_windows(args.since, until, zone)
    except ValueError as exc:
        raise UsageError(f"{exc} (--since {args.since}, --until {until})") from None
    check_channels(ctx, args.channel)
    out = _archive_dir(args.out)

    incomplete = 0
    for week, window in weeks:
        digest = await build_channel_digest(ctx, args.channel, window)
        chart = digest_post(digest) if args.format == "html" else None
        text = render(
            digest,
            args.format,
            chart_png=chart.chart_png if chart else None,
            chart_alt=chart.chart_alt if chart else "",
        )
        path = out / archive_file_name(week, args.channel, args.format)
        _write_whole(path, text)
        print(path)
        if not digest.complete:
            incomplete += 1
            print(f"warning: {path.name}: {digest.unread_threads} threads unread", file=sys.stderr)
    print(f"archived {len(weeks)} weeks of {args.channel} in {out}", file=sys.stderr)
    return 1 if incomplete else 0


def _archive_dir(value: str) -> Path:
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    return out


def _write_whole(path: Path, text: str) -> None:
    """Written whole or not at all: a records system may pick files up as they appear."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _export(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.privacy import export_user

    sys.stdout.write(json.dumps(await export_user(ctx, args.user), indent=2) + "\n")
    return 0


async def _forget(args: argparse.Namespace, ctx: Context) -> int:
    from bot.services.privacy import forget_user

    erased = await forget_user(ctx, args.user)
    print(
        f"erased {erased.replies} replies"
        + (" and the cached profile" if erased.profile else "")
        + f" of {args.user}"
    )
    return 0
