"""`leaderbot …` (same as `python -m bot …`).

A bad argument gets one clear line on stderr and exit code 2. Each feature adds its own
sub-commands through a `register(subparsers)` function in its own module (CLI_MODULES).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any, NoReturn

from pydantic import ValidationError

from bot.domain.questions import QuestionSetError
from bot.services.context import Context
from bot.settings import Settings

EXIT_USAGE = 2
Handler = Callable[[argparse.Namespace, Context], Awaitable[int]]

# Feature modules that add sub-commands; absent ones are skipped.
CLI_MODULES = ("bot.cli_core", "bot.cli_digest", "bot.cli_feeds", "bot.cli_admin")


class UsageError(Exception):
    """A bad argument found after parsing (a day, a time, a zone): one line, exit 2."""


class StartupError(Exception):
    """The bot cannot start (port taken, Slack settings incomplete): one line, exit 1."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="leaderbot",
        description="The weekly Socitm leadership question, its replies and a digest.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def parse_date_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-01"
        ) from None


def _configure_logging(settings: Settings | None, verbose: bool) -> None:
    level = "DEBUG" if verbose else (settings.log_level if settings else "INFO")
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The Slack SDK logs request bodies at DEBUG; keep it quieter than ours.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, logging.getLevelName(level)))


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        names = first.get("loc") or ("?",)
        raise UsageError(f"setting {names[0]}: {first['msg']}") from None


async def _with_context(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import open_context

    async with open_context(settings) as ctx:
        return await handler(args, ctx)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        _configure_logging(settings, args.verbose)
        runner: Callable[[argparse.Namespace, Settings], Awaitable[int]] | None = getattr(
            args, "runner", None
        )
        if runner is not None:  # commands that manage their own lifecycle (run, demo, db)
            return asyncio.run(runner(args, settings))
        return asyncio.run(_with_context(args.handler, args, settings))
    except (UsageError, QuestionSetError) as exc:
        print(f"leaderbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StartupError as exc:
        print(f"leaderbot: cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `leaderbot questions | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def fail(message: str) -> NoReturn:
    raise UsageError(message)


def add_channel_arg(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--channel", required=required, help="channel ID (C… in Slack, any name on the console)"
    )


SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")  # names are lower case: never match


def check_channels(ctx: Context, *values: str | None) -> None:
    """On Slack a channel is named by its ID: a name would post, but replies and look-ups
    (which Slack reports by ID) would never match it."""
    if ctx.platform.name != "slack":
        return
    for value in values:
        if value is not None and not SLACK_CHANNEL_ID.fullmatch(value):
            raise UsageError(
                f"{value!r} is not a Slack channel ID: use the ID, e.g. C0123ABCD "
                "(channel name → About → Channel ID)"
            )


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())
