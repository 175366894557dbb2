"""Asking the weekly question: plan due occurrences into the outbox, and ask on demand."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.content import Notice, QuestionPost
from bot.domain.language import N_
from bot.domain.messages import MessageError, Msg
from bot.domain.rotation import next_question
from bot.domain.schedule import Occurrence
from bot.services import outbox, planning
from bot.services.channels import ensure_channel
from bot.services.context import Context
from bot.store.models import Post, Schedule

log = logging.getLogger(__name__)

ASKED_STATUSES = ("pending", "sending", "sent")


class UnknownQuestion(MessageError):
    """A question id that is not in the question set."""


def question_content(row: Post, ctx: Context) -> QuestionPost:
    question = ctx.questions.get(row.question_id or "")
    if question is None:
        raise UnknownQuestion(f"question {row.question_id} is not in the current question set")
    return QuestionPost(
        question=question,
        report_title=ctx.questions.title,
        report_title_cy=ctx.questions.title_cy,
    )


def notice_content(row: Post, ctx: Context) -> Notice:
    """A notice's payload: its text, or a msgid and its parameters (written in the channel's
    language when it is sent)."""
    payload = row.payload or {}
    if "msgid" in payload:
        params = {str(k): str(v) for k, v in (payload.get("params") or {}).items()}
        return Notice(text=str(payload["msgid"]), translate=True, params=params)
    return Notice(text=str(payload.get("text", "")))


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


async def plan_questions(ctx: Context, *, schedule_ids: list[int] | None = None) -> list[str]:
    """Record every due weekly question (see `planning.plan`); returns the new keys."""

    async def details(pairs: list[tuple[Schedule, Occurrence]]) -> list[dict[str, str]]:
        # Every channel's history in one query, then each pick in due order, counting the
        # picks of this pass (two weeks caught up in one channel get different questions).
        channels = sorted({schedule.channel_id for schedule, _ in pairs})
        history: dict[str, list[tuple[str, datetime]]] = {c: [] for c in channels}
        async with ctx.db.read() as session:
            for i in range(0, len(channels), planning.KEY_CHUNK):
                rows = await session.execute(
                    select(Post.channel_id, Post.question_id, Post.due_at).where(
                        Post.channel_id.in_(channels[i : i + planning.KEY_CHUNK]),
                        Post.kind == "question",
                        Post.status.in_(ASKED_STATUSES),
                        Post.question_id.is_not(None),
                    )
                )
                for channel_id, qid, due in rows.all():
                    if qid:
                        history[channel_id].append((qid, due))
        picks: list[dict[str, str]] = []
        for schedule, occ in pairs:
            chosen = next_question(ctx.questions.ids, history[schedule.channel_id])
            history[schedule.channel_id].append((chosen, occ.due_at))
            picks.append({"question_id": chosen})
        return picks

    return await planning.plan(ctx, "question", batch_details=details, schedule_ids=schedule_ids)


async def ask_now(ctx: Context, channel_id: str, question_id: str | None = None) -> Post:
    """Record an immediate question post in a channel (the caller delivers it)."""
    if question_id is not None and ctx.questions.get(question_id) is None:
        ids = ctx.questions.ids
        raise UnknownQuestion(
            Msg(
                N_("there is no {id}: choose {first}–{last}"),
                id=question_id,
                first=ids[0],
                last=ids[-1],
            )
        )
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
