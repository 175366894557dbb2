"""Stories: each item resolved to its canonical story by its keys (guid, link, title and
date; see `bot.domain.feed_match.item_keys`), so a changed guid or the same story in two feeds
is one story; recorded per feed, so a story alerts a feed's channels once.

Keys are a hint, not gospel: guid first. A link several distinct items of one fetch share (a
feed linking every item to its home page) is no identity there, and a story found only by its
link is the same story only when its title and date do not say otherwise. An item with no
guid, link or title (a description-only item is valid RSS 2.0) is known by its content.

Alerts are queued before an item is marked seen, so a crash in between re-queues (a no-op:
the outbox key exists) rather than loses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.domain.feed_match import (
    FeedItem,
    MatchRules,
    item_keys,
    match_item,
    normalise_title,
    relate_question,
)
from bot.domain.questions import Question
from bot.services.context import Context
from bot.store.models_feeds import Feed, FeedEntry, FeedItemKey
from bot.store.models_feeds import FeedItem as FeedItemRow
from bot.watch.alerts import alert_payload, queue_alerts, targets
from bot.watch.feed_state import FeedState
from bot.watch.parser import ParsedFeed

log = logging.getLogger(__name__)

IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit
LINK_KEY = "l:"  # item_keys' link keys: shared across feeds, so the weakest identity
CONTENT_KEY = "c:"  # this module's: an item known by its text alone
T = TypeVar("T")


def content_key(feed_key: str, item: FeedItem) -> str:
    """An item with nothing else to go by is known by its title and description, in its feed."""
    text = "\x1f".join((feed_key, normalise_title(item.title), item.summary))
    return CONTENT_KEY + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _identity(item: FeedItem) -> tuple[str, str, str]:
    day = item.published.date().isoformat() if item.published else ""
    return (item.guid or "", normalise_title(item.title), day)


def story_keys(
    items: Sequence[FeedItem], feed_key: str, rules: MatchRules
) -> tuple[list[tuple[FeedItem, tuple[str, ...]]], int]:
    """(each item with its keys, items skipped for having nothing to know them by)."""
    keyed = [(item, item_keys(item, feed_key, rules)) for item in items]
    owners: dict[str, set[tuple[str, str, str]]] = {}
    for item, keys in keyed:
        for key in keys:
            if key.startswith(LINK_KEY):
                owners.setdefault(key, set()).add(_identity(item))
    shared = {key for key, who in owners.items() if len(who) > 1}
    result: list[tuple[FeedItem, tuple[str, ...]]] = []
    skipped = 0
    for item, keys in keyed:
        keys = tuple(k for k in keys if k not in shared)
        if not keys and (item.summary.strip() or item.title.strip()):
            keys = (content_key(feed_key, item),)
        if keys:
            result.append((item, keys))
        else:
            skipped += 1
    return result, skipped


def _same_story(item: FeedItem, title: str, published: datetime | None) -> bool:
    """A story found only by its link: the same one unless its title or date says otherwise."""
    mine, theirs = normalise_title(item.title), normalise_title(title)
    if mine and theirs and theirs != "untitled" and mine != theirs:
        return False
    return not (item.published and published and item.published.date() != published.date())


def chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True, slots=True)
class _ToAlert:
    item: FeedItem
    item_id: int
    question: Question | None
    reason: str


async def record_items(
    ctx: Context,
    feed: FeedState,
    parsed: ParsedFeed,
    rules: MatchRules,
    channels: Sequence[str],
    now: datetime,
) -> tuple[int, int, int]:
    """(items new to this feed, of which matched, alerts enqueued)."""
    # Feed-local keys (guid, title alone) are scoped by the feed's URL, not its id: SQLite
    # reuses a deleted row's id, and the keys of a removed feed stay (they are hashed, so they
    # cannot be found by feed to delete). The URL is unique among feeds, and a feed re-added
    # at the same URL is the same feed, so its keys meaning the same stories is right.
    keyed, skipped = story_keys(parsed.items, feed.url, rules)
    if skipped:
        log.warning(
            "feed %d (%s): %d item(s) with no guid, link, title or description skipped",
            feed.id,
            feed.url,
            skipped,
        )
    for attempt in range(3):
        try:
            new, to_alert = await _resolve(ctx, feed, keyed, rules, now)
            break
        except IntegrityError:
            # Another process recorded the same story at the same moment (PostgreSQL; SQLite
            # serialises writers): its keys are there now, so resolving again finds them.
            if attempt == 2:
                raise
    alerts = 0
    to = targets(feed, channels)
    for entry in to_alert:
        payload = alert_payload(entry.item, feed, entry.item_id, entry.question, rules, parsed)
        alerts += await queue_alerts(ctx, feed, entry.item, entry.item_id, payload, to, now)
        log.info(
            "feed %d: Socitm report %r (%s) -> %d channel(s)",
            feed.id,
            entry.item.title[:120],
            entry.reason,
            len(to),
        )
    if to_alert:
        await _mark_seen(ctx, feed.id, [e.item_id for e in to_alert], now)
    return new, len(to_alert), alerts


async def _resolve(
    ctx: Context,
    feed: FeedState,
    keyed: Sequence[tuple[FeedItem, tuple[str, ...]]],
    rules: MatchRules,
    now: datetime,
) -> tuple[int, list[_ToAlert]]:
    """One transaction: map items to canonical stories (creating new ones), record unmatched
    new entries (all of them on a first fetch), and return the matched new ones to alert."""
    all_keys = list(dict.fromkeys(k for _, keys in keyed for k in keys))
    to_alert: list[_ToAlert] = []
    async with ctx.db.write() as session:
        known: dict[str, int] = {}
        for chunk in chunks(all_keys):
            rows = await session.execute(
                select(FeedItemKey.key, FeedItemKey.item_id).where(FeedItemKey.key.in_(chunk))
            )
            known.update({key: item_id for key, item_id in rows.all()})
        # What a story found only by its link is, to tell it from a different one (_same_story).
        by_link = list({known[k] for k in all_keys if k in known and k.startswith(LINK_KEY)})
        stories: dict[int, tuple[str, datetime | None]] = {}
        for chunk in chunks(by_link):
            rows = await session.execute(
                select(FeedItemRow.id, FeedItemRow.title, FeedItemRow.published).where(
                    FeedItemRow.id.in_(chunk)
                )
            )
            stories.update({item_id: (title, when) for item_id, title, when in rows.all()})
        # New stories are inserted together (one batched INSERT … RETURNING at the flush), not
        # one round trip each: a first fetch records a whole backlog.
        targets: list[tuple[FeedItem, int | FeedItemRow]] = []
        fresh: dict[str, FeedItemRow] = {}  # key -> new story, for duplicates within the batch
        for item, keys in keyed:
            ids = {known[k] for k in keys if k in known and not k.startswith(LINK_KEY)}
            if not ids:
                ids = {
                    known[k]
                    for k in keys
                    if k in known
                    and (known[k] not in stories or _same_story(item, *stories[known[k]]))
                }
            target: int | FeedItemRow
            if ids:
                target = min(ids)  # the oldest story wins if keys disagree
            else:
                same = next((fresh[k] for k in keys if k in fresh), None)
                if same is None:
                    same = FeedItemRow(
                        title=item.title[:500] or "(untitled)",
                        link=item.link,
                        guid=item.guid,
                        published=item.published,
                        matched=False,
                        first_feed_id=feed.id,
                        first_seen_at=now,
                    )
                    session.add(same)
                target = same
            for key in keys:
                if key in known or key in fresh:
                    continue
                # New aliases: a changed guid, a second feed's link, a new story's keys.
                if isinstance(target, int):
                    known[key] = target
                    session.add(FeedItemKey(key=key, item_id=target))
                else:
                    fresh[key] = target
            targets.append((item, target))
        if fresh:
            await session.flush()
            for key, row in fresh.items():
                session.add(FeedItemKey(key=key, item_id=row.id))
        resolved: dict[int, FeedItem] = {}
        for item, target in targets:
            resolved.setdefault(target if isinstance(target, int) else target.id, item)
        seen: set[int] = set()
        for ids in chunks(list(resolved)):
            seen.update(
                (
                    await session.scalars(
                        select(FeedEntry.item_id).where(
                            FeedEntry.feed_id == feed.id, FeedEntry.item_id.in_(ids)
                        )
                    )
                ).all()
            )
        new = [(item_id, item) for item_id, item in resolved.items() if item_id not in seen]
        for item_id, item in new:
            if feed.primed:
                match = match_item(
                    item, rules, feed.keywords, publisher_is_subject=feed.publisher_is_subject
                )
                if match.matched:
                    question = relate_question(item, ctx.questions.questions, rules)
                    await session.execute(
                        update(FeedItemRow)
                        .where(FeedItemRow.id == item_id)
                        .values(matched=True, question_id=question.id if question else None)
                        .execution_options(synchronize_session=False)
                    )
                    # Marked seen only after its alerts are enqueued (see record_items).
                    to_alert.append(_ToAlert(item, item_id, question, match.reason))
                    continue
            session.add(FeedEntry(feed_id=feed.id, item_id=item_id, first_seen_at=now))
        if not feed.primed:
            await session.execute(
                update(Feed)
                .where(Feed.id == feed.id)
                .values(primed=True)
                .execution_options(synchronize_session=False)
            )
            log.info(
                "feed %d (%s): first fetch, %d item(s) recorded as backlog, none alerted",
                feed.id,
                feed.url,
                len(new),
            )
    return len(new), to_alert


async def _mark_seen(ctx: Context, feed_id: int, item_ids: Sequence[int], now: datetime) -> None:
    try:
        async with ctx.db.write() as session:
            already = set(
                (
                    await session.scalars(
                        select(FeedEntry.item_id).where(
                            FeedEntry.feed_id == feed_id, FeedEntry.item_id.in_(list(item_ids))
                        )
                    )
                ).all()
            )
            for item_id in dict.fromkeys(item_ids):
                if item_id not in already:
                    session.add(FeedEntry(feed_id=feed_id, item_id=item_id, first_seen_at=now))
    except IntegrityError:
        pass  # another process marked them first: the same outcome
