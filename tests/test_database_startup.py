"""Starting on a database: concurrent first starts, and one clear line for a database that
cannot be used.

Concurrency runs in real, separate processes (the failure was SQLite's file lock between
processes, and PostgreSQL's catalogue between connections), released together once each has
imported everything, so that their migrations overlap.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.store.db import (
    Database,
    DatabaseUnavailable,
    DatabaseUrlError,
    alembic_config,
    normalise_url,
)
from tests.conftest import POSTGRES_ENV, POSTGRES_URL, make_settings

REPO = Path(__file__).resolve().parent.parent
PROCESSES = 3
TIMEOUT_S = 120

# Each child connects nothing until told to go, so that all three migrate at the same moment.
CHILD = """
import asyncio, sys
from bot.store.db import Database

async def main() -> None:
    db = Database(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        await db.upgrade()
    finally:
        await db.dispose()
    print("upgraded", flush=True)

asyncio.run(main())
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without chat credentials, so that `leaderbot run` uses the console."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "TEAMS_", "DATABASE_URL", "LEADERBOT_"))
    }
    return env | extra


async def _head_and_versions(url: str) -> tuple[str, list[str]]:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    db = Database(url)
    try:
        async with db.read() as session:
            rows = (await session.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await db.dispose()
    return head, [row[0] for row in rows]


async def test_concurrent_first_upgrade_all_succeed(database_url: str) -> None:
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            database_url,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), TIMEOUT_S)
            assert line == b"ready\n"
        for child in children:  # go: all at once
            assert child.stdin is not None
            child.stdin.write(b"go\n")
        results = await asyncio.wait_for(
            asyncio.gather(*(child.communicate() for child in children)), TIMEOUT_S
        )
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err.decode()
        assert out == b"upgraded\n"
    head, versions = await _head_and_versions(database_url)
    assert versions == [head]


async def test_three_runs_on_a_fresh_sqlite_file_all_start(tmp_path: Path) -> None:
    """The reported failure: three `leaderbot run` started together, 1–2 exiting with
    "database is locked". On the console with stdin at EOF, each starts and stops cleanly."""
    url = f"sqlite:///{tmp_path / 'leaderbot.db'}"  # the short form operators write
    env = _clean_env(DATABASE_URL=url, LEADERBOT_PORT="0")
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=env | {"PYTHONPATH": str(REPO)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*(child.communicate() for child in children)), TIMEOUT_S
    )
    for child, (_out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err.decode()
        assert b"database is locked" not in err
    head, versions = await _head_and_versions(url)
    assert versions == [head]


# --- DATABASE_URL -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:pw@db.example/leaderbot", "postgresql+asyncpg://u:pw@db.example/leaderbot"),
        (
            "postgresql://u:pw@db.example:6543/leaderbot",
            "postgresql+asyncpg://u:pw@db.example:6543/leaderbot",
        ),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        # libpq's sslmode is asyncpg's ssl: left as it was, asyncpg.connect() refuses it.
        ("postgres://u@h/d?sslmode=require", "postgresql+asyncpg://u@h/d?ssl=require"),
        ("sqlite:///leaderbot.db", "sqlite+aiosqlite:///leaderbot.db"),
        ("sqlite:////var/lib/leaderbot/l.db", "sqlite+aiosqlite:////var/lib/leaderbot/l.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("  sqlite:///padded.db\n", "sqlite+aiosqlite:///padded.db"),
    ],
)
def test_urls_are_normalised(given: str, expected: str) -> None:
    assert normalise_url(given) == expected
    assert make_settings(DATABASE_URL=given).database_url == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("garbage", "is not a database URL"),
        ("", "is not a database URL"),
        ("://user:s3cret@", "is not a database URL"),
        ("mysql://user:s3cret@host/db", "is for 'mysql'"),
        ("postgresql+psycopg2://user:s3cret@host/db", "driver 'psycopg2'"),
        ("sqlite+pysqlite:///x.db", "driver 'pysqlite'"),
    ],
)
def test_unusable_urls_get_one_line(given: str, says: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        normalise_url(given)
    message = str(caught.value)
    assert message.startswith("DATABASE_URL ")
    assert says in message
    assert "\n" not in message
    assert "s3cret" not in message
    with pytest.raises(DatabaseUnavailable):  # Database() refuses it the same way
        Database(given)
    # Settings refuse it at load, with the same words (the CLI prints "setting DATABASE_URL: …").
    with pytest.raises(ValidationError) as invalid:
        make_settings(DATABASE_URL=given)
    first = invalid.value.errors()[0]
    assert first["msg"] == caught.value.problem
    assert "s3cret" not in str(invalid.value)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A local port where nothing listens: bound (so no one else takes it) but not listening,
    so connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_unreachable_postgres_is_one_line_without_the_password(refused_port: int) -> None:
    db = Database(f"postgresql://leader:s3cret-pw@127.0.0.1:{refused_port}/councildb")
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await db.upgrade()
    finally:
        await db.dispose()
    message = str(caught.value)
    assert message.startswith("cannot connect to the PostgreSQL database 'councildb'")
    assert f"127.0.0.1:{refused_port}" in message
    assert "as leader" in message
    assert "connection refused" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_sqlite_file_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    """In a process of its own, as the CLI runs it: nothing but the error may reach stderr
    (a driver thread outliving the event loop would print a traceback there)."""
    path = tmp_path / "no-such-dir" / "leaderbot.db"
    probe = """
import asyncio, sys
from bot.store.db import Database, DatabaseUnavailable

async def main() -> None:
    db = Database(sys.argv[1])
    try:
        await db.upgrade()
    finally:
        await db.dispose()

try:
    asyncio.run(main())
except DatabaseUnavailable as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", probe, f"sqlite:///{path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    (message,) = result.stdout.splitlines()
    assert message.startswith(f"cannot connect to the SQLite database {path}: ")
    assert "unable to open" in message


async def test_missing_postgres_database_is_one_line() -> None:
    if not POSTGRES_URL:
        pytest.skip(f"set {POSTGRES_ENV} to run against PostgreSQL")
    real = make_url(POSTGRES_URL)
    name = f"leaderbot_missing_{uuid.uuid4().hex[:12]}"
    # Given the way operators often write it: no driver.
    url = real.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    db = Database(url)
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await db.upgrade()
    finally:
        await db.dispose()
    message = str(caught.value)
    host = f"{real.host or 'localhost'}:{real.port or 5432}"
    assert message == (
        f"cannot connect to the PostgreSQL database {name!r} on {host}"
        + (f" as {real.username}" if real.username else "")
        + f': database "{name}" does not exist'
    )
    if real.password:
        assert real.password not in message


async def test_a_pooled_postgres_connection_lost_while_idle_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server restart (here: the connection's backend terminated) while a connection sits in
    the pool costs no failed statement: an idle connection is pinged before use, and
    replaced when the ping fails. A busy one is not pinged (three round trips a checkout)."""
    import asyncpg

    import bot.store.db as db_module

    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's connection pool")
    db = Database(database_url)
    try:
        await db.upgrade()
        async with db.read() as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        plain = normalise_url(database_url).replace("postgresql+asyncpg://", "postgresql://")
        admin = await asyncpg.connect(plain)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # it has been idle "long"
        async with db.read() as session:
            again = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert again != pid
    finally:
        await db.dispose()
