"""Core sub-commands: run, demo, questions, ask, schedule, schedules, db upgrade."""

from __future__ import annotations

import argparse
import gc
import sys
import textwrap
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.cli.common import (
    LANGUAGE_NAMES,
    LANGUAGES,
    OneLineParser,
    UsageError,
    add_channel_arg,
    check_channels,
    parse_date_arg,
    print_table,
)

if TYPE_CHECKING:
    from bot.services.context import Context
    from bot.settings import Settings
    from bot.store.models import Post

# The handlers import the services they use when they run: registering these commands (all
# that `leaderbot --help` does) imports no service, store or platform module.


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run the bot (console platform when no Slack credentials)")
    run.set_defaults(runner=_run)

    demo = sub.add_parser("demo", help="a walk-through on the console with a throwaway database")
    demo.set_defaults(runner=_demo)

    questions = sub.add_parser("questions", help="list the question set")
    questions.add_argument(
        "--language",
        choices=LANGUAGES,
        default="en",
        help="the wording to show: en (default), cy (Welsh, awaiting review) or both",
    )
    questions.set_defaults(runner=_questions)

    ask = sub.add_parser("ask", help="post a question now")
    add_channel_arg(ask)
    ask.add_argument(
        "--question", metavar="Qn", help="which question, e.g. Q3 or 3 (default: the next due)"
    )
    ask.set_defaults(handler=_ask)

    schedule = sub.add_parser("schedule", help="set, pause, resume or turn off a weekly schedule")
    add_channel_arg(schedule)
    schedule.add_argument("--day", help="day of the week, e.g. mon")
    schedule.add_argument("--time", help="24-hour or am/pm time, e.g. 09:00")
    schedule.add_argument("--timezone", help="IANA zone (default: LEADERBOT_TIMEZONE)")
    schedule.add_argument(
        "--nation",
        help="bank holidays of: england-and-wales (default), scotland, northern-ireland",
    )
    schedule.add_argument(
        "--on-bank-holiday",
        choices=("move", "skip"),
        dest="holiday_policy",
        help="move the post to the next working day (default) or skip it",
    )
    schedule.add_argument(
        "--nudge-days", help="days without replies before one reminder, 1-6, or 'off' (default 2)"
    )
    schedule.add_argument(
        "--digest",
        action="store_true",
        help="set the channel's digest schedule instead (default: Friday 16:00)",
    )
    schedule.add_argument("--to", metavar="CHANNEL", help="with --digest: post the digest here")
    schedule.add_argument(
        "--language",
        choices=LANGUAGES,
        help="what the bot writes in the channel: cy (Welsh), en (English, the default) or "
        "both (Welsh, then English); alone, it changes only the language",
    )
    mode = schedule.add_mutually_exclusive_group()
    mode.add_argument("--off", action="store_true", help="turn the schedule off")
    mode.add_argument("--pause-until", type=parse_date_arg, metavar="YYYY-MM-DD")
    mode.add_argument("--resume", action="store_true", help="resume a paused schedule")
    schedule.set_defaults(handler=_schedule)

    listing = sub.add_parser("schedules", help="every schedule: next post, recent and missed")
    listing.set_defaults(handler=_schedules)

    key = sub.add_parser(
        "secret-key", help="a new key for LEADERBOT_SECRET_KEY (encrypts stored Slack tokens)"
    )
    key.set_defaults(runner=_secret_key)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=OneLineParser)
    db_sub.required = True
    upgrade = db_sub.add_parser("upgrade", help="apply migrations")
    upgrade.set_defaults(runner=_db_upgrade)
    backup = db_sub.add_parser(
        "backup", help="copy the SQLite database to PATH while the bot runs (online backup)"
    )
    backup.add_argument("path", metavar="PATH", help="the new backup file (must not exist)")
    backup.set_defaults(runner=_db_backup)
    restore = db_sub.add_parser(
        "restore", help="overwrite the SQLite database with the backup PATH (bot stopped)"
    )
    restore.add_argument("path", metavar="PATH", help="a file made by `leaderbot db backup`")
    restore.set_defaults(runner=_db_restore)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import run_bot

    try:
        return await run_bot(settings)
    finally:
        # The process exits next. Tearing down the interpreter collects every object the bot
        # ever loaded (0.3 s idle, over a second on a busy machine): frozen, they are skipped,
        # so Ctrl-C and SIGTERM end the process at once.
        gc.freeze()


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli.demo import run_demo

    return await run_demo(settings)


async def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store.db import Database

    db = Database(settings.database_url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    print("database is up to date")
    return 0


async def _secret_key(args: argparse.Namespace, settings: Settings) -> int:
    """A fresh Fernet key, printed: no database, no platform."""
    from bot.store.token_cipher import new_key

    print(new_key())
    return 0


async def _db_backup(args: argparse.Namespace, settings: Settings) -> int:
    return _db_backup_now(args, settings)  # file I/O only: nothing else runs meanwhile


async def _db_restore(args: argparse.Namespace, settings: Settings) -> int:
    return _db_restore_now(args, settings)


def _db_backup_now(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from bot.store import backup

    try:
        database = backup.sqlite_file(settings.database_url)
        snapshot = backup.backup(database, Path(args.path).resolve())
    except backup.BackupError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"backed up {database} to {snapshot.path} "
        f"({snapshot.bytes:,} bytes, schema {snapshot.schema or 'none'})"
    )
    return 0


def _db_restore_now(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC
    from pathlib import Path

    from bot.store import backup

    try:
        database = backup.sqlite_file(settings.database_url)
        snapshot = backup.restore(
            Path(args.path).resolve(),
            database,
            stale=timedelta(seconds=settings.process_stale_s),
            now=datetime.now(UTC),
        )
    except backup.BackupError as exc:
        raise UsageError(str(exc)) from None
    print(
        f"restored {database} from {Path(args.path).resolve()} (schema "
        f"{snapshot.schema or 'none'}; the next start applies any newer migrations)"
    )
    return 0


async def _questions(args: argparse.Namespace, settings: Settings) -> int:
    """Only the question set is read: no database, no migrations, no platform."""
    from bot.domain.questions import load_question_set

    questions = load_question_set(settings.prompts_path)
    # Welsh first for `both`, as the posts are.
    languages = {"en": ("en",), "cy": ("cy",), "both": ("cy", "en")}[args.language]
    title = " / ".join(questions.title_for(lang) for lang in languages)
    print(f"{title}\nSource: {questions.source_url}\n")
    for q in questions.questions:
        marker = "" if q.provenance == "quoted" else " (paraphrased)"
        theme = " / ".join(q.theme_for(lang) for lang in languages)
        bodies = [
            textwrap.fill(q.text_for(lang), 90, initial_indent="  ", subsequent_indent="  ")
            for lang in languages
        ]
        print(f"{q.id} · {theme}{marker}\n" + "\n".join(bodies))
    return 0


def _question_id(value: str | None) -> str | None:
    """`--question 3`, `q3` and `Q3` all mean Q3."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return f"Q{int(value)}"
    return value.upper() if value[:1] in ("q", "Q") and value[1:].isdigit() else value


async def _ask(args: argparse.Namespace, ctx: Context) -> int:
    from bot.port import PermanentFailure, PlatformError
    from bot.services.ask import UnknownQuestion, ask_and_deliver

    check_channels(ctx, args.channel)
    try:
        # Before anything is recorded: a channel the bot can never post in (the app not
        # installed in that team, a private channel it was not invited to) is one line.
        await ctx.platform_for(args.channel).ensure_channel(args.channel)
    except PermanentFailure as exc:
        print(f"leaderbot: cannot post in {args.channel}: {exc}", file=sys.stderr)
        return 1
    except PlatformError:
        pass  # a passing fault: the post is recorded and retried like any other
    try:
        result = await ask_and_deliver(ctx, args.channel, _question_id(args.question))
    except UnknownQuestion as exc:
        raise UsageError(str(exc)) from None
    post = result.post
    if result.delivered:
        where = post.link or f"message {post.message_id}"
        print(f"posted {post.question_id} to {post.channel_id} ({where})")
        return 0
    if post.status == "pending":
        # Recorded and not lost: asking again would make a second question.
        print(
            f"not posted yet ({post.error}); it is queued and `leaderbot run` will send it "
            "exactly once, so do not ask again",
            flush=True,
        )
    else:
        print(f"not posted ({post.status}): {post.error}", flush=True)
    return 1


def _parse(fn: Any, value: str) -> Any:
    from bot.domain import parsing

    try:
        return fn(value)
    except parsing.ParseError as exc:
        raise UsageError(str(exc)) from None


def _nudge_days(value: str | None) -> int | str | None:
    if value is None:
        return "keep"
    if value.lower() in ("off", "none"):
        return None
    if value.isdigit() and 1 <= int(value) <= 6:
        return int(value)
    raise UsageError(f"--nudge-days takes 1-6 or 'off', not {value!r} (e.g. --nudge-days 2)")


async def _schedule(args: argparse.Namespace, ctx: Context) -> int:
    from bot.domain import parsing
    from bot.domain.schedule import DAY_NAMES
    from bot.services import schedules as schedule_service

    check_channels(ctx, args.channel, args.to)
    kind = "digest" if args.digest else "question"
    label = f"{kind} schedule for {args.channel}"
    if args.to and not args.digest:
        raise UsageError("--to goes with --digest (e.g. --digest --day fri --time 16:00 --to C2)")
    if args.digest and args.nudge_days:
        raise UsageError("--nudge-days belongs to the question schedule: drop --digest")
    changes_schedule = bool(args.off or args.pause_until or args.resume or args.day or args.time)
    if args.language:
        from bot.services import channels

        before = await channels.set_language(ctx, args.channel, args.language, actor="cli")
        state = "already" if before == args.language else "now"
        print(f"{args.channel} is {state} written in {LANGUAGE_NAMES[args.language]}")
        if not changes_schedule:
            return 0
    try:
        if args.off:
            await schedule_service.turn_off(ctx, args.channel, kind=kind)
            print(f"{label} is off")
            return 0
        if args.pause_until:
            await schedule_service.pause(ctx, args.channel, until=args.pause_until, kind=kind)
            print(f"{label} paused until {args.pause_until.isoformat()}")
            return 0
        if args.resume:
            await schedule_service.resume(ctx, args.channel, kind=kind)
            print(f"{label} resumed")
            return 0
        if not args.day or not args.time:
            raise UsageError(
                "schedule needs --day and --time (e.g. --day mon --time 09:00), "
                "or one of --off, --pause-until, --resume, --language"
            )
        weekday = _parse(parsing.parse_day, args.day)
        at = _parse(parsing.parse_time, args.time)
        zone = _parse(parsing.parse_zone, args.timezone) if args.timezone else None
        nation = _parse(parsing.parse_nation, args.nation) if args.nation else None
        schedule = await schedule_service.set_schedule(
            ctx,
            args.channel,
            weekday=weekday,
            time=at,
            timezone=zone,
            nation=nation,
            holiday_policy=args.holiday_policy,
            kind=kind,
            target_channel_id=args.to,
            nudge_after_days=_nudge_days(args.nudge_days),  # type: ignore[arg-type]
        )
    except schedule_service.ScheduleError as exc:
        raise UsageError(str(exc)) from None
    views = await schedule_service.list_schedules(ctx, channel_id=args.channel)
    upcoming = next((v.next for v in views if v.schedule.id == schedule.id), None)
    print(
        f"{args.channel} {kind}: {DAY_NAMES[schedule.weekday]}s at {schedule.time} "
        f"{schedule.timezone}"
        + (f", posted to {schedule.target_channel_id}" if schedule.target_channel_id else "")
        + (f"; next {upcoming.due_at.isoformat()}" if upcoming else "")
    )
    return 0


def _recent(post: Post, now: datetime) -> str:
    """One past post: its date and status; why, when it did not go; how late, when still due."""
    from bot.services import outbox

    text = f"{post.occurrence or post.due_at.date()} {post.status}"
    late = outbox.overdue(post, now)
    if late is not None:
        text += f", {_how_late(late)} late, attempt {post.attempts}"
    if post.question_id:
        text += f" ({post.question_id})"
    if post.error and (late is not None or post.status in ("missed", "failed", "skipped")):
        text += f": {post.error}"
    return text


def _how_late(late: timedelta) -> str:
    minutes = int(late.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


async def _schedules(args: argparse.Namespace, ctx: Context) -> int:
    from bot.domain.schedule import DAY_NAMES
    from bot.services import schedules as schedule_service

    views = await schedule_service.list_schedules(ctx)
    if not views:
        print("no schedules yet: `leaderbot schedule --channel ID --day mon --time 09:00`")
        return 0
    rows: list[dict[str, Any]] = []
    now = ctx.clock()
    for view in views:
        s = view.schedule
        recent = "; ".join(_recent(p, now) for p in view.last_posts)
        rows.append(
            {
                "channel": s.channel_id,
                "kind": s.kind,
                "when": f"{DAY_NAMES[s.weekday][:3]} {s.time} {s.timezone}",
                "state": view.state,
                "next": view.next.due_at.strftime("%Y-%m-%d %H:%M UTC") if view.next else "-",
                "recent": recent or "-",
            }
        )
    print_table(rows, ["channel", "kind", "when", "state", "next", "recent"])
    return 0
