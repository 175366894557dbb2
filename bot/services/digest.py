"""The weekly digest: read the window's questions and replies, build, post exactly once."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.domain.chart import chart_alt_text, participation_chart
from bot.domain.content import DigestPost
from bot.domain.digest import (
    WEEKS,
    ChannelRef,
    Digest,
    DigestReply,
    DigestWindow,
    QuestionThread,
    build_digest,
    participation_by_week,
)
from bot.domain.schedule import Occurrence
from bot.platforms.base import PlatformError
from bot.services import outbox, planning
from bot.services.ask import asked_history
from bot.services.collect import reconcile_thread
from bot.services.context import Context
from bot.store.models import Channel, ChatUser, Post, Reply, Schedule

log = logging.getLogger(__name__)

NAME_CACHE_TTL = timedelta(days=1)


async def display_names(ctx: Context, user_ids: set[str]) -> dict[str, str]:
    """Display names from the cache, else the platform; a failed lookup falls back to the id."""
    names: dict[str, str] = {}
    fresh_after = ctx.clock() - NAME_CACHE_TTL
    async with ctx.db.read() as session:
        cached = (
            await session.scalars(select(ChatUser).where(ChatUser.id.in_(list(user_ids))))
        ).all()
    for user in cached:
        if user.fetched_at >= fresh_after:
            names[user.id] = user.display_name
    for user_id in sorted(user_ids - names.keys()):
        try:
            info = await ctx.platform.user_info(user_id)
        except PlatformError as exc:
            log.warning("users.info failed for %s (%s): showing the id", user_id, exc)
            names[user_id] = user_id
            continue
        names[user_id] = info.display_name or user_id
        async with ctx.db.write() as session:
            await session.merge(
                ChatUser(
                    id=user_id,
                    team_id=info.team_id,
                    display_name=info.display_name or user_id,
                    is_admin=info.is_admin,
                    is_owner=info.is_owner,
                    is_guest=info.is_guest,
                    is_bot=info.is_bot,
                    deleted=info.deleted,
                    fetched_at=ctx.clock(),
                )
            )
    return names


async def build_channel_digest(
    ctx: Context, channel_id: str, window: DigestWindow, *, reconcile: bool = True
) -> Digest:
    """The digest of one channel's questions posted in `window` (replies reconciled first)."""
    async with ctx.db.read() as session:
        posts = (
            await session.scalars(
                select(Post)
                .where(
                    Post.channel_id == channel_id,
                    Post.kind == "question",
                    Post.status == "sent",
                    Post.sent_at >= window.start,
                    Post.sent_at < window.end,
                )
                .order_by(Post.sent_at)
            )
        ).all()
    if reconcile:
        for post in posts:
            await reconcile_thread(ctx, post)
    async with ctx.db.read() as session:
        channel = await session.get(Channel, channel_id)
        replies = (
            await session.scalars(
                select(Reply).where(Reply.post_id.in_([p.id for p in posts])).order_by(Reply.id)
            )
        ).all()
        history_since = window.end - timedelta(weeks=WEEKS + 1)
        history_rows = (
            await session.execute(
                select(Reply.user_id, Reply.posted_at).where(
                    Reply.channel_id == channel_id, Reply.posted_at >= history_since
                )
            )
        ).all()
        asked = [qid for qid, _ in await asked_history(session, channel_id)]
    names = await display_names(ctx, {r.user_id for r in replies})
    by_post: dict[int, list[DigestReply]] = {p.id: [] for p in posts}
    for r in replies:
        by_post[r.post_id].append(
            DigestReply(
                user_id=r.user_id,
                user_name=names.get(r.user_id, r.user_id),
                text=r.text,
                ts=r.ts,
                edited=r.edited,
                posted_at=r.posted_at,
            )
        )
    threads = []
    for post in posts:
        question = ctx.questions.get(post.question_id or "")
        if question is None:
            log.warning("post %s asked %s, not in the question set", post.key, post.question_id)
            continue
        threads.append(
            QuestionThread(
                question=question,
                posted_at=post.sent_at or post.due_at,
                permalink=post.permalink,
                replies=by_post[post.id],
            )
        )
    try:
        members = await ctx.platform.member_count(channel_id)
    except PlatformError as exc:
        log.warning("member count for %s unavailable: %s", channel_id, exc)
        members = None
    return build_digest(
        channel=ChannelRef(channel_id, channel.name if channel else None),
        window=window,
        threads=threads,
        member_count=members,
        question_set=ctx.questions,
        asked_ids=asked,
        history=participation_by_week(((u, at) for u, at in history_rows), window.tz),
    )


def window_ending(end: datetime, tz_name: str, days: int = 7) -> DigestWindow:
    """The `days` before `end`, same wall-clock time (so DST weeks still meet exactly)."""
    zone = ZoneInfo(tz_name)
    local_end = end.astimezone(zone)
    start = (local_end.replace(tzinfo=None) - timedelta(days=days)).replace(tzinfo=zone)
    return DigestWindow(start=start, end=local_end)


def digest_post(digest: Digest) -> DigestPost:
    return DigestPost(
        digest=digest,
        chart_png=participation_chart(digest.participation),
        chart_alt=chart_alt_text(digest.participation),
    )


@outbox.content_builder("digest")
async def _digest_content(row: Post, ctx: Context) -> DigestPost:
    payload = row.payload or {}
    window = DigestWindow(
        start=datetime.fromisoformat(payload["from"]), end=datetime.fromisoformat(payload["to"])
    )
    digest = await build_channel_digest(ctx, payload["source_channel"], window)
    return digest_post(digest)


async def plan_digests(ctx: Context) -> list[str]:
    """Record every due weekly digest (see `planning.plan`); returns the new keys."""

    async def details(schedule: Schedule, occ: Occurrence) -> dict[str, object]:
        window = window_ending(occ.due_at, schedule.timezone)
        return {
            "payload": {
                "source_channel": schedule.channel_id,
                "from": window.start.isoformat(),
                "to": window.end.isoformat(),
            }
        }

    return await planning.plan(ctx, "digest", details)


async def post_digest_now(ctx: Context, channel_id: str, window: DigestWindow, target: str | None):
    """`digest --post` and `/leadership digest now`: record, then deliver, exactly once."""
    row = await outbox.enqueue(
        ctx,
        key=f"digest-now:{channel_id}:{uuid.uuid4().hex}",
        kind="digest",
        channel_id=target or channel_id,
        due_at=ctx.clock(),
        payload={
            "source_channel": channel_id,
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
        },
    )
    assert row is not None
    report = await outbox.deliver_due(ctx, only_keys=[row.key])
    return row, report
