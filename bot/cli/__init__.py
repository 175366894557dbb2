"""`leaderbot …` (same as `python -m bot …`).

A bad argument gets one clear line on stderr and exit code 2. Each command group is a module of
this package with a `register(subparsers)` function, listed in COMMAND_GROUPS.

Start-up is kept short: building the parser imports no service, store or platform module (no
SQLAlchemy, Alembic, HTTP client or chat SDK), so `leaderbot --help` is quick; each handler
imports what it needs when it runs. tests/test_cli_startup.py guards this.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.cli import admin, core, digest, feeds, quiet, teams
from bot.cli.common import EXIT_USAGE, Handler, OneLineParser, Runner, UsageError
from bot.cli.log_format import JsonFormatter

if TYPE_CHECKING:
    from bot.settings import Settings


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("leaderbot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """`--version`, looked up only when asked for (reading the installed metadata takes a
    while, and every other command would pay for it)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(f"leaderbot {_version()}")
        parser.exit()


COMMAND_GROUPS = (core, digest, feeds, admin, teams, quiet)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="leaderbot",
        description="The weekly Socitm leadership question, its replies and a digest.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


# Libraries that log personal data (message texts, user ids, profiles) at DEBUG: request and
# response bodies (the Slack SDK, Bolt, the Teams SDK, httpx/httpcore), database statements
# with their parameters and result rows (SQLAlchemy, aiosqlite, asyncpg). They are held at
# INFO or above whatever level is asked for, so `-v` or LEADERBOT_LOG_LEVEL=DEBUG shows our
# own debugging and never a reply's text or a profile field.
QUIET_LOGGERS = {
    "slack_sdk": logging.INFO,
    "slack_bolt": logging.INFO,
    "microsoft_teams": logging.INFO,
    "httpx": logging.WARNING,  # also: its INFO line per request is noise on stderr
    "httpcore": logging.INFO,
    "sqlalchemy": logging.WARNING,
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "alembic": logging.WARNING,
    "apscheduler": logging.WARNING,
}


def _configure_logging(settings: Settings | None, verbose: bool) -> None:
    level = "DEBUG" if verbose else (settings.log_level if settings else "INFO")
    handler = logging.StreamHandler(sys.stderr)
    if settings is not None and settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    quiet_personal_data_loggers(logging.getLevelName(level))


def quiet_personal_data_loggers(level: int | str = logging.INFO) -> None:
    """Hold the libraries that log bodies or rows at DEBUG at their floor (or `level`, if
    higher)."""
    number = level if isinstance(level, int) else logging.getLevelName(level)
    if not isinstance(number, int):
        number = logging.INFO
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, number))


def load_settings() -> Settings:
    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        names = first.get("loc") or ("?",)
        raise UsageError(f"setting {names[0]}: {first['msg']}") from None


async def _with_context(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    from bot.runtime import open_context
    from bot.services import processes

    # Registered for its duration: a post it claims and is killed holding is taken over soon.
    async with open_context(settings) as ctx, processes.alive(ctx, recover=False):
        return await handler(args, ctx)


def _is(exc: BaseException, module: str, name: str) -> bool:
    """Whether `exc` is the error `name` of `module`, without importing that module: an error
    of a module that was never imported cannot have been raised."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import asyncio  # not for `--help`, which has exited by now

    try:
        settings = load_settings()
        _configure_logging(settings, args.verbose)
        runner: Runner | None = getattr(args, "runner", None)
        if runner is not None:  # commands that manage their own lifecycle (run, demo, db, …)
            return asyncio.run(runner(args, settings))
        return asyncio.run(_with_context(args.handler, args, settings))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `leaderbot questions | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        if (
            isinstance(exc, UsageError)
            or _is(exc, "bot.domain.questions", "QuestionSetError")
            or _is(exc, "bot.domain.language", "CatalogueError")
            or _is(exc, "bot.store.db", "DatabaseUnavailable")
        ):
            print(f"leaderbot: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if _is(exc, "bot.runtime", "StartupError"):
            print(f"leaderbot: cannot start: {exc}", file=sys.stderr)
            return 1
        raise
