"""Managing feeds and alerts: the use cases behind `leaderbot feeds …`, `leaderbot alerts …`,
`/leadership feeds …` and `/leadership alerts on|off`. Every change is audited in the same
transaction.

Errors are FeedAdminError with a sentence that says what to do instead, fit to show a user.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.feed_catalogue import CatalogueFeed, find_in_catalogue
from bot.domain.language import N_
from bot.domain.messages import Msg
from bot.services import audit
from bot.services.channels import ensure_channel
from bot.services.context import Context
from bot.services.feeds.checks import (
    FeedAdminError,
    check_public,
    validate_keywords,
    validate_url,
)
from bot.store.models import Channel
from bot.store.models_feeds import Feed

__all__ = [
    "FeedAdminError",
    "FeedView",
    "add_feed",
    "alerts_enabled",
    "list_feeds",
    "remove_feed",
    "set_alerts",
    "validate_keywords",
    "validate_url",
]

MIN_INTERVAL_MINUTES = 5
MAX_INTERVAL_MINUTES = 1440
DEFAULT_INTERVAL_MINUTES = 60


@dataclass(frozen=True, slots=True)
class FeedView:
    id: int
    url: str
    source: str
    channel_id: str | None
    keywords: tuple[str, ...]
    enabled: bool
    from_catalogue: bool
    poll_minutes: int
    primed: bool
    last_success_at: datetime | None
    next_poll_at: datetime | None
    consecutive_failures: int
    last_error: str | None

    @classmethod
    def of(cls, row: Feed) -> FeedView:
        return cls(
            id=row.id,
            url=row.url,
            source=row.source,
            channel_id=row.channel_id,
            keywords=tuple(row.keywords or ()),
            enabled=row.enabled,
            from_catalogue=row.from_catalogue,
            poll_minutes=row.poll_interval_s // 60,
            primed=row.primed,
            last_success_at=row.last_success_at,
            next_poll_at=row.next_poll_at,
            consecutive_failures=row.consecutive_failures,
            last_error=row.last_error,
        )


def _host_name(url: str) -> str:
    host = urlsplit(url).hostname or url
    return host.removeprefix("www.")


async def add_feed(
    ctx: Context,
    url: str,
    *,
    channel_id: str | None = None,
    keywords: Iterable[str] = (),
    name: str | None = None,
    interval_minutes: int | None = None,
    actor: str = "cli",
    catalogue: Sequence[CatalogueFeed] | None = None,
) -> FeedView:
    """Watch a feed. Its current items are recorded on the first fetch, never alerted.

    A feed added for a channel is that channel asking for alerts: its alerts are turned on
    (audited) in the same transaction, or the feed would alert nobody. A feed listed in
    `catalogue` (by default, what `ctx.feed_catalogue` reads) takes its name, keywords and
    interval from there unless given."""
    if channel_id is not None and not channel_id.strip():
        raise FeedAdminError(
            Msg(N_("Name the channel to alert, or leave the channel out for all."))
        )
    url = validate_url(url)
    chosen = validate_keywords(keywords)
    if interval_minutes is not None and not (
        MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES
    ):
        raise FeedAdminError(
            f"Poll every {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES} minutes."
        )
    await check_public(url, allow_private=ctx.settings.allow_private_feeds)
    listed = find_in_catalogue(url, _catalogue(ctx) if catalogue is None else catalogue)
    if not chosen and listed is not None:
        chosen = listed.keywords
    minutes = interval_minutes or (listed.poll_minutes if listed else DEFAULT_INTERVAL_MINUTES)
    source = (name or (listed.name if listed else _host_name(url))).strip()[:200]
    now = ctx.clock()
    async with ctx.db.write() as session:
        row = await session.scalar(select(Feed).where(Feed.url == url))
        before = None
        if row is not None:
            if row.enabled:
                raise FeedAdminError(
                    Msg(N_("That feed is already watched, as feed {id}."), id=row.id)
                )
            before = {"enabled": False}
            # Coming back after a removal: its backlog is recorded again, not alerted.
            row.enabled = True
            row.primed = False
            row.etag = row.last_modified = None
            row.next_poll_at = None
            row.consecutive_failures = 0
            row.failing_since = None
            row.failure_notified = False
            row.last_error = None
        else:
            row = Feed(
                url=url,
                from_catalogue=listed is not None,
                enabled=True,
                primed=False,
                consecutive_failures=0,
                failure_notified=False,
                created_at=now,
            )
            session.add(row)
        row.source = source
        row.channel_id = channel_id
        row.keywords = chosen.as_list() or None
        row.publisher_is_subject = bool(listed and listed.publisher_is_subject)
        row.poll_interval_s = minutes * 60
        row.added_by = actor[:64]
        await session.flush()
        audit.record(
            session,
            ctx,
            actor=actor,
            action="feeds.add",
            channel_id=channel_id,
            before=before,
            after={"feed_id": row.id, "url": url, "keywords": row.keywords, "source": source},
        )
        if channel_id is not None:
            await _turn_alerts(session, ctx, channel_id, True, actor=actor)
        return FeedView.of(row)


def _catalogue(ctx: Context) -> Sequence[CatalogueFeed]:
    """The catalogue the Context was built with (`bot.runtime` wires the watcher's loader:
    this service sits below the watcher and cannot import it)."""
    try:
        return ctx.feed_catalogue()
    except ValueError:
        return ()  # a broken catalogue file must not stop an admin adding a feed


async def remove_feed(ctx: Context, feed_id: int, *, actor: str = "cli") -> FeedView:
    """Stop watching a feed. A catalogue feed is disabled rather than deleted, so that the
    catalogue does not bring it back."""
    async with ctx.db.write() as session:
        row = await session.get(Feed, feed_id)
        if row is None or not row.enabled:
            raise FeedAdminError(Msg(N_("There is no feed {id}: `feeds` lists them."), id=feed_id))
        view = FeedView.of(row)
        if row.from_catalogue:
            row.enabled = False
        else:
            await session.delete(row)
        audit.record(
            session,
            ctx,
            actor=actor,
            action="feeds.remove",
            channel_id=view.channel_id,
            before={"feed_id": feed_id, "url": view.url, "keywords": list(view.keywords)},
            after=None,
        )
        return view


async def list_feeds(ctx: Context, *, include_removed: bool = False) -> list[FeedView]:
    async with ctx.db.read() as session:
        query = select(Feed).order_by(Feed.id)
        if not include_removed:
            query = query.where(Feed.enabled.is_(True))
        return [FeedView.of(row) for row in (await session.scalars(query)).all()]


async def feeds_alerting(session: AsyncSession, channel_id: str) -> list[FeedView]:
    """The enabled feeds that can alert a channel: its own, and those for every alerts
    channel (`list_feeds` filtered by `feeds_of`, read for this channel only)."""
    query = (
        select(Feed)
        .where(Feed.enabled.is_(True), Feed.channel_id.is_(None) | (Feed.channel_id == channel_id))
        .order_by(Feed.id)
    )
    return [FeedView.of(row) for row in (await session.scalars(query)).all()]


async def set_alerts(ctx: Context, channel_id: str, enabled: bool, *, actor: str) -> bool:
    """Turn report alerts on or off in a channel. Returns the previous setting."""
    async with ctx.db.write() as session:
        return await _turn_alerts(session, ctx, channel_id, enabled, actor=actor)


async def _turn_alerts(
    session: AsyncSession, ctx: Context, channel_id: str, enabled: bool, *, actor: str
) -> bool:
    channel: Channel = await ensure_channel(session, ctx, channel_id)
    before = channel.alerts_enabled
    channel.alerts_enabled = enabled
    if before != enabled:
        audit.record(
            session,
            ctx,
            actor=actor,
            action="alerts",
            channel_id=channel_id,
            before={"alerts_enabled": before},
            after={"alerts_enabled": enabled},
        )
    return before


async def alerts_enabled(ctx: Context, channel_id: str) -> bool:
    async with ctx.db.read() as session:
        channel = await session.get(Channel, channel_id)
        return bool(channel and channel.alerts_enabled)
