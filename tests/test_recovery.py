"""Recovery in seconds: a post claimed by a process that has died is taken over as soon as
that process's heartbeat is stale (10 s), not when its 120 s send lease runs out; a live
process's claims are still never taken over before their lease."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.domain.clock import ManualClock
from bot.services import outbox, processes
from bot.services.ask import ask_now
from bot.services.context import Context
from bot.store.models import Post, ProcessRow
from tests.conftest import POSTGRES_ENV, POSTGRES_URL, postgres_database
from tests.fakes import eventually
from tests.fakes.slack_api import FakeSlack, Latency
from tests.run_process import start_run

CHANNEL = "C0LEADERS"
OTHER = "otherhost:4242:deadbeef"  # another process's owner id (host:pid:uuid)


@pytest.fixture
def clock() -> ManualClock:
    # Now, so that rows made here are due (and within their grace window) for a real process.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


async def _claimed_by(ctx: Context, owner: str) -> Post:
    """A due question, `sending` under a claim of `owner` with its whole lease ahead."""
    row = await ask_now(ctx, CHANNEL)
    async with ctx.db.write() as session:
        await session.execute(
            update(Post)
            .where(Post.id == row.id)
            .values(
                status="sending",
                claimed_by=f"{owner}:0badc0de",
                lease_until=ctx.clock() + timedelta(seconds=ctx.settings.send_lease_s),
                attempts=1,
            )
        )
    return row


async def _status(ctx: Context, key: str) -> tuple[str, str | None]:
    async with ctx.db.read() as session:
        row = (
            await session.execute(select(Post.status, Post.claimed_by).where(Post.key == key))
        ).one()
    return row[0], row[1]


@pytest.fixture
async def ctx(database_url: str, slack_context) -> Context:
    return await slack_context(database_url)


async def test_a_stale_heartbeat_is_taken_over_at_once(ctx, clock, fake) -> None:
    row = await _claimed_by(ctx, OTHER)
    await processes.beat(ctx, owner=OTHER)
    clock.advance(seconds=ctx.settings.process_stale_s - 1)
    assert (await outbox.deliver_due(ctx)).sent == []  # not stale yet: nothing
    assert not await processes.orphaned_claims(ctx)
    clock.advance(seconds=2)  # 11 s without a beat; 109 s of its lease still to run
    assert await processes.orphaned_claims(ctx)
    report = await outbox.deliver_due(ctx)
    assert report.sent == [row.key]
    # A take-over looks before it posts (the dead sender's post may have landed).
    assert fake.calls("conversations.history")
    assert len(fake.calls("chat.postMessage")) == 1
    assert (await _status(ctx, row.key))[0] == "sent"


async def test_a_live_process_keeps_its_claim_until_its_lease_runs_out(ctx, clock, fake) -> None:
    row = await _claimed_by(ctx, OTHER)
    lease = ctx.settings.send_lease_s
    beat_every = ctx.settings.heartbeat_s
    waited = 0.0
    while waited + beat_every < lease:  # the other process beats on, all through its lease
        await processes.beat(ctx, owner=OTHER)
        clock.advance(seconds=beat_every)
        waited += beat_every
        assert (await outbox.deliver_due(ctx)).sent == [], f"taken over after {waited} s"
    assert await _status(ctx, row.key) == ("sending", f"{OTHER}:0badc0de")
    assert fake.calls("chat.postMessage") == []
    clock.advance(seconds=lease - waited + 1)  # its lease has run out: taken over, as before
    assert (await outbox.deliver_due(ctx)).sent == [row.key]


async def test_a_cleanly_stopped_process_is_taken_over_once_its_beat_is_stale(
    ctx, clock, fake
) -> None:
    """Not at once: a request it had in flight when it stopped gets time to land."""
    row = await _claimed_by(ctx, OTHER)
    await processes.beat(ctx, owner=OTHER, stopped=True)
    assert (await outbox.deliver_due(ctx)).sent == []
    clock.advance(seconds=ctx.settings.process_stale_s + 1)
    assert (await outbox.deliver_due(ctx)).sent == [row.key]


async def test_an_unregistered_claimer_keeps_its_lease(ctx, clock, fake) -> None:
    """No row at all (an older version, a tool): not presumed dead."""
    row = await _claimed_by(ctx, OTHER)
    clock.advance(seconds=60)
    assert (await outbox.deliver_due(ctx)).sent == []
    clock.advance(seconds=61)
    assert (await outbox.deliver_due(ctx)).sent == [row.key]


async def test_our_own_claims_are_never_taken_for_a_dead_process(ctx, clock, fake) -> None:
    row = await _claimed_by(ctx, outbox.OWNER)
    await processes.beat(ctx)
    clock.advance(seconds=60)  # by this clock our own beat is stale: we are alive all the same
    assert (await outbox.deliver_due(ctx)).sent == []
    assert await _status(ctx, row.key) == ("sending", f"{outbox.OWNER}:0badc0de")


async def test_alive_beats_and_marks_the_process_stopped(ctx, clock) -> None:
    async with processes.alive(ctx, recover=False):
        async with ctx.db.read() as session:
            [mine] = (await session.scalars(select(ProcessRow))).all()
        assert mine.owner == outbox.OWNER and mine.stopped_at is None
    async with ctx.db.read() as session:
        [mine] = (await session.scalars(select(ProcessRow))).all()
    assert mine.stopped_at is not None


# ------------------------------------------------------------------ kill -9 mid-fan-out

FANOUT = 100


def _channels() -> list[str]:
    return [f"C0FAN{i:03d}" for i in range(FANOUT)]


def _posts_per_channel(fake: FakeSlack) -> dict[str, int]:
    return {ch: sum(1 for m in fake.messages(ch) if not m.is_reply) for ch in _channels()}


def _statuses(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [s for (s,) in conn.execute("select status from posts")]


def _run_env(fake: FakeSlack, database_url: str) -> dict[str, str]:
    """`leaderbot run` on the fake Slack with the default lease, sweep and heartbeat."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    return env | {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_API_URL": fake.url,
        "DATABASE_URL": database_url,
        "LEADERBOT_PORT": "0",
    }


async def _fan_out(fake: FakeSlack, slack_context, database_url: str) -> None:
    """A question due now in each of FANOUT channels; Slack holds every post 4 s in flight
    (then stores it, whether or not its sender is still there to hear the answer)."""
    for channel in _channels():
        fake.add_channel(channel, channel.lower())
    ctx = await slack_context(database_url)
    for channel in _channels():
        await ask_now(ctx, channel)
    await ctx.db.dispose()
    fake.inject("chat.postMessage", *[Latency(4)] * FANOUT)


async def test_kill_9_mid_fanout_then_restart_every_channel_once_within_15_s(
    fake, slack_context, tmp_path
) -> None:
    """`leaderbot run` (default lease, sweep and heartbeat) is killed with 50 of 100 posts in
    flight (they land after the kill). Restarted at once, the bot takes the dead process's
    claims over as soon as its heartbeat is stale: every channel has exactly one post within
    15 s of the restart, not after the 120 s lease."""
    db = tmp_path / "bot.db"
    await _fan_out(fake, slack_context, f"sqlite+aiosqlite:///{db}")
    env = _run_env(fake, f"sqlite+aiosqlite:///{db}")

    first = await start_run(env, tmp_path, "first.log")
    try:

        async def in_flight() -> bool:
            return len(fake.calls("chat.postMessage")) >= 50

        await eventually(in_flight, within=30)
        assert _statuses(db) == ["sending"] * FANOUT
        assert sum(_posts_per_channel(fake).values()) == 0  # all held in flight
    finally:
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), 10)
    fake.clear_faults()

    restarted = time.monotonic()
    second = await start_run(env, tmp_path, "second.log")
    try:

        async def all_posted() -> bool:
            return set(_posts_per_channel(fake).values()) == {1} and _statuses(db) == (
                ["sent"] * FANOUT
            )

        await eventually(all_posted, within=15, every=0.05, what="every channel posted once")
        took = time.monotonic() - restarted
        print(f"restart -> every channel posted and recorded: {took:.1f} s")
        await asyncio.sleep(2)  # and it stays once
        assert _posts_per_channel(fake) == dict.fromkeys(_channels(), 1)
    finally:
        second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 15)
    log = (tmp_path / "second.log").read_text()
    assert code == 0, log
    assert "whose process is gone" in log
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("select owner, stopped_at from processes").fetchall())
    assert len(rows) == 2 and sum(v is not None for v in rows.values()) == 1  # a clean stop


@pytest.mark.skipif(not POSTGRES_URL, reason=f"set {POSTGRES_ENV} to run against PostgreSQL")
async def test_three_processes_on_postgres_one_killed_mid_fanout(
    fake, slack_context, tmp_path
) -> None:
    """Three `leaderbot run` on one PostgreSQL database; the one holding the most claims is
    killed with posts in flight. The two others finish its work: every channel exactly once,
    within 15 s of the kill."""
    import asyncpg

    async with postgres_database() as url:
        await _fan_out(fake, slack_context, url)
        env = _run_env(fake, url)
        plain = url.replace("postgresql+asyncpg://", "postgresql://")

        async def fetch(sql: str) -> list[tuple]:
            conn = await asyncpg.connect(plain)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        runs = [await start_run(env, tmp_path, f"run{i}.log") for i in range(3)]
        by_pid = {run.pid: run for run in runs}
        try:

            async def in_flight() -> bool:
                return len(fake.calls("chat.postMessage")) >= 50

            await eventually(in_flight, within=30)
            claims = await fetch(
                "select split_part(claimed_by, ':', 2), count(*) from posts "
                "where status = 'sending' group by 1 order by 2 desc"
            )
            victim = by_pid[int(claims[0][0])]
            victim.send_signal(signal.SIGKILL)
            await asyncio.wait_for(victim.wait(), 10)
            killed = time.monotonic()
            fake.clear_faults()

            async def all_sent() -> bool:
                rows = await fetch("select status, count(*) from posts group by 1")
                return rows == [("sent", FANOUT)] and set(_posts_per_channel(fake).values()) == {1}

            await eventually(all_sent, within=15, every=0.1, what="every channel posted once")
            print(f"kill -> every channel posted and recorded: {time.monotonic() - killed:.1f} s")
            await asyncio.sleep(2)
            assert _posts_per_channel(fake) == dict.fromkeys(_channels(), 1)
        finally:
            for run in runs:
                if run.returncode is None:
                    run.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(run.wait(), 15) for run in runs]
        survivors = [i for i, run in enumerate(runs) if run is not victim]
        assert [codes[i] for i in survivors] == [0, 0]
        logs = "".join((tmp_path / f"run{i}.log").read_text() for i in survivors)
        assert "whose process is gone" in logs
