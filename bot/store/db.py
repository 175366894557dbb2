"""The database handle: one async engine, read and write transactions, migrations.

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for write transactions, so a
read-then-write never fails half-way with "database is locked" when two processes share the
file. PostgreSQL gets plain transactions; the same queries run on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
_IMMEDIATE = "leaderbot_immediate"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.sqlite:
            kwargs |= {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}
        self.engine = create_async_engine(url, **kwargs)
        if self.sqlite:
            _install_sqlite_hooks(self.engine)
            writer = self.engine.execution_options(**{_IMMEDIATE: True})
        else:
            writer = self.engine
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(writer, expire_on_commit=False)
        # SQLite has one writer at a time. Queueing our own writers here, instead of letting
        # them collide on the file lock, avoids SQLite's busy handler, which sleeps in steps
        # of up to 100 ms. Other processes still wait on busy_timeout.
        self._write_gate: asyncio.Lock | None = asyncio.Lock() if self.sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A transaction that commits on success; BEGIN IMMEDIATE on SQLite."""
        if self._write_gate is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        async with self._write_gate, self._writer() as session, session.begin():
            yield session

    async def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade_sync)

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade_sync(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def upgrade_blocking(url: str) -> None:
    """For the CLI: `leaderbot db upgrade`."""

    async def _run() -> None:
        db = Database(url)
        try:
            await db.upgrade()
        finally:
            await db.dispose()

    asyncio.run(_run())
