"""What every command group of the CLI shares: its errors, argument types and output.

Imported by `leaderbot --help`, so it imports nothing heavy: the services, the store and the
platforms are imported by the handlers that use them (tests/test_cli_startup.py checks).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from bot.services.context import Context
    from bot.settings import Settings

EXIT_USAGE = 2
# A command that runs in an open Context (database migrated, platforms opened)...
Handler = Callable[[argparse.Namespace, "Context"], Awaitable[int]]
# ...or one that manages its own lifecycle (run, demo, db upgrade, questions, teams package).
Runner = Callable[[argparse.Namespace, "Settings"], Awaitable[int]]


class UsageError(Exception):
    """A bad argument found after parsing (a day, a time, a zone): one line, exit 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def parse_date_arg(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-01"
        ) from None


def user_id_arg(value: str) -> str:
    """A user id as typed after --user: one word, not empty."""
    value = value.strip()
    if not value or any(ch.isspace() for ch in value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a user ID: give one, e.g. --user U0123ABCD (Slack) or an Entra "
            "object ID (Teams)"
        )
    return value


def fail(message: str) -> NoReturn:
    raise UsageError(message)


def add_channel_arg(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--channel", required=required, help="channel ID (C… in Slack, any name on the console)"
    )


def check_channels(ctx: Context, *values: str | None) -> None:
    """Each channel id must be one a configured platform can serve (a Slack channel is named
    by its id, not its name: replies and look-ups would never match a name)."""
    from bot.port import PermanentFailure

    for value in values:
        if value is None:
            continue
        if not value.strip():
            raise UsageError("the channel is empty: give its ID, e.g. --channel C0123ABCD")
        try:
            ctx.platform_for(value)
        except PermanentFailure as exc:
            # Each platform says what it expects (e.g. Slack: an id, not a name).
            problems = [p for a in ctx.platforms if (p := a.channel_id_problem(value))]
            raise UsageError("; or ".join(problems) or str(exc)) from None


def print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


# bot.domain.language.LANGUAGES, spelt out so that building the parser imports no Babel
# (tests/test_cli_startup.py checks the two agree).
LANGUAGES = ("en", "cy", "both")
LANGUAGE_NAMES = {"en": "English", "cy": "Welsh", "both": "Welsh, then English"}
