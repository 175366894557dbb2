"""`leaderbot teams …`: Microsoft Teams set-up."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError

if TYPE_CHECKING:
    from bot.settings import Settings

DEFAULT_OUT = Path("leaderbot-teams.zip")


def register(sub: Any) -> None:
    teams = sub.add_parser("teams", help="Microsoft Teams set-up")
    teams_sub = teams.add_subparsers(dest="teams_command", metavar="COMMAND")
    teams_sub.required = True
    package = teams_sub.add_parser(
        "package", help="write the Teams app package (manifest and icons, zip) to upload"
    )
    package.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"where to write it (default {DEFAULT_OUT})"
    )
    package.set_defaults(runner=_package)


async def _package(args: argparse.Namespace, settings: Settings) -> int:
    from bot.platforms.teams.package import write_package

    if not settings.teams_app_id:
        raise UsageError("set TEAMS_APP_ID (the bot's Microsoft app id) to build the package")
    try:
        path = write_package(args.out, settings.teams_app_id)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from None
    print(f"wrote {path}: upload it in Teams (Apps → Manage your apps → Upload an app)")
    return 0
