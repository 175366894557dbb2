"""What a fan-out costs: no call per post beyond chat.postMessage, few writes per post, a
connection pool as large as the concurrency asked for, and PostgreSQL claimers that never wait
on each other nor take the same row ("Close to the floor")."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from bot.platforms.slack.platform import SlackPlatform
from bot.services import outbox
from bot.store.models import Post
from tests.conftest import make_settings
from tests.fakes.slack_api import FakeSlack

CHANNELS = [f"C{n:05d}" for n in range(120)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        for cid in CHANNELS:
            slack.add_channel(cid)
        yield slack


def notices(ctx, channels: list[str], prefix: str = "n") -> list[dict]:
    due = ctx.clock() - timedelta(seconds=1)
    return [
        {
            "key": f"{prefix}:{cid}",
            "kind": "notice",
            "channel_id": cid,
            "due_at": due,
            "payload": {"text": f"hello {cid}"},
        }
        for cid in channels
    ]


def count_writes(ctx) -> Counter:
    """UPDATE statements (an executemany counts once) and transactions, from now on."""
    counts: Counter = Counter()
    engine = ctx.db.engine.sync_engine

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            counts["updates"] += 1

    @event.listens_for(engine, "commit")
    def _commit(conn) -> None:
        counts["commits"] += 1

    return counts


async def test_a_fan_out_makes_one_call_per_post_and_batches_its_writes(
    database_url, slack_context, fake: FakeSlack
) -> None:
    ctx = await slack_context(database_url, LEADERBOT_MAX_CONCURRENT_POSTS=40)
    keys = await outbox.enqueue_many(ctx, notices(ctx, CHANNELS))
    counts = count_writes(ctx)

    report = await outbox.deliver_due(ctx, only_keys=keys)

    assert sorted(report.sent) == sorted(keys)
    assert len(fake.calls("chat.postMessage")) == len(CHANNELS)
    assert fake.calls("chat.getPermalink") == []
    assert len(fake.calls("auth.test")) == 1  # the workspace's URL, once
    # One claim, then the outcomes a batch at a time: far fewer writes than posts.
    assert counts["updates"] <= 20, counts
    assert counts["commits"] <= 20, counts
    async with ctx.db.read() as session:
        rows = (await session.scalars(select(Post).where(Post.key.in_(keys)))).all()
    assert {row.status for row in rows} == {"sent"}
    for row in rows:
        assert row.link == (
            f"https://fake.slack.com/archives/{row.channel_id}/p{row.message_id.replace('.', '')}"
        )
        assert row.lease_until is None and row.sent_at is not None


async def test_a_batched_record_still_needs_the_claim(
    database_url, slack_context, fake: FakeSlack
) -> None:
    """A row whose claim was taken over while its post was in flight is not recorded over."""
    ctx = await slack_context(database_url)
    [key] = await outbox.enqueue_many(ctx, notices(ctx, CHANNELS[:1]))
    [(row, _)] = await outbox._claim(ctx, only_keys=[key], limit=10)
    async with ctx.db.write() as session:  # another process took the row over
        await session.execute(
            Post.__table__.update().where(Post.id == row.id).values(claimed_by="other:token")
        )
    recorder = outbox._Recorder(ctx.db)
    await recorder.record(row, {"status": "sent", "message_id": "1.2", "error": None})
    await recorder.close()
    async with ctx.db.read() as session:
        stored = await session.scalar(select(Post).where(Post.key == key))
    assert stored is not None
    assert (stored.status, stored.claimed_by, stored.message_id) == ("sending", "other:token", None)


async def test_an_outcome_that_cannot_be_written_is_left_to_the_lease_and_never_reposted(
    database_url, slack_context, fake: FakeSlack, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = await slack_context(database_url)
    keys = await outbox.enqueue_many(ctx, notices(ctx, CHANNELS[:3]))
    real_flush = outbox._Recorder._flush

    async def broken(self, batch) -> None:
        for *_, future in batch:
            future.set_exception(RuntimeError("database went away"))

    monkeypatch.setattr(outbox._Recorder, "_flush", broken)
    report = await outbox.deliver_due(ctx, only_keys=keys)
    assert sorted(report.deferred) == sorted(keys) and not report.sent
    async with ctx.db.read() as session:
        statuses = (await session.scalars(select(Post.status).where(Post.key.in_(keys)))).all()
    assert statuses == ["sending"] * 3

    monkeypatch.setattr(outbox._Recorder, "_flush", real_flush)
    clock.advance(seconds=ctx.settings.send_lease_s + 1)
    report = await outbox.deliver_due(ctx, only_keys=keys)
    assert sorted(report.found) == sorted(keys)  # looked first: there, so recorded
    assert len(fake.calls("chat.postMessage")) == 3  # and never posted twice


async def test_the_connection_pool_follows_the_concurrency_setting(fake: FakeSlack) -> None:
    settings = make_settings(
        SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url, LEADERBOT_MAX_CONCURRENT_POSTS=300
    )
    async with SlackPlatform.pooled(settings) as slack:
        connector = slack.client.session.connector
        assert connector is not None
        assert connector.limit >= 300


async def test_an_auth_test_failure_leaves_the_link_empty_and_the_post_made(
    sqlite_url, slack_context, fake: FakeSlack
) -> None:
    from tests.fakes.slack_api import HttpError

    ctx = await slack_context(sqlite_url)
    keys = await outbox.enqueue_many(ctx, notices(ctx, CHANNELS[:3]))
    fake.inject("auth.test", HttpError(500))
    report = await outbox.deliver_due(ctx, only_keys=keys)
    assert sorted(report.sent) == sorted(keys)
    assert len(fake.calls("auth.test")) == 1  # not asked again for each post
    async with ctx.db.read() as session:
        links = (await session.scalars(select(Post.link).where(Post.key.in_(keys)))).all()
    assert links == [None, None, None]


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
async def postgres_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has one writer at a time")
    return database_url


async def test_three_postgres_claimers_never_take_the_same_row(
    postgres_url, make_context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "CLAIM_BATCH_PG", 25)
    first = await make_context(postgres_url)
    await outbox.enqueue_many(first, notices(first, [f"C{n:05d}" for n in range(600)]))
    # Three processes' worth of claimers: each its own connection pool.
    claimers = [first, await make_context(postgres_url), await make_context(postgres_url)]

    async def claim_all(ctx) -> list[int]:
        mine: list[int] = []
        while batch := await outbox._claim(ctx, only_keys=None, limit=60):
            mine.extend(row.id for row, _ in batch)
            await asyncio.sleep(0)
        return mine

    claims = await asyncio.gather(*(claim_all(ctx) for ctx in claimers))
    every = [post_id for mine in claims for post_id in mine]
    assert len(every) == 600
    assert len(set(every)) == 600  # never the same row twice
    assert all(claims), [len(mine) for mine in claims]  # and every claimer took some
    async with first.db.read() as session:
        owners = (await session.scalars(select(Post.claimed_by))).all()
    assert all(owner is not None for owner in owners)


async def test_a_postgres_claim_does_not_wait_on_rows_another_claimer_holds(
    postgres_url, make_context
) -> None:
    ctx = await make_context(postgres_url)
    await outbox.enqueue_many(ctx, notices(ctx, [f"C{n:05d}" for n in range(10)]))
    other = await make_context(postgres_url)
    async with other.db.engine.connect() as conn:  # a claimer mid-transaction, rows locked
        await conn.execute(text("SELECT id FROM posts ORDER BY due_at, id LIMIT 4 FOR UPDATE"))
        claimed = await asyncio.wait_for(outbox._claim(ctx, only_keys=None, limit=100), 5)
        await conn.rollback()
    assert len(claimed) == 6  # the four locked rows skipped, not waited for
