"""One gentle reminder in a question thread that has had no replies for N days."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select

from bot.domain.content import Nudge
from bot.services import outbox
from bot.services.context import Context
from bot.store.models import Post, Reply, Schedule

# Past a week the next question is out; a reminder about the old one would only confuse.
NUDGE_HORIZON = timedelta(days=7)


def nudge_content(row: Post, ctx: Context) -> Nudge:
    return Nudge(question_id=row.question_id or "")


async def plan_nudges(ctx: Context) -> list[str]:
    now = ctx.clock()
    async with ctx.db.read() as session:
        quiet = (
            await session.execute(
                select(Post, Schedule.nudge_after_days)
                .join(Schedule, Schedule.id == Post.schedule_id)
                .where(
                    Post.kind == "question",
                    Post.status == "sent",
                    Post.message_id.is_not(None),
                    Post.sent_at >= now - NUDGE_HORIZON,
                    Schedule.nudge_after_days.is_not(None),
                    ~exists().where(Reply.post_id == Post.id),
                )
            )
        ).all()
    rows = [
        {
            "key": f"nudge:{post.key}",
            "kind": "nudge",
            "channel_id": post.channel_id,
            "due_at": now,
            "question_id": post.question_id,
            "thread_id": post.message_id,
        }
        for post, days in quiet
        if post.sent_at is not None and now >= post.sent_at + timedelta(days=days)
    ]
    # Most were recorded by an earlier sweep: write only when there is something new, then
    # all of it in one transaction (a nudge another process just recorded is skipped).
    recorded = await outbox.recorded_keys(ctx, [row["key"] for row in rows])
    return await outbox.enqueue_many(ctx, [row for row in rows if row["key"] not in recorded])
