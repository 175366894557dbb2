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
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from bot import metrics
from bot.domain.content import ThreadMessage
from bot.port import PlatformError, ReplyDeleted, ReplyEdited, ReplyPosted, ReplyRestored
from bot.services.context import Context
from bot.store.db import conflict_insert
from bot.store.models import ErasedUser, Post, ProcessedEvent, Reply, ReplyTombstone

log = logging.getLogger(__name__)

EVENT_MEMORY = timedelta(days=3)  # Slack retries within minutes; replays within hours
# Long past any retry or replay; and a thread read back from Slack no longer holds the message.
TOMBSTONE_MEMORY = timedelta(days=30)
IN_CHUNK = 500  # values per IN (...) list: well under SQLite's and PostgreSQL's limits
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key_chunks(keys: Collection[tuple[str, str]]) -> Iterable[tuple[list[str], list[str]]]:
    """(channel ids, message ids) to look (channel_id, message_id) keys up by, a chunk at a
    time: `channel_id IN (...) AND message_id IN (...)` is answered from the unique index on
    (channel_id, message_id), where `message_id IN (...)` alone would scan the table. The
    rows found are a superset (any channel with any message id): callers keep the exact keys.
    """
    ordered = sorted(keys, key=lambda key: (key[1], key[0]))
    for chunk in chunks(ordered, IN_CHUNK // 2):  # two lists: stay at IN_CHUNK parameters
        yield sorted({c for c, _ in chunk}), sorted({m for _, m in chunk})


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
    for channels, messages in key_chunks(keys):
        rows = await session.execute(
            select(ReplyTombstone.channel_id, ReplyTombstone.message_id).where(
                ReplyTombstone.channel_id.in_(channels), ReplyTombstone.message_id.in_(messages)
            )
        )
        found.update((c, ts) for c, ts in rows.all() if (c, ts) in keys)
    return found


async def add_tombstones(
    session: AsyncSession, keys: Iterable[tuple[str, str]], deleted_at: datetime
) -> None:
    """Remember deleted messages; a tombstone already there is kept as it is (no conflict,
    even when another process is recording the same deletion)."""
    rows = [
        {"channel_id": c, "message_id": ts, "deleted_at": deleted_at}
        for c, ts in dict.fromkeys(keys)
    ]
    if not rows:
        return
    for start in range(0, len(rows), IN_CHUNK):
        statement = conflict_insert(session, ReplyTombstone.__table__).values(
            rows[start : start + IN_CHUNK]
        )
        await session.execute(statement.on_conflict_do_nothing())


ReplyChange = ReplyPosted | ReplyEdited | ReplyRestored | ReplyDeleted
"""What an adapter reports about a message in a thread: the one input of `apply_changes`."""


async def _stored_replies(
    session: AsyncSession, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Reply]:
    found: dict[tuple[str, str], Reply] = {}
    for channels, messages in key_chunks(keys):
        query = select(Reply).where(Reply.channel_id.in_(channels), Reply.message_id.in_(messages))
        for reply in (await session.scalars(query)).all():
            if (reply.channel_id, reply.message_id) in keys:
                found[(reply.channel_id, reply.message_id)] = reply
    return found


@dataclass
class _Known:
    """What the database already holds about a batch's changes."""

    seen: set[str]  # event ids already processed
    posts: dict[tuple[str, str], int]  # (channel, thread) of a sent question -> its post id
    replies: set[tuple[str, str]]  # (channel, message) of stored replies
    tombstoned: set[tuple[str, str]]
    erased: set[str]


_NO_TEXT = cast(null(), String(128))
_NO_ID = cast(null(), Integer)


def _look_up_statement(*, arrays: bool) -> Any:
    """Every look-up a batch needs, as one statement built once: a batch costs no statement
    construction or cache-key work, only binding (that was about half of a batch's CPU).

    The lists are PostgreSQL arrays (`= ANY(:ids)`) with `arrays`: the SQL is then the same
    for every batch, so the server prepares and plans it once per connection; IN lists of
    varying length made each batch a new statement to prepare, and pushed the inserts out of
    the driver's statement cache. SQLite has no arrays: expanding IN lists there. An empty
    list matches nothing."""

    def among(column: Any, name: str) -> Any:
        if arrays:
            return column == any_(bindparam(name, type_=ARRAY(String)))
        return column.in_(bindparam(name, expanding=True))

    return union_all(
        select(literal("r"), Reply.channel_id, Reply.message_id, _NO_ID).where(
            among(Reply.channel_id, "channels"), among(Reply.message_id, "messages")
        ),
        select(literal("t"), ReplyTombstone.channel_id, ReplyTombstone.message_id, _NO_ID).where(
            among(ReplyTombstone.channel_id, "channels"),
            among(ReplyTombstone.message_id, "messages"),
        ),
        select(literal("e"), ProcessedEvent.event_id, _NO_TEXT, _NO_ID).where(
            among(ProcessedEvent.event_id, "events")
        ),
        select(literal("p"), Post.channel_id, Post.message_id, Post.id).where(
            among(Post.channel_id, "thread_channels"),
            among(Post.message_id, "thread_messages"),
            Post.kind == "question",
            Post.status == "sent",
        ),
        select(literal("u"), ErasedUser.user_id, _NO_TEXT, _NO_ID).where(
            among(ErasedUser.user_id, "users")
        ),
    )


_LOOK_UP = {arrays: _look_up_statement(arrays=arrays) for arrays in (False, True)}


async def _look_up(session: AsyncSession, changes: Sequence[ReplyChange]) -> _Known:
    """Every look-up a batch needs (seen event ids, question posts by thread, stored replies,
    tombstones, erased users) in one statement per IN_CHUNK // 2 changes: one round trip
    instead of five. Each branch is answered from an index (the test
    test_hot_queries_use_indexes checks the plans)."""
    known = _Known(set(), {}, set(), set(), set())
    for part in chunks(changes, IN_CHUNK // 2):
        replies = [c for c in part if not isinstance(c, ReplyDeleted)]
        threads = {(c.channel_id, c.thread_id) for c in replies}
        keys = {(c.channel_id, c.message_id) for c in part}
        channels, messages = _split(keys)
        thread_channels, thread_messages = _split(threads)
        parameters = {
            "channels": channels,
            "messages": messages,
            "events": sorted({c.event_id for c in part if c.event_id}),
            "thread_channels": thread_channels,
            "thread_messages": thread_messages,
            "users": sorted({c.user_id for c in replies}),
        }
        statement = _LOOK_UP[session.bind.dialect.name == "postgresql"]
        for kind, a, b, post_id in (await session.execute(statement, parameters)).all():
            if kind == "e":
                known.seen.add(a)
            elif kind == "u":
                known.erased.add(a)
            elif kind == "p" and (a, b) in threads:
                known.posts[(a, b)] = post_id
            elif kind == "r" and (a, b) in keys:
                known.replies.add((a, b))
            elif kind == "t" and (a, b) in keys:
                known.tombstoned.add((a, b))
    return known


def _split(keys: Collection[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return sorted({c for c, _ in keys}), sorted({m for _, m in keys})


def _older_edit(
    edited: bool, edited_at: datetime | None, change: ReplyPosted | ReplyEdited
) -> bool:
    """Whether `change` is older than what is stored (`edited`, `edited_at`): the original
    after its edit, or an edit the platform says was made before the one stored."""
    if not isinstance(change, ReplyEdited):
        return edited
    return change.edited_at is not None and edited_at is not None and change.edited_at < edited_at


async def apply_changes(ctx: Context, session: AsyncSession, changes: Sequence[ReplyChange]) -> int:
    """Apply changes in order, in the caller's transaction; returns how many were taken (a
    deletion of a stored reply, or a reply in one of our threads, new or already there). The
    one place replies are recorded, whichever adapter they come from.

    Dropped: a retried or replayed event (its event id was seen), a message in a thread that is
    not one of our questions, a deleted message (tombstoned, before or earlier in this batch),
    a message by an erased user, and an edit older than the one stored.
    """
    now = ctx.clock()
    known = await _look_up(session, changes)
    seen = known.seen
    fresh: list[ReplyChange] = []
    events: list[dict[str, Any]] = []  # processed_events rows to insert
    for change in changes:
        if change.event_id:
            if change.event_id in seen:
                continue  # a retry or a replay
            seen.add(change.event_id)
            events.append({"event_id": change.event_id, "received_at": now})
        fresh.append(change)
    if not fresh:
        return 0
    posts = known.posts
    # Stored rows (loaded: an edit or a deletion changes them through the session), and rows
    # new in this batch (plain column values, not ORM objects, which cost about a third of a
    # batch's CPU: inserted at the end, in one executemany).
    rows: dict[tuple[str, str], Reply | None] = (
        dict(await _stored_replies(session, known.replies)) if known.replies else {}
    )
    new: dict[tuple[str, str], dict[str, Any]] = {}
    tombstoned = known.tombstoned
    erased = known.erased
    deleted: list[tuple[str, str]] = []
    lifted: set[tuple[str, str]] = set()
    taken = 0
    for change in fresh:
        key = (change.channel_id, change.message_id)
        if isinstance(change, ReplyRestored) and key in tombstoned:
            tombstoned.discard(key)  # its deletion is undone: store it again
            lifted.add(key)
        if isinstance(change, ReplyDeleted):
            stored = rows.get(key)
            if new.pop(key, None) is not None:
                taken += 1
            elif stored is not None:
                await session.delete(stored)
                rows[key] = None
                taken += 1
            if key not in tombstoned:
                tombstoned.add(key)
                deleted.append(key)
            continue
        post_id = posts.get((change.channel_id, change.thread_id))
        if post_id is None:
            continue  # a thread that is not one of our questions
        if key in tombstoned or change.user_id in erased:
            continue  # deleted before this copy arrived, or its author was erased
        taken += 1
        edited = isinstance(change, ReplyEdited)
        edited_at = change.edited_at if isinstance(change, ReplyEdited) else None
        pending = new.get(key)
        row = rows.get(key)
        if pending is not None:
            if _older_edit(pending["edited"], pending["edited_at"], change):
                continue  # a late copy: keep the newer text
            if pending["text"] != change.text or edited:
                pending["text"] = change.text
                pending["edited"] = pending["edited"] or edited
                pending["edited_at"] = edited_at or pending["edited_at"]
        elif row is None:
            new[key] = {
                "post_id": post_id,
                "channel_id": change.channel_id,
                "workspace_id": change.workspace_id,
                "user_id": change.user_id,
                "text": change.text,
                "message_id": change.message_id,
                "thread_id": change.thread_id,
                "edited": edited,
                "edited_at": edited_at,
                "posted_at": change.posted_at,
                "updated_at": now,
            }
        elif _older_edit(row.edited, row.edited_at, change):
            continue  # a late copy: keep the newer text
        elif row.text != change.text or edited:
            row.text = change.text
            row.edited = row.edited or edited
            row.edited_at = edited_at or row.edited_at
            row.updated_at = now
    # Deletions and edits of stored rows first: a reply deleted then restored in this batch
    # is deleted before it is inserted again.
    await session.flush()
    await _insert_rows(
        session, (ProcessedEvent.__table__, events), (Reply.__table__, list(new.values()))
    )
    await add_tombstones(session, deleted, now)
    await _lift_tombstones(session, lifted - set(deleted))
    return taken


def _unnest_insert(table: Table, names: tuple[str, ...]) -> Any:
    """INSERT INTO table (names) SELECT unnest(:name1), unnest(:name2)...: a batch's rows as
    one array per column, so PostgreSQL runs one statement, prepared once, not one per row
    (an executemany): about a third less of the server's CPU for a batch of replies. The
    tables given together must not share a column name (their parameters are one dict)."""
    columns = [table.columns[name] for name in names]
    arrays = [func.unnest(bindparam(c.name, type_=ARRAY(c.type))) for c in columns]
    return insert(table).from_select(list(names), select(*arrays))


_UNNEST_INSERTS: dict[tuple[tuple[str, tuple[str, ...]], ...], Any] = {}


async def _insert_rows(session: AsyncSession, *tables: tuple[Table, list[dict[str, Any]]]) -> None:
    """New rows for each table (all of a table's rows with the same columns): an executemany
    per table on SQLite; on PostgreSQL one INSERT … SELECT unnest(…) per table, all in one
    statement (the first tables' as CTEs of the last's): one round trip for the batch."""
    given = [(table, rows) for table, rows in tables if rows]
    if not given:
        return
    if session.bind.dialect.name != "postgresql":
        for table, rows in given:
            await session.execute(insert(table), rows)
        return
    key = tuple((table.name, tuple(rows[0])) for table, rows in given)
    statement = _UNNEST_INSERTS.get(key)
    if statement is None:
        inserts = [
            _unnest_insert(table, names) for (table, _), (_, names) in zip(given, key, strict=True)
        ]
        *first, last = inserts
        for n, earlier in enumerate(first):
            last = last.add_cte(earlier.cte(f"insert_{n}"))
        statement = _UNNEST_INSERTS[key] = last
    parameters: dict[str, list[Any]] = {}
    for (_, rows), (_, names) in zip(given, key, strict=True):
        parameters |= {name: [row[name] for row in rows] for name in names}
    await session.execute(statement, parameters)


async def _lift_tombstones(session: AsyncSession, keys: set[tuple[str, str]]) -> None:
    for channel_id, message_id in keys:
        await session.execute(
            delete(ReplyTombstone).where(
                ReplyTombstone.channel_id == channel_id, ReplyTombstone.message_id == message_id
            )
        )


async def record(ctx: Context, change: ReplyChange) -> bool:
    """Apply one change in a transaction of its own; False if it was dropped (not one of our
    threads, a retried event, deleted or erased, or raced in by another writer)."""
    try:
        async with ctx.db.write() as session:
            return await apply_changes(ctx, session, [change]) > 0
    except IntegrityError:
        return False  # the same message raced in twice; the first one stored it


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
    if post.message_id is None:
        return result
    async with ctx.db.read() as session:
        held = {
            r.message_id: _version(r)
            for r in (await session.scalars(select(Reply).where(Reply.post_id == post.id))).all()
        }
    try:
        messages = [
            m
            for m in await ctx.platform_for(post.channel_id).fetch_thread(
                post.channel_id, post.message_id
            )
            if _is_reply(m)
        ]
    except PlatformError as exc:
        # Keep what we have rather than wipe a thread we could not read.
        log.warning("could not read thread %s in %s: %s", post.message_id, post.channel_id, exc)
        result.error = str(exc)
        return result
    live = {m.message_id: m for m in messages}
    async with ctx.db.write() as session:
        if await session.get(Post, post.id) is None:
            return result  # purged while we read (the workspace uninstalled the app)
        stored = {
            r.message_id: r
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
                    conflict_insert(session, Reply.__table__)
                    .values(
                        post_id=post.id,
                        channel_id=post.channel_id,
                        user_id=message.user_id or "",
                        text=message.text,
                        message_id=ts,
                        thread_id=post.message_id,
                        edited=message.edited,
                        posted_at=message.posted_at,
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
            await session.execute(
                delete(Reply).where(Reply.post_id == post.id, Reply.message_id.in_(gone))
            )
            # An event for a message gone from the thread (a replay, a lost deletion's
            # original) must not bring it back; an erased user's stay out by erased_users.
            await add_tombstones(
                session,
                [(post.channel_id, ts) for ts in gone if stored[ts].user_id not in erased],
                ctx.clock(),
            )
            result.removed = len(gone)
    metrics.RECONCILED.labels("added").inc(result.added)
    metrics.RECONCILED.labels("updated").inc(result.updated)
    metrics.RECONCILED.labels("removed").inc(result.removed)
    if result.added or result.updated or result.removed:
        log.info(
            "reconciled %s/%s: +%d ~%d -%d",
            post.channel_id,
            post.message_id,
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
