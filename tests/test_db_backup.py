"""`leaderbot db backup` / `db restore`: SQLite's online backup, while the bot writes."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store import backup

STALE = timedelta(seconds=10)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db"
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _schedule(tmp_path: Path, channel: str) -> None:
    result = _cli(tmp_path, "schedule", "--channel", channel, "--day", "mon", "--time", "09:00")
    assert result.returncode == 0, result.stderr


def _channels(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("select channel_id from schedules")}


def test_backup_then_restore_brings_back_what_the_backup_held(tmp_path: Path) -> None:
    _schedule(tmp_path, "C0BEFORE")
    made = _cli(tmp_path, "db", "backup", "copy.db")
    assert made.returncode == 0, made.stderr
    assert "schema 0" in made.stdout
    _schedule(tmp_path, "C0AFTER")
    assert _channels(tmp_path / "leaderbot.db") == {"C0BEFORE", "C0AFTER"}

    restored = _cli(tmp_path, "db", "restore", "copy.db")
    assert restored.returncode == 0, restored.stderr
    assert _channels(tmp_path / "leaderbot.db") == {"C0BEFORE"}
    # The backup is one file, in rollback-journal mode: no -wal to carry along.
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "delete"


async def test_a_backup_taken_during_writes_is_consistent_and_finishes(tmp_path: Path) -> None:
    """A writer commits rows in pairs (a and b of one n in one transaction), as fast as it
    can, all through the backup of a database too big for one step of 1,024 pages: the
    backup finishes (a copy in several steps restarts at every write by another connection,
    for ever), holds whole pairs only, and holds no more than the writer committed."""
    db = tmp_path / "live.db"
    with sqlite3.connect(db) as conn:
        conn.execute("pragma journal_mode=wal")
        conn.execute("create table alembic_version (version_num text)")
        conn.execute("insert into alembic_version values ('0009_processes')")
        conn.execute("create table pairs (n integer, side text, pad blob)")
        conn.executemany(
            "insert into pairs values (?, ?, ?)",
            ((-n, side, b"x" * 2000) for n in range(1, 2001) for side in "ab"),
        )
    assert db.stat().st_size > 1024 * 4096
    stop = asyncio.Event()
    committed = asyncio.Event()

    def write() -> int:
        n = 0
        with sqlite3.connect(db, timeout=10) as conn:
            while not stop.is_set():
                with conn:
                    for side in "ab":
                        conn.execute("insert into pairs values (?, ?, ?)", (n, side, b"x" * 2000))
                n += 1
                if n == 10:
                    loop.call_soon_threadsafe(committed.set)
        return n

    loop = asyncio.get_running_loop()
    writer = loop.run_in_executor(None, write)
    await committed.wait()  # some pairs committed before the backup starts
    copying = asyncio.ensure_future(asyncio.to_thread(backup.backup, db, tmp_path / "copy.db"))
    try:
        snapshot = await asyncio.wait_for(asyncio.shield(copying), 60)
    except TimeoutError:
        raise AssertionError("the backup never finished under constant writes") from None
    finally:
        stop.set()
        written = await writer
        await copying

    with sqlite3.connect(tmp_path / "copy.db") as conn:
        counts = dict(conn.execute("select side, count(*) from pairs group by side").fetchall())
    assert counts["a"] == counts["b"] >= 2000 + 10
    assert counts["a"] <= 2000 + written
    assert snapshot.schema == "0009_processes"


def test_restore_is_refused_while_a_process_is_running_on_the_database(tmp_path: Path) -> None:
    """A process that beat just now (the CLI's clock is the wall clock) holds a restore off;
    once it has stopped cleanly the restore goes ahead."""
    _schedule(tmp_path, "C0ONE")
    assert _cli(tmp_path, "db", "backup", "copy.db").returncode == 0
    db = tmp_path / "leaderbot.db"
    beat = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "insert into processes (owner, started_at, heartbeat_at) values (?, ?, ?)",
            ("host:1:live", beat, beat),
        )

    refused = _cli(tmp_path, "db", "restore", "copy.db")
    assert refused.returncode == 2
    assert "1 leaderbot process(es) are running" in refused.stderr
    assert "Traceback" not in refused.stderr
    with sqlite3.connect(db) as conn:
        conn.execute("update processes set stopped_at = heartbeat_at where owner = 'host:1:live'")
    assert _cli(tmp_path, "db", "restore", "copy.db").returncode == 0


def test_a_process_whose_beat_is_stale_does_not_hold_a_restore(tmp_path: Path) -> None:
    _schedule(tmp_path, "C0ONE")
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    with sqlite3.connect(tmp_path / "leaderbot.db") as conn:
        beat = (now - timedelta(seconds=11)).replace(tzinfo=None).isoformat(" ")
        conn.execute(
            "insert into processes (owner, started_at, heartbeat_at) values (?, ?, ?)",
            ("host:2:dead", beat, beat),
        )
    db = tmp_path / "leaderbot.db"
    assert backup.live_processes(db, stale=STALE, now=now) == 0
    assert backup.live_processes(db, stale=STALE, now=now - timedelta(seconds=5)) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("db", "backup", "copy.db"), "copy.db exists: give a new file name"),
        (("db", "restore", "junk.db"), "is not a SQLite database"),
        (("db", "restore", "other.db"), "is not a leaderbot database"),
        (("db", "restore", "missing.db"), "no file"),
        (("db", "backup", "no/such/dir/copy.db"), "no directory"),
    ],
)
def test_bad_backup_and_restore_arguments_get_one_line(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    _schedule(tmp_path, "C0ONE")
    (tmp_path / "copy.db").write_bytes(b"")
    (tmp_path / "junk.db").write_text("not a database, but long enough to have a header " * 3)
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("create table t (x)")
    result = _cli(tmp_path, *args)
    assert result.returncode == 2
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _channels(tmp_path / "leaderbot.db") == {"C0ONE"}  # untouched


def test_backup_on_postgres_points_at_pg_dump(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = "postgresql://leaderbot@db.invalid/leaderbot"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "db", "backup", "x.db"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "pg_dump" in result.stderr and not (tmp_path / "x.db").exists()
