"""What a channel has set up, gathered for the status reply and the App Home."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from bot.services import schedules as schedule_service
from bot.services.admin.formats import when
from bot.services.context import Context
from bot.services.feeds import admin as feed_admin
from bot.services.feeds.admin import FeedView
from bot.store.models import AuditEntry, Channel, Post, Schedule


@dataclass
class ChannelSummary:
    """What the status and the App Home show for one channel."""

    channel_id: str
    name: str | None = None
    question: Schedule | None = None
    question_state: str | None = None
    question_next: str | None = None  # English; `question_due` to write it in another
    question_due: datetime | None = None
    digest: Schedule | None = None
    digest_state: str | None = None
    digest_next: str | None = None
    digest_due: datetime | None = None
    last_question: Post | None = None
    last_problem: Post | None = None  # the newest question post, when it failed or was missed
    alerts: bool = False
    feeds: list[FeedView] = field(default_factory=list)  # its own, and those for every channel
    recent: list[AuditEntry] = field(default_factory=list)


def feeds_of(feeds: list[FeedView], channel_id: str) -> list[FeedView]:
    """The feeds that can alert a channel: its own, and those for every alerts channel."""
    return [f for f in feeds if f.channel_id in (None, channel_id)]


async def channel_feeds(ctx: Context, channel_id: str) -> list[FeedView]:
    async with ctx.db.read() as session:
        return await feed_admin.feeds_alerting(session, channel_id)


async def summarise(
    ctx: Context, channel_id: str, *, audit_entries: int = 0, workspace_id: str | None = None
) -> ChannelSummary:
    """What the channel has set up; with `audit_entries`, the newest changes to it, and those
    to no channel in particular made from `workspace_id` or by the operator (the CLI, for
    every workspace)."""
    summary = ChannelSummary(channel_id)
    now = ctx.clock()
    # Everything in one read: a status is the commonest command.
    async with ctx.db.read() as session:
        # The channel's row with its schedules (a schedule's channel is always recorded).
        rows = await session.execute(
            select(Channel, Schedule)
            .outerjoin(Schedule, Schedule.channel_id == Channel.id)
            .where(Channel.id == channel_id)
        )
        pairs = rows.all()
        channel: Channel | None = pairs[0][0] if pairs else None
        for _, s in pairs:
            if s is None:
                continue  # recorded, with no schedule
            view = schedule_service.ScheduleView(s, schedule_service.upcoming(s, now), [])
            due_at = view.next.due_at if view.next else None
            due = when(due_at, s.timezone) if due_at else None
            if s.kind == "question":
                summary.question, summary.question_state = s, view.state
                summary.question_next, summary.question_due = due, due_at
            elif s.kind == "digest":
                summary.digest, summary.digest_state = s, view.state
                summary.digest_next, summary.digest_due = due, due_at
        summary.feeds = await feed_admin.feeds_alerting(session, channel_id)
        if channel is not None:
            summary.name, summary.alerts = channel.name, channel.alerts_enabled
        asked = select(Post).where(Post.channel_id == channel_id, Post.kind == "question")
        summary.last_question = await session.scalar(
            asked.where(Post.status == "sent").order_by(Post.sent_at.desc()).limit(1)
        )
        newest = await session.scalar(asked.order_by(Post.due_at.desc(), Post.id.desc()).limit(1))
        if newest is not None and newest.status in ("failed", "missed"):
            summary.last_problem = newest
        if audit_entries:
            query = (
                select(AuditEntry)
                .where(
                    (AuditEntry.channel_id == channel_id)
                    | (
                        AuditEntry.channel_id.is_(None)
                        & (
                            AuditEntry.workspace_id.is_(None)
                            | (AuditEntry.workspace_id == workspace_id)
                        )
                    )
                )
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .limit(audit_entries)
            )
            summary.recent = list((await session.scalars(query)).all())
    return summary


async def served_channels(ctx: Context, workspace_id: str | None = None) -> list[str]:
    """The channels with a schedule or alerts on, ordered by name (the App Home lists them);
    with `workspace_id`, that workspace's only (and those with none recorded)."""
    async with ctx.db.read() as session:
        scheduled = set((await session.scalars(select(Schedule.channel_id))).all())
        alerted = set(
            await session.scalars(select(Channel.id).where(Channel.alerts_enabled.is_(True)))
        )
        rows = (await session.execute(select(Channel.id, Channel.name, Channel.workspace_id))).all()
    names = {cid: name for cid, name, _ in rows}
    if workspace_id is not None:
        elsewhere = {cid for cid, _, ws in rows if ws is not None and ws != workspace_id}
        scheduled, alerted = scheduled - elsewhere, alerted - elsewhere
    return sorted(scheduled | alerted, key=lambda c: ((names.get(c) or c).lower(), c))
