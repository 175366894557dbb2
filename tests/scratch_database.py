"""A brand-new PostgreSQL database on a server, dropped afterwards: for the tests that run on
PostgreSQL (conftest's `database_url`) and the benchmarks' `--postgres` / `--database-url`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.store.db import normalise_url


@asynccontextmanager
async def scratch_database(server_url: str, prefix: str = "leaderbot_t") -> AsyncIterator[str]:
    """Create a database named `<prefix>_<random>` on the server `server_url` names (connecting
    to the database it names first), yield its SQLAlchemy URL, drop it on the way out (even
    with connections still open)."""
    import asyncpg

    url = normalise_url(server_url)
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(plain)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = url.partition("?")[0].rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(plain)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
