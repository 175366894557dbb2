"""Backing up and restoring a SQLite database, with SQLite's online backup API.

The backup API copies the database in one step, inside one read transaction: in WAL mode (as
leaderbot opens SQLite) the bot's writer goes on meanwhile, and the copy is the database as of
the moment that read began. So a backup needs no downtime, unlike copying the file (which may
catch a write half-done, and misses what is still in the `-wal` file). Not in several steps:
a write by another connection between two steps restarts the copy, and a busy bot could keep
it restarting for ever. A backup is written beside its target and renamed
into place once complete and checked, so a failed one never leaves a half file under the
name given. PostgreSQL has its own tools (`pg_dump`, `pg_restore`): see docs/operations.md.

Restoring overwrites the live database with the backup's pages, also through the backup API
(so the `-wal` file is dealt with), and only when no process is running on it: a `leaderbot
run` would go on with its cached view of a database that has changed under it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

ALL_PAGES = -1  # one backup step: one read transaction, never restarted by the bot's writes
_PG_TOOLS = "for PostgreSQL use pg_dump and pg_restore (docs/operations.md, Backups)"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message is one line for the user."""


@dataclass(frozen=True)
class Snapshot:
    path: Path
    bytes: int
    schema: str | None  # Alembic's version_num; None for a database never migrated


def sqlite_file(url: str) -> Path:
    """The file of a SQLite DATABASE_URL, or BackupError for PostgreSQL or in-memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(f"DATABASE_URL is not SQLite: {_PG_TOOLS}")
    name = parsed.database or ""
    if name in ("", ":memory:") or name.startswith("file:"):
        raise BackupError("DATABASE_URL names no SQLite file to back up or restore")
    return Path(name).resolve()


def backup(database: Path, target: Path) -> Snapshot:
    """Copy `database` to `target` (which must not exist) while it may be in use."""
    if not database.is_file():
        raise BackupError(f"no SQLite database at {database}")
    if target.exists():
        raise BackupError(f"{target} exists: give a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent}")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        # mode=ro: the backup only reads the live database.
        with (
            contextlib.closing(_connect(database, readonly=True)) as source,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            source.backup(copy, pages=ALL_PAGES)
            # A backup is kept in one file: no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
        snapshot = check(partial)
        partial.rename(target)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {database} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Snapshot(target, snapshot.bytes, snapshot.schema)


def check(path: Path) -> Snapshot:
    """The file's size and schema version, after SQLite's integrity check; BackupError when it
    is not a sound SQLite database of leaderbot's."""
    if not path.is_file():
        raise BackupError(f"no file {path}")
    try:
        with contextlib.closing(_connect(path, readonly=True)) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()
            if result is None or result[0] != "ok":
                raise BackupError(f"{path} fails SQLite's integrity check: {result}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in tables:
                raise BackupError(f"{path} is not a leaderbot database (no alembic_version)")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from None
    return Snapshot(path, path.stat().st_size, row[0] if row else None)


def restore(source: Path, database: Path, *, stale: timedelta, now: datetime) -> Snapshot:
    """Overwrite `database` with the backup `source`, once it has passed `check`; refused
    while a process beat in `database` less than `stale` ago (and has not stopped)."""
    snapshot = check(source)
    if database.exists():
        running = live_processes(database, stale=stale, now=now)
        if running:
            raise BackupError(
                f"{running} leaderbot process(es) are running on {database}: "
                "stop them first (a process killed less than "
                f"{stale.total_seconds():.0f} s ago counts as running)"
            )
    try:
        with (
            contextlib.closing(_connect(source, readonly=True)) as backup_conn,
            contextlib.closing(sqlite3.connect(database)) as target,
        ):
            backup_conn.backup(target, pages=ALL_PAGES)
    except sqlite3.Error as exc:
        raise BackupError(f"restore into {database} failed: {exc}") from None
    return Snapshot(database, database.stat().st_size, snapshot.schema)


def live_processes(database: Path, *, stale: timedelta, now: datetime) -> int:
    """How many processes in `database`'s `processes` table beat less than `stale` ago and
    have not stopped (0 when the table does not exist yet)."""
    try:
        with contextlib.closing(_connect(database, readonly=True)) as conn:
            rows = conn.execute(
                "SELECT heartbeat_at FROM processes WHERE stopped_at IS NULL"
            ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise BackupError(f"cannot read {database}: {exc}") from None
    # Stored as naive UTC text (bot/store/types.py).
    since = now.astimezone(UTC).replace(tzinfo=None) - stale
    return sum(1 for (beat,) in rows if datetime.fromisoformat(beat) >= since)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    return sqlite3.connect(path)
