"""Collecting replies in question threads: events in, reconciliation against the platform.

Events can arrive twice (Slack retries) or never (Slack loses some for good), so:
- each event id is recorded once (`processed_events`), and replies are unique per channel+ts;
- before a digest, and at start for this week's threads, each thread is read back from the
  platform and the stored replies are made to match it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.content import ThreadMessage
from bot.platforms.base import PlatformError
from bot.services.context import Context
from bot.store.models import Post, ProcessedEvent, Reply

log = logging.getLogger(__name__)

EVENT_MEMORY = timedelta(days=3)  # Slack retries within minutes; replays within hours


def ts_to_datetime(ts: str) -> datetime:
    return datetime.fromtimestamp(float(ts), UTC)


async def _question_post(session: AsyncSession, channel_id: str, thread_ts: str) -> Post | None:
    return await session.scalar(
        select(Post).where(
            Post.channel_id == channel_id,
            Post.ts == thread_ts,
            Post.kind == "question",
            Post.status == "sent",
        )
    )


async def _first_time(session: AsyncSession, event_id: str | None, ctx: Context) -> bool:
    """Record the event id; False if it was seen before."""
    if not event_id:
        return True
    if await session.get(ProcessedEvent, event_id) is not None:
        return False
    session.add(ProcessedEvent(event_id=event_id, received_at=ctx.clock()))
    await session.flush()
    return True


@dataclass(frozen=True)
class ReplyEvent:
    channel_id: str
    thread_ts: str
    ts: str
    user_id: str
    text: str
    edited: bool = False
    team_id: str | None = None
    event_id: str | None = None


async def record_reply(ctx: Context, event: ReplyEvent) -> bool:
    """Store a new or edited reply in a question's thread. False if ignored or a duplicate."""
    try:
        async with ctx.db.write() as session:
            if not await _first_time(session, event.event_id, ctx):
                return False
            post = await _question_post(session, event.channel_id, event.thread_ts)
            if post is None:
                return False  # a thread that is not one of our questions
            existing = await session.scalar(
                select(Reply).where(Reply.channel_id == event.channel_id, Reply.ts == event.ts)
            )
            if existing is not None:
                if existing.edited and not event.edited:
                    return True  # the original arrived after its edit: keep the edit
                if existing.text != event.text or event.edited:
                    existing.text = event.text
                    existing.edited = existing.edited or event.edited
                    existing.updated_at = ctx.clock()
                return True
            session.add(
                Reply(
                    post_id=post.id,
                    channel_id=event.channel_id,
                    team_id=event.team_id,
                    user_id=event.user_id,
                    text=event.text,
                    ts=event.ts,
                    thread_ts=event.thread_ts,
                    edited=event.edited,
                    posted_at=ts_to_datetime(event.ts),
                    updated_at=ctx.clock(),
                )
            )
        return True
    except IntegrityError:
        return False  # the same event raced in twice; the first one stored it


async def record_deletion(
    ctx: Context, channel_id: str, ts: str, *, event_id: str | None = None
) -> bool:
    """A deleted message leaves nothing behind."""
    async with ctx.db.write() as session:
        if not await _first_time(session, event_id, ctx):
            return False
        result = await session.execute(
            delete(Reply).where(Reply.channel_id == channel_id, Reply.ts == ts)
        )
        return bool(result.rowcount)


async def record_console_reply(ctx: Context, channel_id: str, thread_ts: str, message) -> bool:  # type: ignore[no-untyped-def]
    return await record_reply(
        ctx,
        ReplyEvent(
            channel_id=channel_id,
            thread_ts=thread_ts,
            ts=message.ts,
            user_id=message.user_id,
            text=message.text,
        ),
    )


@dataclass
class ReconcileResult:
    added: int = 0
    updated: int = 0
    removed: int = 0
    error: str | None = None


def _is_reply(message: ThreadMessage) -> bool:
    return not message.is_bot and bool(message.user_id)


async def reconcile_thread(ctx: Context, post: Post) -> ReconcileResult:
    """Make the stored replies of one question thread match what the platform holds."""
    result = ReconcileResult()
    if post.ts is None:
        return result
    try:
        messages = [
            m for m in await ctx.platform.fetch_thread(post.channel_id, post.ts) if _is_reply(m)
        ]
    except PlatformError as exc:
        # Keep what we have rather than wipe a thread we could not read.
        log.warning("could not read thread %s in %s: %s", post.ts, post.channel_id, exc)
        result.error = str(exc)
        return result
    live = {m.ts: m for m in messages}
    async with ctx.db.write() as session:
        stored = {
            r.ts: r
            for r in (await session.scalars(select(Reply).where(Reply.post_id == post.id))).all()
        }
        for ts, message in live.items():
            row = stored.get(ts)
            if row is None:
                session.add(
                    Reply(
                        post_id=post.id,
                        channel_id=post.channel_id,
                        user_id=message.user_id or "",
                        text=message.text,
                        ts=ts,
                        thread_ts=post.ts,
                        edited=message.edited,
                        posted_at=message.posted_at or ts_to_datetime(ts),
                        updated_at=ctx.clock(),
                    )
                )
                result.added += 1
            elif row.text != message.text or row.edited != message.edited:
                row.text = message.text
                row.edited = row.edited or message.edited
                row.updated_at = ctx.clock()
                result.updated += 1
        gone = [ts for ts in stored if ts not in live]
        if gone:
            await session.execute(delete(Reply).where(Reply.post_id == post.id, Reply.ts.in_(gone)))
            result.removed = len(gone)
    if result.added or result.updated or result.removed:
        log.info(
            "reconciled %s/%s: +%d ~%d -%d",
            post.channel_id,
            post.ts,
            result.added,
            result.updated,
            result.removed,
        )
    return result


async def question_posts_since(
    ctx: Context, since: datetime, channel_id: str | None = None
) -> list[Post]:
    async with ctx.db.read() as session:
        query = select(Post).where(
            Post.kind == "question", Post.status == "sent", Post.sent_at >= since
        )
        if channel_id is not None:
            query = query.where(Post.channel_id == channel_id)
        return list((await session.scalars(query.order_by(Post.sent_at))).all())


async def reconcile_recent(ctx: Context, *, days: int = 7) -> ReconcileResult:
    """At start: bring this week's threads up to date (events lost while we were down)."""
    total = ReconcileResult()
    for post in await question_posts_since(ctx, ctx.clock() - timedelta(days=days)):
        one = await reconcile_thread(ctx, post)
        total.added += one.added
        total.updated += one.updated
        total.removed += one.removed
    return total


async def forget_old_events(ctx: Context) -> int:
    async with ctx.db.write() as session:
        result = await session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.received_at < ctx.clock() - EVENT_MEMORY)
        )
        return int(result.rowcount or 0)
