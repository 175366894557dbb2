"""Collecting replies in question threads: events in, reconciliation against the platform.

Events can arrive twice (Slack retries) or never (Slack loses some for good), so:
- each event id is recorded once (`processed_events`), and replies are unique per channel+ts;
- before a digest, and at start for this week's threads, each thread is read back from the
  platform and the stored replies are made to match it.

Two things are never stored again, whichever path a message comes by (an event, a batch of
events in `reply_writer`, or reconciliation):
- a deleted message: its channel+ts is kept as a tombstone (`reply_tombstones`, no text, no
  user) for `TOMBSTONE_MEMORY`, so a retried or replayed original that arrives after the
  deletion, or a thread read that started before it, cannot bring it back;
- anything by an erased user (`erased_users`, see `privacy.forget_user`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.content import ThreadMessage
from bot.platforms.base import PlatformError
from bot.services.context import Context
from bot.store.models import ErasedUser, Post, ProcessedEvent, Reply, ReplyTombstone

log = logging.getLogger(__name__)

EVENT_MEMORY = timedelta(days=3)  # Slack retries within minutes; replays within hours
# Long past any retry or replay; and a thread read back from Slack no longer holds the message.
TOMBSTONE_MEMORY = timedelta(days=30)
IN_CHUNK = 500  # values per IN (...) list: well under SQLite's and PostgreSQL's limits


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


def chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def erased_among(session: AsyncSession, user_ids: Collection[str]) -> set[str]:
    """Which of these users were erased (their messages are never stored again)."""
    found: set[str] = set()
    for chunk in chunks(sorted(user_ids)):
        rows = await session.scalars(
            select(ErasedUser.user_id).where(ErasedUser.user_id.in_(chunk))
        )
        found.update(rows.all())
    return found


async def tombstoned_among(
    session: AsyncSession, keys: Collection[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of these (channel, ts) messages were deleted (within TOMBSTONE_MEMORY)."""
    found: set[tuple[str, str]] = set()
    for chunk in chunks(sorted({ts for _, ts in keys})):
        rows = await session.execute(
            select(ReplyTombstone.channel_id, ReplyTombstone.ts).where(ReplyTombstone.ts.in_(chunk))
        )
        found.update((c, ts) for c, ts in rows.all() if (c, ts) in keys)
    return found


async def add_tombstones(
    session: AsyncSession, keys: Iterable[tuple[str, str]], deleted_at: datetime
) -> None:
    """Remember deleted messages; a tombstone already there is kept as it is (no conflict,
    even when another process is recording the same deletion)."""
    rows = [{"channel_id": c, "ts": ts, "deleted_at": deleted_at} for c, ts in dict.fromkeys(keys)]
    if not rows:
        return
    for start in range(0, len(rows), IN_CHUNK):
        statement = _insert(session, ReplyTombstone.__table__).values(
            rows[start : start + IN_CHUNK]
        )
        await session.execute(statement.on_conflict_do_nothing())


def _insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING, in the session's dialect."""
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def _not_to_store(session: AsyncSession, channel_id: str, ts: str, user_id: str) -> bool:
    """A message that was deleted, or whose author was erased."""
    if await session.get(ReplyTombstone, (channel_id, ts)) is not None:
        return True
    return await session.get(ErasedUser, user_id) is not None


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
            if await _not_to_store(session, event.channel_id, event.ts, event.user_id):
                return False  # deleted before this copy arrived, or its author was erased
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
    """A deleted message leaves nothing behind but a tombstone (its channel and ts), so
    that a copy of it arriving later is not stored again."""
    async with ctx.db.write() as session:
        if not await _first_time(session, event_id, ctx):
            return False
        result = await session.execute(
            delete(Reply).where(Reply.channel_id == channel_id, Reply.ts == ts)
        )
        await add_tombstones(session, [(channel_id, ts)], ctx.clock())
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


def _version(row: Reply) -> tuple[Any, ...]:
    return (row.id, row.text, row.edited, row.updated_at)


async def reconcile_thread(ctx: Context, post: Post) -> ReconcileResult:
    """Make the stored replies of one question thread match what the platform holds.

    Events keep arriving while the thread is read, so what was read is compared with what was
    stored when the read began (`held`), not with what is stored by the time it is written:
    - a stored reply missing from the thread is dropped only if it was held when the read
      began and has not changed since (a reply stored or edited during the read is newer than
      the read, and is kept);
    - a reply is updated from the thread only if it has not changed since the read began;
    - a message in the thread is added only if it is not stored, was not held when the read
      began (it was deleted meanwhile: by its deletion event, an erasure, a purge), has no
      tombstone and is not by an erased user.
    """
    result = ReconcileResult()
    if post.ts is None:
        return result
    async with ctx.db.read() as session:
        held = {
            r.ts: _version(r)
            for r in (await session.scalars(select(Reply).where(Reply.post_id == post.id))).all()
        }
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
        if await session.get(Post, post.id) is None:
            return result  # purged while we read (the workspace uninstalled the app)
        stored = {
            r.ts: r
            for r in (await session.scalars(select(Reply).where(Reply.post_id == post.id))).all()
        }
        erased = await erased_among(
            session,
            {m.user_id for m in live.values() if m.user_id} | {r.user_id for r in stored.values()},
        )
        tombstoned = await tombstoned_among(session, {(post.channel_id, ts) for ts in live})
        for ts, message in live.items():
            row = stored.get(ts)
            if row is None:
                if (
                    ts in held
                    or (post.channel_id, ts) in tombstoned
                    or (message.user_id or "") in erased
                ):
                    continue  # deleted, or its author erased, before or during the read
                # A live event may be storing the same reply right now (on PostgreSQL it is
                # not yet visible to us): skip on conflict rather than fail the digest.
                inserted = await session.execute(
                    _insert(session, Reply.__table__)
                    .values(
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
                    .on_conflict_do_nothing()
                )
                result.added += inserted.rowcount or 0
            elif held.get(ts) != _version(row) or row.user_id in erased:
                continue  # stored or changed during the read: newer than what we read
            elif row.text != message.text or row.edited != message.edited:
                row.text = message.text
                row.edited = row.edited or message.edited
                row.updated_at = ctx.clock()
                result.updated += 1
        gone = [
            ts
            for ts, row in stored.items()
            if (ts not in live and held.get(ts) == _version(row)) or row.user_id in erased
        ]
        if gone:
            await session.execute(delete(Reply).where(Reply.post_id == post.id, Reply.ts.in_(gone)))
            # An event for a message gone from the thread (a replay, a lost deletion's
            # original) must not bring it back; an erased user's stay out by erased_users.
            await add_tombstones(
                session,
                [(post.channel_id, ts) for ts in gone if stored[ts].user_id not in erased],
                ctx.clock(),
            )
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


async def forget_old_tombstones(ctx: Context) -> int:
    """Tombstones older than TOMBSTONE_MEMORY: no late copy of those messages is coming."""
    async with ctx.db.write() as session:
        result = await session.execute(
            delete(ReplyTombstone).where(ReplyTombstone.deleted_at < ctx.clock() - TOMBSTONE_MEMORY)
        )
        return int(result.rowcount or 0)
