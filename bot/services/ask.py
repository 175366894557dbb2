"""Asking the weekly question: plan due occurrences into the outbox, and ask on demand."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.content import Notice, QuestionPost
from bot.domain.rotation import next_question
from bot.domain.schedule import Occurrence, WeeklyRule, occurrences_between
from bot.services import outbox
from bot.services.channels import ensure_channel
from bot.services.context import Context
from bot.store.models import Post, Schedule

log = logging.getLogger(__name__)

ASKED_STATUSES = ("pending", "sending", "sent")
# How far back a restarted bot looks for occurrences it has not yet recorded.
CATCH_UP_WINDOW = timedelta(days=35)


class UnknownQuestion(ValueError):
    pass


@outbox.content_builder("question")
def _question_content(row: Post, ctx: Context) -> QuestionPost:
    question = ctx.questions.get(row.question_id or "")
    if question is None:
        raise UnknownQuestion(f"question {row.question_id} is not in the current question set")
    return QuestionPost(question=question, report_title=ctx.questions.title)


@outbox.content_builder("notice")
def _notice_content(row: Post, ctx: Context) -> Notice:
    return Notice(text=str((row.payload or {}).get("text", "")))


def rule_of(schedule: Schedule) -> WeeklyRule:
    return WeeklyRule(
        weekday=schedule.weekday,
        time=schedule.time,
        timezone=schedule.timezone,
        nation=schedule.nation,
        holiday_policy="skip" if schedule.holiday_policy == "skip" else "move",
        paused_until=schedule.paused_until,
    )


async def asked_history(session: AsyncSession, channel_id: str) -> list[tuple[str, datetime]]:
    rows = await session.execute(
        select(Post.question_id, Post.due_at).where(
            Post.channel_id == channel_id,
            Post.kind == "question",
            Post.status.in_(ASKED_STATUSES),
            Post.question_id.is_not(None),
        )
    )
    return [(qid, due) for qid, due in rows.all() if qid]


async def choose_question(session: AsyncSession, ctx: Context, channel_id: str) -> str:
    return next_question(ctx.questions.ids, await asked_history(session, channel_id))


async def _record_occurrence(ctx: Context, schedule: Schedule, occ: Occurrence) -> Post | None:
    key = f"question:{schedule.id}:{occ.nominal.isoformat()}"
    now = ctx.clock()
    common = {
        "key": key,
        "kind": "question",
        "channel_id": schedule.channel_id,
        "due_at": occ.due_at,
        "schedule_id": schedule.id,
        "occurrence": occ.nominal,
    }
    if not occ.postable:
        return await outbox.enqueue(ctx, **common, status="skipped", error=occ.note)
    if now - occ.due_at > timedelta(hours=ctx.settings.grace_hours):
        window = f"{ctx.settings.grace_hours:g} h"
        return await outbox.enqueue(
            ctx, **common, status="missed", error=f"bot was down; past the {window} grace window"
        )
    async with ctx.db.read() as session:
        question_id = await choose_question(session, ctx, schedule.channel_id)
    return await outbox.enqueue(ctx, **common, question_id=question_id)


async def plan_questions(ctx: Context, *, schedule_ids: list[int] | None = None) -> list[str]:
    """Record every occurrence now due (or missed, or skipped) that is not yet recorded.

    Returns the keys of the pending posts recorded, for delivery. The unique key per
    (schedule, nominal date) makes this safe to run from any number of processes.
    """
    now = ctx.clock()
    async with ctx.db.read() as session:
        query = select(Schedule).where(Schedule.kind == "question", Schedule.enabled.is_(True))
        if schedule_ids is not None:
            query = query.where(Schedule.id.in_(schedule_ids))
        schedules = list((await session.scalars(query)).all())
    new_keys: list[str] = []
    for schedule in schedules:
        # Only occurrences after the rule last changed: a new or edited schedule does not
        # fire for times before it existed, and resuming does not replay paused weeks.
        start = max(schedule.updated_at, now - CATCH_UP_WINDOW)
        for occ in occurrences_between(rule_of(schedule), start, now + timedelta(microseconds=1)):
            row = await _record_occurrence(ctx, schedule, occ)
            if row is not None:
                log.info("recorded %s (%s) for %s", row.key, row.status, row.channel_id)
                if row.status == "pending":
                    new_keys.append(row.key)
    return new_keys


async def ask_now(ctx: Context, channel_id: str, question_id: str | None = None) -> Post:
    """Record an immediate question post in a channel (the caller delivers it)."""
    if question_id is not None and ctx.questions.get(question_id) is None:
        ids = ctx.questions.ids
        raise UnknownQuestion(f"there is no {question_id}: choose {ids[0]}–{ids[-1]}")
    async with ctx.db.write() as session:
        await ensure_channel(session, ctx, channel_id)
        chosen = (
            ctx.questions.get(question_id).id  # type: ignore[union-attr]
            if question_id
            else await choose_question(session, ctx, channel_id)
        )
    row = await outbox.enqueue(
        ctx,
        key=f"ask:{channel_id}:{uuid.uuid4().hex}",
        kind="question",
        channel_id=channel_id,
        due_at=ctx.clock(),
        question_id=chosen,
    )
    assert row is not None  # a fresh uuid key cannot collide
    return row


@dataclass(frozen=True)
class AskResult:
    post: Post
    report: outbox.DeliveryReport

    @property
    def delivered(self) -> bool:
        return bool(self.report.sent or self.report.found)


async def ask_and_deliver(
    ctx: Context, channel_id: str, question_id: str | None = None
) -> AskResult:
    row = await ask_now(ctx, channel_id, question_id)
    report = await outbox.deliver_due(ctx, only_keys=[row.key])
    async with ctx.db.read() as session:
        fresh = await session.get(Post, row.id)
    return AskResult(post=fresh or row, report=report)
