"""Feed tables (issue 5): feeds, their items and the dedupe keys. Created in migration 0002.

Identity of an item: `feed_item_keys` maps every key an item is known by (its guid in a feed,
its normalised link, its title+date; see bot.domain.feed_match.item_keys) to one canonical
`feed_items` row, so a changed guid or the same story in two feeds resolves to the same item.
`feed_entries` says which feed has already seen which item: an item alerts when it is new to a
feed, and the outbox key `alert:{channel}:{item}` makes that once per channel, ever.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, utcnow


class Feed(Base):
    __tablename__ = "feeds"
    __table_args__ = (Index("ix_feeds_due", "enabled", "next_poll_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    source: Mapped[str] = mapped_column(String(200))  # publisher name shown in alerts
    title: Mapped[str | None] = mapped_column(String(300))  # the feed's own title, last parse
    channel_id: Mapped[str | None] = mapped_column(String(64))  # None: every alerts channel
    keywords: Mapped[list[str] | None] = mapped_column(JSON)
    publisher_is_subject: Mapped[bool] = mapped_column(Boolean, default=False)
    from_catalogue: Mapped[bool] = mapped_column(Boolean, default=False)
    # A removed catalogue feed stays as a disabled row, so re-seeding does not bring it back.
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    poll_interval_s: Mapped[int] = mapped_column(Integer, default=3600)
    # Validators exactly as the server sent them (latin-1 text of the header bytes).
    etag: Mapped[str | None] = mapped_column(String(1024))
    last_modified: Mapped[str | None] = mapped_column(String(256))
    # False until the first successful fetch, which records the backlog without alerting.
    primed: Mapped[bool] = mapped_column(Boolean, default=False)
    next_poll_at: Mapped[datetime | None] = mapped_column()
    last_polled_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column()
    failure_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedItem(Base):
    """One story, however many feeds and keys it is known by."""

    __tablename__ = "feed_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    link: Mapped[str | None] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    published: Mapped[datetime | None] = mapped_column()
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    question_id: Mapped[str | None] = mapped_column(String(16))
    first_feed_id: Mapped[int | None] = mapped_column(
        ForeignKey("feeds.id", ondelete="SET NULL"), index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class FeedItemKey(Base):
    """A dedupe key ("g:…" guid, "l:…" link, "t:…" title+date: sha256 hex) -> its item."""

    __tablename__ = "feed_item_keys"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("feed_items.id", ondelete="CASCADE"), index=True
    )


class FeedEntry(Base):
    """Feed `feed_id` has seen item `item_id` (and alerted it, if it matched)."""

    __tablename__ = "feed_entries"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("feed_items.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
