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
