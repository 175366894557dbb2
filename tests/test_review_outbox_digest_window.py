"""Review: a digest moved by a bank holiday covers the wrong week.

plan_digests builds each digest's window as the 7 days ending at the occurrence's *due* time,
which for a moved occurrence is after the holiday. Around Easter 2026 (Good Friday 3 April,
Easter Monday 6 April) the Friday digest moves to Tuesday 7 April 16:00, so its window is
31 March-7 April: Monday 30 March's question falls in no digest at all, and Tuesday 7 April's
(moved) question falls in two (7 April's and 10 April's).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.scheduling.jobs import tick
from bot.services import schedules
from bot.store.models import Post


async def test_each_question_is_in_exactly_one_weekly_digest(sqlite_url, make_context, clock):
    ctx = await make_context(sqlite_url)
    clock.set(datetime(2026, 3, 25, 12, 0, tzinfo=UTC))
    # Questions Mondays 09:00; the default digest, Fridays 16:00 (Europe/London).
    await schedules.set_schedule(ctx, "general", weekday=0, time="09:00", nudge_after_days=None)
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
