"""The weekly question end to end on the console platform, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.platforms.console.platform import ConsolePlatform
from bot.scheduling.jobs import tick
from bot.services import outbox, schedules
from bot.services.ask import ask_and_deliver, plan_questions
from bot.store.models import AuditEntry, Post
from tests.platforms import only_platform

MON = 0


def posted(ctx, channel: str = "general") -> list[str]:
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform)
    return [m.text.splitlines()[0] for m in platform.messages.get(channel, [])]


async def all_posts(ctx, kind: str = "question") -> list[Post]:
    async with ctx.db.read() as session:
        query = select(Post).where(Post.kind == kind).order_by(Post.id)
        return list((await session.scalars(query)).all())


async def test_schedule_posts_once_at_its_time(database_url, make_context, clock) -> None:
    ctx = await make_context(database_url)
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    await tick(ctx)
    assert posted(ctx) == []  # Wednesday: nothing due yet

    clock.set(datetime(2026, 1, 19, 9, 0, 30, tzinfo=UTC))  # Monday 09:00:30 GMT
    await tick(ctx)
    await tick(ctx)
    assert posted(ctx) == ["Leadership question Q1 · Reimagining services"]

    clock.set(datetime(2026, 1, 26, 9, 1, tzinfo=UTC))
    await tick(ctx)
    assert len(posted(ctx)) == 2 and "Q2" in posted(ctx)[1]
    rows = await all_posts(ctx)
    assert [(r.key, r.status) for r in rows] == [
        (f"question:{rows[0].schedule_id}:2026-01-19", "sent"),
        (f"question:{rows[0].schedule_id}:2026-01-26", "sent"),
    ]


async def test_two_schedulers_on_one_database_post_once(database_url, make_context, clock):
    first = await make_context(database_url)
    second = await make_context(database_url)
    second.platforms = first.platforms  # both "processes" post to the same channel
    await schedules.set_schedule(first, "general", weekday=MON, time="09:00")
    clock.set(datetime(2026, 1, 19, 9, 0, 5, tzinfo=UTC))
    await asyncio.gather(tick(first), tick(second), tick(first), tick(second))
    assert len(posted(first)) == 1


async def test_a_restart_does_not_repost(database_url, make_context, clock) -> None:
    ctx = await make_context(database_url)
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    clock.set(datetime(2026, 1, 19, 9, 0, 5, tzinfo=UTC))
    await tick(ctx)
    restarted = await make_context(database_url, platform=only_platform(ctx))
    clock.advance(minutes=5)
    await tick(restarted)
    assert len(posted(ctx)) == 1


async def test_missed_while_down_within_grace_is_posted(database_url, make_context, clock):
    ctx = await make_context(database_url)
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    clock.set(datetime(2026, 1, 19, 14, 0, tzinfo=UTC))  # 5 h late, grace is 6 h
    await tick(ctx)
    assert len(posted(ctx)) == 1


async def test_missed_beyond_grace_is_recorded_not_posted(database_url, make_context, clock):
    ctx = await make_context(database_url)
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    clock.set(datetime(2026, 1, 19, 16, 0, tzinfo=UTC))  # 7 h late
    await tick(ctx)
    assert posted(ctx) == []
    [row] = await all_posts(ctx)
    assert row.status == "missed" and "grace" in (row.error or "")
    [view] = [v for v in await schedules.list_schedules(ctx) if v.schedule.kind == "question"]
    assert view.last_posts[0].status == "missed"
    # The next week posts as normal, with the first question (a missed one is not "asked").
    clock.set(datetime(2026, 1, 26, 9, 0, 1, tzinfo=UTC))
    await tick(ctx)
    assert posted(ctx) == ["Leadership question Q1 · Reimagining services"]


async def test_a_pending_row_left_by_a_crash_is_missed_past_grace(
    database_url, make_context, clock
):
    ctx = await make_context(database_url)
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    clock.set(datetime(2026, 1, 19, 9, 0, 1, tzinfo=UTC))
    assert await plan_questions(ctx)  # recorded, then "crashed" before delivering
    clock.advance(hours=7)
    report = await outbox.deliver_due(ctx)
    assert report.missed and posted(ctx) == []


async def test_bank_holiday_moves_the_post_and_keeps_its_identity(
    database_url, make_context, clock
):
    ctx = await make_context(database_url)
    clock.set(datetime(2026, 4, 1, 12, tzinfo=UTC))
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    clock.set(datetime(2026, 4, 6, 8, 0, 5, tzinfo=UTC))  # Easter Monday 09:00 BST
    await tick(ctx)
    assert posted(ctx) == []
    clock.set(datetime(2026, 4, 7, 8, 0, 5, tzinfo=UTC))  # Tuesday 09:00 BST
    await tick(ctx)
    [row] = await all_posts(ctx)
    assert row.occurrence == date(2026, 4, 6) and row.status == "sent"


async def test_each_question_is_in_exactly_one_digest_when_easter_moves_the_digest(
    sqlite_url, make_context, clock
):
    """Around Easter 2026 (Good Friday 3 April, Easter Monday 6 April) the Friday digest moves
    to Tuesday 7 April; each digest still covers the week up to its scheduled time, so no
    question falls in no digest (Monday 30 March) or in two (the moved Tuesday 7 April)."""
    ctx = await make_context(sqlite_url)
    clock.set(datetime(2026, 3, 25, 12, 0, tzinfo=UTC))
    # Questions Mondays 09:00; the default digest, Fridays 16:00 (Europe/London).
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00", nudge_after_days=None)
    end = datetime(2026, 4, 18, 0, 0, tzinfo=UTC)
    while clock() < end:
        clock.advance(minutes=30)
        await tick(ctx)

    async with ctx.db.read() as session:
        posts = (await session.scalars(select(Post).where(Post.status == "sent"))).all()
    questions = [p for p in posts if p.kind == "question"]
    windows = [
        (
            p.occurrence,
            datetime.fromisoformat(p.payload["from"]),
            datetime.fromisoformat(p.payload["to"]),
        )
        for p in posts
        if p.kind == "digest"
    ]
    assert len(questions) >= 3 and len(windows) >= 3
    coverage = {
        q.sent_at.date().isoformat(): [
            str(occ) for occ, start, stop in windows if start <= q.sent_at < stop
        ]
        for q in questions
        if q.sent_at < end - timedelta(days=7)  # its digest is due before the run ends
    }
    wrong = {day: digests for day, digests in coverage.items() if len(digests) != 1}
    assert not wrong, f"questions in no digest or in several: {wrong}"


async def test_pause_skips_and_resume_does_not_replay(database_url, make_context, clock):
    ctx = await make_context(database_url)
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    await schedules.pause(ctx, "general", until=date(2026, 2, 2))
    clock.set(datetime(2026, 1, 19, 9, 0, 5, tzinfo=UTC))
    await tick(ctx)
    clock.set(datetime(2026, 1, 26, 9, 0, 5, tzinfo=UTC))
    await tick(ctx)
    assert posted(ctx) == []
    await schedules.resume(ctx, "general")
    await tick(ctx)
    assert posted(ctx) == []  # resuming does not post the paused week
    clock.set(datetime(2026, 2, 2, 9, 0, 5, tzinfo=UTC))
    await tick(ctx)
    assert len(posted(ctx)) == 1
    async with ctx.db.read() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert list(actions) == [
        "question.schedule",
        "digest.schedule",
        "question.pause",
        "question.resume",
    ]


async def test_ask_now_rotates_and_is_recorded(database_url, make_context) -> None:
    ctx = await make_context(database_url)
    first = await ask_and_deliver(ctx, "general")
    second = await ask_and_deliver(ctx, "general")
    third = await ask_and_deliver(ctx, "general", "Q7")
    assert [first.post.question_id, second.post.question_id, third.post.question_id] == [
        "Q1",
        "Q2",
        "Q7",
    ]
    assert all(r.delivered for r in (first, second, third))
    assert len(posted(ctx)) == 3


async def test_duplicate_enqueue_is_refused(database_url, make_context, clock) -> None:
    ctx = await make_context(database_url)
    kwargs = dict(
        key="k1", kind="notice", channel_id="general", due_at=clock(), payload={"text": "hello"}
    )
    assert await outbox.enqueue(ctx, **kwargs) is not None
    assert await outbox.enqueue(ctx, **kwargs) is None
    results = await asyncio.gather(
        *(outbox.enqueue(ctx, **(kwargs | {"key": "k2"})) for _ in range(5))
    )
    assert sum(r is not None for r in results) == 1
    await outbox.deliver_due(ctx)
    assert posted(ctx) == ["hello", "hello"]


async def test_schedule_change_does_not_fire_for_times_before_it(database_url, make_context, clock):
    ctx = await make_context(database_url)
    clock.set(datetime(2026, 1, 19, 10, 0, tzinfo=UTC))
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")
    await tick(ctx)
    assert posted(ctx) == []
    [view] = [v for v in await schedules.list_schedules(ctx) if v.schedule.kind == "question"]
    assert view.next is not None and view.next.due_at == clock() + timedelta(days=7, hours=-1)
