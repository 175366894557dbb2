"""Many channels scheduled for the same minute: one job, one planning pass, one transaction.

The hardening issue: 200 channels at the same minute took 2 min 19 s just to record the rows,
because each schedule had its own job, each job planned every schedule with one write
transaction per row, then rebuilt the jobs.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.scheduling import jobs
from bot.scheduling.runner import BotScheduler
from bot.services import schedules
from bot.services.ask import plan_questions
from bot.store.models import Post
from tests.platforms import only_platform

CHANNELS = [f"fan-{n:03d}" for n in range(100)]
FUTURE = datetime(2030, 1, 16, 12, 0, tzinfo=UTC)  # a Wednesday; APScheduler uses real time
MONDAY_9 = datetime(2030, 1, 21, 9, 0, tzinfo=UTC)


async def schedule_all(ctx) -> None:
    for channel in CHANNELS:
        await schedules.set_schedule(ctx, channel, weekday=0, time="09:00")


def count_write_transactions(ctx) -> list[int]:
    """Wrap this context's database so that every write transaction is counted."""
    counter = [0]
    original = ctx.db.write

    @asynccontextmanager
    async def counted():
        counter[0] += 1
        async with original() as session:
            yield session

    ctx.db.write = counted
    return counter


async def test_channels_due_at_the_same_minute_make_one_job_not_one_each(
    sqlite_url, make_context, clock
) -> None:
    clock.set(FUTURE)
    ctx = await make_context(sqlite_url)
    await schedule_all(ctx)
    runner = BotScheduler(ctx, sweep_seconds=3600)
    await runner.start()
    try:
        jobs = runner.due_jobs()
        # One job for Monday 09:00 (100 questions), one for Friday 16:00 (100 default digests).
        assert jobs == {MONDAY_9: 100, datetime(2030, 1, 18, 16, 0, tzinfo=UTC): 100}
        clock.set(MONDAY_9)
        await runner._fire(MONDAY_9)
        messages = only_platform(ctx).messages  # type: ignore[attr-defined]
        assert all(len(messages.get(c, [])) == 1 for c in CHANNELS)
        assert MONDAY_9 not in runner.due_jobs()  # moved on to next week
    finally:
        await runner.shutdown()


async def test_one_planning_pass_records_every_row_in_one_write_transaction(
    database_url, make_context, clock
) -> None:
    clock.set(FUTURE)
    ctx = await make_context(database_url)
    await schedule_all(ctx)
    clock.set(MONDAY_9)
    writes = count_write_transactions(ctx)
    keys = await plan_questions(ctx)
    assert len(keys) == len(CHANNELS)
    assert writes[0] == 1
    # Planning again finds everything recorded and writes nothing at all.
    assert await plan_questions(ctx) == []
    assert writes[0] == 1


async def test_planners_in_several_processes_at_once_record_each_row_once(
    database_url, make_context, clock
) -> None:
    clock.set(FUTURE)
    first = await make_context(database_url)
    await schedule_all(first)
    others = [await make_context(database_url) for _ in range(3)]
    clock.set(MONDAY_9)
    results = await asyncio.gather(*(plan_questions(c) for c in [first, *others]))
    recorded = [key for keys in results for key in keys]
    assert sorted(recorded) == sorted(set(recorded)) and len(recorded) == len(CHANNELS)
    async with first.db.read() as session:
        count = await session.scalar(select(func.count(Post.id)).where(Post.kind == "question"))
        first_question = await session.scalar(
            select(func.count(Post.id)).where(Post.question_id == "Q1")
        )
    assert count == len(CHANNELS) and first_question == len(CHANNELS)


async def test_a_due_minute_bigger_than_one_delivery_batch_is_sent_in_one_tick(
    sqlite_url, make_context, clock, monkeypatch
) -> None:
    """More posts due than one delivery claims: the tick claims again while batches come
    back full, so none waits for the next sweep."""
    monkeypatch.setattr(jobs, "DELIVERY_BATCH", 30)
    clock.set(FUTURE)
    ctx = await make_context(sqlite_url)
    await schedule_all(ctx)
    clock.set(MONDAY_9)
    report = await jobs.tick(ctx)
    assert len(report.sent) == len(CHANNELS) == report.count
    messages = only_platform(ctx).messages  # type: ignore[attr-defined]
    assert all(len(messages.get(c, [])) == 1 for c in CHANNELS)
    assert (await jobs.tick(ctx)).count == 0


async def test_on_postgres_a_delivery_claims_only_its_share_and_the_tick_takes_the_rest(
    database_url, make_context, clock
) -> None:
    """With several processes on PostgreSQL, one delivery claiming every due post would leave
    the others idle: a sweep's delivery claims CLAIM_AHEAD_PG times its concurrency, says
    there may be more, and the tick delivers again until none is left."""
    from bot.services import outbox

    clock.set(FUTURE)
    ctx = await make_context(database_url, LEADERBOT_MAX_CONCURRENT_POSTS=5)
    if ctx.db.sqlite:
        pytest.skip("one writer: one delivery takes what is due (the test above)")
    await schedule_all(ctx)
    clock.set(MONDAY_9)
    await plan_questions(ctx)
    share = outbox.CLAIM_AHEAD_PG * 5
    assert share < len(CHANNELS)
    first = await outbox.deliver_due(ctx)
    assert len(first.sent) == share and first.may_have_more
    report = await jobs.tick(ctx)
    assert len(report.sent) == len(CHANNELS) - share and not report.may_have_more
    messages = only_platform(ctx).messages  # type: ignore[attr-defined]
    assert all(len(messages.get(c, [])) == 1 for c in CHANNELS)
