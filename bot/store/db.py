"""The database handle: one async engine, read and write transactions, migrations.

SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` for write transactions, so a
read-then-write never fails half-way with "database is locked" when two processes share the
file. PostgreSQL gets plain transactions; the same queries run on both.

Migrations are serialised across processes (several `leaderbot run` may start together on a
fresh database): SQLite runs them under `BEGIN IMMEDIATE`, PostgreSQL under an advisory lock.

A URL that cannot be used, or a database that cannot be reached, raises `DatabaseUnavailable`
with one line that names the database (never its password), for the CLI to print.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

# Reading the settings validates DATABASE_URL here (normalise_url), so every command imports
# this module: SQLAlchemy's asyncio extension (and the ORM under it) is imported when a
# Database is opened, and Alembic when migrating.

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_POOL_SIZE = 10  # SQLAlchemy's default is 5 (and 10 more opened for a session each)
# asyncpg waits 60 s for a connection by default; an unreachable host should fail sooner.
POSTGRES_CONNECT_TIMEOUT_S = 10.0
# A pooled PostgreSQL connection idle this long is pinged before use (a server restart or a
# dropped connection is then found before a statement fails). A busy one is not: SQLAlchemy's
# pre-ping would cost three round trips on every checkout, a third of a reply batch's.
PING_AFTER_IDLE_S = 5.0
# pg_advisory_xact_lock key taken around migrations: any constant unique to this application.
MIGRATION_LOCK_KEY = 0x6C656164_626F74  # "leadbot"
_IMMEDIATE = "leaderbot_immediate"
_EXAMPLES = (
    "e.g. sqlite+aiosqlite:///leaderbot.db or postgresql+asyncpg://user:password@host/leaderbot"
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class DatabaseUnavailable(Exception):
    """The database cannot be used: a bad DATABASE_URL, or a database that cannot be reached.

    The message is one line for the user; it names the database (host, port, name, user or
    the SQLite file) and never the password.
    """


class DatabaseUrlError(DatabaseUnavailable):
    """DATABASE_URL itself is unusable. `problem` is the message without the variable's name,
    for callers (settings validation) that name the variable themselves."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"DATABASE_URL {problem}")
        self.problem = problem


def normalise_url(url: str) -> str:
    """The SQLAlchemy URL to use for a DATABASE_URL, or DatabaseUrlError.

    Accepts what operators paste from elsewhere: `postgres://` and `postgresql://` (Heroku,
    libpq style) mean asyncpg, `sqlite:///file` means aiosqlite, and libpq's `sslmode` becomes
    asyncpg's `ssl`. Anything else than those two async drivers is refused up front, because it
    would otherwise fail later with a long traceback.
    """
    url = url.strip()
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # Never echo the value: it may hold a password.
        raise DatabaseUrlError(f"is not a database URL ({_EXAMPLES})") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "asyncpg"):
            raise DatabaseUrlError(
                f"uses the driver {driver!r}, which leaderbot does not support: "
                "use postgresql+asyncpg://user:password@host/leaderbot"
            )
        if "sslmode" in parsed.query and "ssl" not in parsed.query:
            ssl = parsed.query["sslmode"]
            parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": ssl})
            url = parsed.render_as_string(hide_password=False)
        url = _with_driver(url, "postgresql+asyncpg")
    elif backend == "sqlite":
        if driver not in ("", "aiosqlite"):
            raise DatabaseUrlError(
                f"uses the driver {driver!r}, which leaderbot does not support: "
                "use sqlite+aiosqlite:///path/to/leaderbot.db"
            )
        url = _with_driver(url, "sqlite+aiosqlite")
    else:
        raise DatabaseUrlError(
            f"is for {backend!r}: leaderbot supports SQLite and PostgreSQL ({_EXAMPLES})"
        )
    return url


def _with_driver(url: str, drivername: str) -> str:
    # Only the scheme changes: re-rendering the whole URL would escape the operator's
    # text (":memory:" becomes "%3Amemory%3A"), which still works but no longer reads as given.
    _scheme, sep, rest = url.partition("://")
    return drivername + sep + rest


def describe(url: str | URL) -> str:
    """The database for a message: which file, or which server, name and user; no password."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        name = parsed.database or ":memory:"
        if name != ":memory:" and not name.startswith("file:"):
            name = str(Path(name).resolve())
        return f"the SQLite database {name}"
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    user = f" as {parsed.username}" if parsed.username else ""
    name = parsed.database or parsed.username or "(default)"
    return f"the PostgreSQL database {name!r} on {where}{user}"


def _reason(exc: BaseException, password: str | None) -> str:
    """One short line saying why a connection failed, with any password scrubbed."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        # SQLAlchemy wraps the driver's error; asyncpg's own is the adapted error's cause.
        exc = exc.orig.__cause__ or exc.orig
    # asyncio reports a refusal on every address of a host (IPv4 and IPv6) as one plain
    # OSError listing them all.
    refused = f"[Errno {errno.ECONNREFUSED}]"
    if isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and exc.errno is None and refused in str(exc)
    ):
        text = "connection refused (is the server running, and is that the right host and port?)"
    elif isinstance(exc, socket.gaierror):
        text = f"unknown host ({exc.strerror})"
    elif isinstance(exc, TimeoutError):
        text = f"no answer within {POSTGRES_CONNECT_TIMEOUT_S:g} s"
    elif "unable to open database file" in str(exc):
        text = "unable to open the file (does its directory exist, and may this user write there?)"
    else:
        lines = str(exc).strip().splitlines()
        text = lines[0] if lines else type(exc).__name__
    if password:
        text = text.replace(password, "***")
    return text


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # busy_timeout first: switching a fresh file to WAL takes a lock that a process
        # starting at the same moment may hold.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _install_idle_ping(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it has been idle PING_AFTER_IDLE_S; one
    that fails is replaced (DisconnectionError: the pool connects anew)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # new, or in use a moment ago
        try:
            dbapi_conn.ping()
        except Exception as exc:
            raise DisconnectionError(f"pooled connection lost: {type(exc).__name__}") from exc


def conflict_insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING / DO UPDATE, in the session's dialect
    (SQLite or PostgreSQL): the one place that picks it."""
    from sqlalchemy.dialects import postgresql, sqlite  # not at import: CLI start-up

    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        """Raises DatabaseUrlError (a DatabaseUnavailable) if the URL cannot be used."""
        from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

        self.url = normalise_url(url)
        self.sqlite = is_sqlite(self.url)
        # Statement parameters (reply texts, user ids) never appear in logs or in the text
        # of a database error, at any log level.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if not self.sqlite:
            kwargs |= {
                "pool_size": 10,
                "max_overflow": 20,
                "connect_args": {
                    "timeout": POSTGRES_CONNECT_TIMEOUT_S,
                    # The driver prepares every statement; after five runs PostgreSQL may
                    # switch to a generic plan, which for `channel_id = ANY($1)` is a scan of
                    # the whole table (1.8 ms a reply batch at 6,000 replies, growing).
                    # Planning each execution keeps the hot look-ups on their indexes.
                    "server_settings": {"plan_cache_mode": "force_custom_plan"},
                },
            }
        if self.sqlite:
            # Connections kept open (each with aiosqlite's thread): past the pool, one is
            # opened (a thread, four PRAGMAs) and closed again per session, and a burst of
            # slash commands after a stall opened dozens that way, slowing the burst further.
            kwargs["pool_size"] = SQLITE_POOL_SIZE
        try:
            self.engine = create_async_engine(self.url, **kwargs)
        except (ArgumentError, ValueError, TypeError) as exc:
            raise DatabaseUnavailable(
                f"DATABASE_URL cannot be used for {describe(self.url)}: {_reason(exc, None)}"
            ) from None
        if self.sqlite:
            _install_sqlite_hooks(self.engine)
            writer = self.engine.execution_options(**{_IMMEDIATE: True})
        else:
            _install_idle_ping(self.engine)
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

    async def check(self) -> None:
        """Connect once, or raise DatabaseUnavailable saying which database and why."""
        if self.sqlite:
            await asyncio.to_thread(self._check_sqlite_file)
        try:
            async with self.engine.connect():
                pass
        except Exception as exc:
            # Only connecting happens here, so any failure means the database is unusable
            # as configured (refused, unknown host, no such database, bad password...).
            password = make_url(self.url).password
            raise DatabaseUnavailable(
                f"cannot connect to {describe(self.url)}: {_reason(exc, password)}"
            ) from None

    def _check_sqlite_file(self) -> None:
        # Opened with the standard library first: when aiosqlite fails to open a file, its
        # worker thread reports back to the event loop after the CLI has closed it, and prints
        # a traceback from that thread beneath our one line.
        parsed = make_url(self.url)
        name = parsed.database
        if not name or name == ":memory:" or name.startswith("file:") or parsed.query:
            return  # in memory, or options only aiosqlite's own open understands
        try:
            sqlite3.connect(name).close()
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(
                f"cannot connect to {describe(parsed)}: {_reason(exc, None)}"
            ) from None

    async def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied; DatabaseUnavailable if the database
        cannot be reached. Safe when several processes start together on a new database."""
        await self.check()
        # On SQLite, BEGIN IMMEDIATE takes the write lock before Alembic looks at the schema,
        # so a second process waits (busy_timeout) and then finds the migrations done, instead
        # of failing with "database is locked" on CREATE TABLE alembic_version.
        migrator = (
            self.engine.execution_options(**{_IMMEDIATE: True}) if self.sqlite else self.engine
        )
        async with migrator.begin() as conn:
            await conn.run_sync(_upgrade_sync)

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config() -> Config:
    # Alembic (with Mako and Pygments) is imported only when migrating: 0.4 s that no other
    # command needs.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade_sync(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Held until this transaction ends: concurrent starts migrate one at a time, and the
        # later ones then see the version table at head.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
    from alembic import command

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
