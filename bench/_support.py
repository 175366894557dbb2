"""What every benchmark needs: a ready Context on a throwaway SQLite database, and peak RSS."""

from __future__ import annotations

import resource
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.port import ChatPlatform
from bot.runtime import open_context
from bot.services.context import Context, Platforms
from bot.settings import Settings


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KB on Linux


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot, from /proc/stat (Linux)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


def percent(share: float | None) -> str:
    """A share as a percentage, or n/a (MachineCpu without /proc/stat)."""
    return "n/a" if share is None else f"{share:.0%}"


class MachineCpu:
    """How busy the whole machine's cores were between `start()` and `busy()` (0-1): a figure
    of 0.95 says the run was bound by CPU (this machine's, shared by the bot, the fakes, the
    database and the load), not by the code's waiting. None where /proc/stat is missing."""

    def __init__(self) -> None:
        self._start: tuple[int, int] | None = None

    def start(self) -> MachineCpu:
        try:
            self._start = _cpu_ticks()
        except OSError:
            self._start = None
        return self

    def busy(self) -> float | None:
        if self._start is None:
            return None
        busy, total = _cpu_ticks()
        spent = total - self._start[1]
        return (busy - self._start[0]) / spent if spent else None


@asynccontextmanager
async def temp_context(
    *, platform: ChatPlatform | None = None, **settings: Any
) -> AsyncIterator[Context]:
    """A Context as `leaderbot run` builds it (migrated database, question set, a pooled Slack
    client when a bot token is given), on SQLite in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="leaderbot-bench-") as tmp:
        values = {"DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"} | settings
        config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        platforms = Platforms([platform]) if platform is not None else None
        async with open_context(config, platforms=platforms) as ctx:
            yield ctx
