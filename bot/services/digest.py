"""The weekly digest: read the window's questions and replies, build, post exactly once."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics
from bot.domain.chart import chart_alt_text, participation_chart
from bot.domain.content import DigestPost
from bot.domain.digest import (
    WEEKS,
    ChannelRef,
    Digest,
    DigestReply,
    DigestWindow,
    QuestionThread,
    WeekParticipation,
    build_digest,
    week_start,
)
from bot.domain.language import DEFAULT_LANGUAGE, Language, translator
from bot.domain.schedule import Occurrence
from bot.domain.themes import Theme, ThemeReply, ThemeRules, find_themes_batch
from bot.port import PlatformError
from bot.services import channels, outbox, planning
from bot.services.ask import ASKED_STATUSES
from bot.services.collect import reconcile_thread
from bot.services.context import Context
from bot.store.models import Channel, ChatUser, Post, Reply, Schedule

log = logging.getLogger(__name__)

NAME_CACHE_TTL = timedelta(days=1)


async def display_names(ctx: Context, authors: dict[str, str]) -> dict[str, str]:
    """Display names of `authors` (user id -> a channel they wrote in) from the cache, else
    the channel's platform; a failed lookup falls back to the id."""
    async with ctx.db.read() as session:
        cached = await _cached_names(session, ChatUser.id.in_(list(authors)))
    return await _complete_names(ctx, authors, cached)


async def _cached_names(
    session: AsyncSession, which: ColumnElement[bool]
) -> list[tuple[str, str, datetime]]:
    """(id, display name, fetched at) of the cached users matching `which`."""
    query = select(ChatUser.id, ChatUser.display_name, ChatUser.fetched_at).where(which)
    return [(uid, name, at) for uid, name, at in await _rows(session, query)]


async def _rows(session: AsyncSession, query: Select[Any]) -> Sequence[Row[Any]]:
    """The rows of a select of columns through Core: the session's connection and
    transaction, without the ORM's result layer (plain columns need none of it); fetched in
    one call, not row by row."""
    return (await (await session.connection()).execute(query)).all()


async def _complete_names(
    ctx: Context, authors: dict[str, str], cached: Iterable[tuple[str, str, datetime]]
) -> dict[str, str]:
    """Fresh cached names, then users.info for the rest (cached in turn); the id on failure."""
    fresh_after = ctx.clock() - NAME_CACHE_TTL
    names = {uid: name for uid, name, at in cached if uid in authors and at >= fresh_after}
    for user_id in sorted(authors.keys() - names.keys()):
        try:
            info = await ctx.platform_for(authors[user_id]).user_info(user_id)
        except PlatformError as exc:
            log.warning("users.info failed for %s (%s): showing the id", user_id, exc)
            names[user_id] = user_id
            continue
        names[user_id] = info.display_name or user_id
        async with ctx.db.write() as session:
            await session.merge(
                ChatUser(
                    id=user_id,
                    workspace_id=info.workspace_id,
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


async def _window_questions(
    session: AsyncSession, channel_ids: list[str], window: DigestWindow
) -> list[Post]:
    """The question posts sent in `window` in these channels, oldest first."""
    query = (
        select(Post)
        .where(
            Post.channel_id.in_(channel_ids),
            Post.kind == "question",
            Post.status == "sent",
            Post.sent_at >= window.start,
            Post.sent_at < window.end,
        )
        .order_by(Post.sent_at, Post.id)
    )
    return list((await session.scalars(query)).all())


_ReplyRow = tuple[str, str, str, bool, datetime]
"""user_id, text, ts, edited, posted_at: the fields of a `DigestReply` but its name."""

NAME_CHUNK = 5000
"""Display names are read this many ids at a time (SQLite binds at most 32,766 values)."""


@dataclass
class _Reads:
    """Everything a set of digests needs from the database, grouped by channel or post."""

    channel_names: dict[str, str | None] = field(default_factory=dict)
    replies: dict[int, list[_ReplyRow]] = field(default_factory=lambda: defaultdict(list))
    week_users: dict[str, dict[date, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    """Participation by channel and local ISO week (its Monday): who replied..."""
    week_replies: dict[str, dict[date, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    """... and how many replies."""
    asked: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    cached_names: list[tuple[str, str, datetime]] = field(default_factory=list)

    def history(self, channel_id: str) -> list[WeekParticipation]:
        """The channel's participation per week, as `participation_by_week` gives it."""
        users, counts = self.week_users.get(channel_id, {}), self.week_replies.get(channel_id, {})
        return [WeekParticipation(week, len(users[week]), counts[week]) for week in sorted(counts)]


def _series_weeks(window: DigestWindow) -> list[date]:
    """The Mondays of the `WEEKS` weeks of the digest's participation series, oldest first
    (as `build_digest` picks them: the last is the week of the window's last instant)."""
    last = week_start(window.end - timedelta(microseconds=1), window.tz)
    return [last - timedelta(weeks=offset) for offset in range(WEEKS - 1, -1, -1)]


async def _read_inputs(
    session: AsyncSession,
    channel_ids: list[str],
    posts: list[Post],
    window: DigestWindow,
    *,
    known: Collection[str] = (),
) -> _Reads:
    """One query per table, for every channel at once (each id is one bound parameter).

    The window's replies are read once: their rows make the threads and count in the
    participation history; replies to other posts count there through one aggregate query
    (distinct users and replies per channel, week and user), not row by row. Cached display
    names are read for the authors not in `known`.
    """
    reads = _Reads()
    post_ids = [p.id for p in posts]
    wanted = set(channel_ids)
    reads.channel_names = {
        cid: name
        for cid, name in await _rows(
            session, select(Channel.id, Channel.name).where(Channel.id.in_(channel_ids))
        )
    }
    history_since = window.end - timedelta(weeks=WEEKS + 1)
    tz = window.tz
    week_users, week_replies = reads.week_users, reads.week_replies
    if post_ids:
        thread_replies = select(
            Reply.post_id,
            Reply.channel_id,
            Reply.user_id,
            Reply.text,
            Reply.message_id,
            Reply.edited,
            Reply.posted_at,
        ).where(Reply.post_id.in_(post_ids))
        rows = await _rows(session, thread_replies.order_by(Reply.id))
        # Each author's id as one string, shared by all their replies (and digests).
        authors: dict[str, str] = {}
        weeks: dict[date, date] = {}  # local date -> its Monday
        for post_id, cid, user_id, text, ts, edited, posted_at in rows:
            user_id = authors.setdefault(user_id, user_id)
            reads.replies[post_id].append((user_id, text, ts, edited, posted_at))
            if cid in wanted and posted_at >= history_since:
                day = posted_at.astimezone(tz).date()
                week = weeks.get(day)
                if week is None:
                    week = weeks[day] = week_start(day)
                week_users[cid][week].add(user_id)
                week_replies[cid][week] += 1
        ids = sorted(authors.keys() - known)
        for start in range(0, len(ids), NAME_CHUNK):
            reads.cached_names += await _cached_names(
                session, ChatUser.id.in_(ids[start : start + NAME_CHUNK])
            )
    # The other replies of the series' weeks: (channel, week, user, replies) from SQL. A week
    # starts at Monday 00:00 local time, as in `participation_by_week`.
    mondays = _series_weeks(window)
    bounds = [datetime.combine(m, time(), tzinfo=tz) for m in mondays]
    bounds.append(datetime.combine(mondays[-1] + timedelta(weeks=1), time(), tzinfo=tz))
    week_index = case(
        *((Reply.posted_at < bound, n) for n, bound in enumerate(bounds[1:])), else_=-1
    )
    others = select(
        Reply.channel_id.label("cid"), Reply.user_id.label("uid"), week_index.label("week")
    ).where(
        Reply.channel_id.in_(channel_ids),
        Reply.posted_at >= history_since,
        Reply.posted_at >= bounds[0],
        Reply.posted_at < bounds[-1],
    )
    if post_ids:
        others = others.where(Reply.post_id.not_in(post_ids))
    sub = others.subquery()
    for cid, n, user_id, count in await _rows(
        session,
        select(sub.c.cid, sub.c.week, sub.c.uid, func.count()).group_by(
            sub.c.cid, sub.c.week, sub.c.uid
        ),
    ):
        week = mondays[n]
        week_users[cid][week].add(user_id)
        week_replies[cid][week] += count
    # `asked_history` for every channel at once.
    for cid, qid in await _rows(
        session,
        select(Post.channel_id, Post.question_id).where(
            Post.channel_id.in_(channel_ids),
            Post.kind == "question",
            Post.status.in_(ASKED_STATUSES),
            Post.question_id.is_not(None),
        ),
    ):
        if qid:
            reads.asked[cid].append(qid)
    return reads


async def build_channel_digests(
    ctx: Context, channel_ids: Iterable[str], window: DigestWindow, *, reconcile: bool = True
) -> dict[str, Digest]:
    """The digests of these channels' questions posted in `window`, by channel id.

    With `reconcile`, each question thread is first reconciled with the platform (one thread
    at a time); a thread that cannot be read counts in the digest's `unread_threads` (it
    says it may be incomplete). Then, per batch of `BATCH_CHANNELS` channels, one read
    session, one query per table for all the batch's channels: posts, channels, replies,
    participation history, questions asked, cached display names. Names not cached come from
    users.info (the id if that fails; each user once per call); member counts from the
    platform. A batch's rows are dropped once its digests are built.
    """
    with metrics.DIGEST_BUILD.time():
        return await _build_channel_digests(ctx, channel_ids, window, reconcile=reconcile)


BATCH_CHANNELS = 50
"""Channels whose digests are built together (one set of reads, one pass for the themes):
only one batch's reply rows, threads and themes' inputs are held at a time (and the next
batch's rows, read meanwhile), beside the finished digests, however many channels are asked
for."""


async def _build_channel_digests(
    ctx: Context, channel_ids: Iterable[str], window: DigestWindow, *, reconcile: bool
) -> dict[str, Digest]:
    ids = list(dict.fromkeys(channel_ids))
    batches = [ids[start : start + BATCH_CHANNELS] for start in range(0, len(ids), BATCH_CHANNELS)]
    digests: dict[str, Digest] = {}
    names: dict[str, str] = {}  # display names found so far: each user is looked up once

    def read(batch: list[str]) -> asyncio.Task[_BatchReads]:
        return asyncio.create_task(
            _read_batch(ctx, batch, window, known=set(names), reconcile=reconcile)
        )

    # The next batch is read (on the database's thread) while this one is built (on this
    # one): about a third off the time of many channels' digests.
    upcoming = read(batches[0]) if batches else None
    try:
        for n, batch in enumerate(batches):
            assert upcoming is not None
            done = await upcoming
            upcoming = read(batches[n + 1]) if n + 1 < len(batches) else None
            digests |= await _build_batch(ctx, batch, window, names, done)
    finally:
        if upcoming is not None:
            upcoming.cancel()
            await asyncio.gather(upcoming, return_exceptions=True)
    return digests


@dataclass
class _BatchReads:
    """What the database holds for a batch of channels' digests."""

    posts: list[Post]
    reads: _Reads
    unread: dict[str, int]  # threads not read back from the platform, by channel


async def _read_batch(
    ctx: Context,
    ids: list[str],
    window: DigestWindow,
    *,
    known: Collection[str],
    reconcile: bool,
) -> _BatchReads:
    """The batch's questions (each thread reconciled with the platform first, if asked) and
    their replies, history and cached names (of authors not in `known`)."""
    posts: list[Post] | None = None
    unread: dict[str, int] = defaultdict(int)
    if reconcile:
        async with ctx.db.read() as session:
            posts = await _window_questions(session, ids, window)
        for post in posts:
            if (await reconcile_thread(ctx, post)).error is not None:
                unread[post.channel_id] += 1
    async with ctx.db.read() as session:
        if posts is None:
            posts = await _window_questions(session, ids, window)
        reads = await _read_inputs(session, ids, posts, window, known=known)
    return _BatchReads(posts, reads, unread)


async def _build_batch(
    ctx: Context,
    ids: list[str],
    window: DigestWindow,
    names: dict[str, str],
    done: _BatchReads,
) -> dict[str, Digest]:
    """The digests of a batch of channels from what was read; `names` (user id -> display
    name) is completed with the batch's authors."""
    posts, reads, unread = done.posts, done.reads, done.unread
    channel_of = {post.id: post.channel_id for post in posts}
    authors = {
        row[0]: channel_of[post_id]
        for post_id, rows in reads.replies.items()
        for row in rows
        if row[0] not in names
    }
    names |= await _complete_names(ctx, authors, reads.cached_names)

    threads: dict[str, list[QuestionThread]] = {cid: [] for cid in ids}
    thread_posts: dict[str, list[Post]] = {cid: [] for cid in ids}
    for post in posts:
        question = ctx.questions.get(post.question_id or "")
        # The rows are dropped as they become `DigestReply`s: one copy of a thread at a time.
        rows = reads.replies.pop(post.id, ())
        if question is None:
            log.warning("post %s asked %s, not in the question set", post.key, post.question_id)
            continue
        replies = [
            DigestReply(user_id, names.get(user_id, user_id), text, ts, edited, posted_at)
            for user_id, text, ts, edited, posted_at in rows
        ]
        del rows
        threads[post.channel_id].append(
            QuestionThread(
                question=question,
                posted_at=post.sent_at or post.due_at,
                link=post.link,
                replies=replies,
            )
        )
        thread_posts[post.channel_id].append(post)
    await _add_themes(ctx, threads, thread_posts)

    digests: dict[str, Digest] = {}
    for cid in ids:
        try:
            members = await ctx.platform_for(cid).member_count(cid)
        except PlatformError as exc:
            log.warning("member count for %s unavailable: %s", cid, exc)
            members = None
        digests[cid] = build_digest(
            channel=ChannelRef(cid, reads.channel_names.get(cid)),
            window=window,
            threads=threads.pop(cid),
            member_count=members,
            question_set=ctx.questions,
            asked_ids=reads.asked.get(cid, ()),
            history=reads.history(cid),
            unread_threads=unread.get(cid, 0),
        )
        if unread.get(cid):
            log.warning(
                "digest of %s may be incomplete: %d threads could not be read", cid, unread[cid]
            )
    return digests


def theme_rules(ctx: Context) -> ThemeRules:
    settings = ctx.settings
    return ThemeRules(
        enabled=settings.themes,
        min_replies=settings.themes_min_replies,
        min_repliers=settings.themes_min_repliers,
    )


async def _add_themes(
    ctx: Context, threads: dict[str, list[QuestionThread]], posts: dict[str, list[Post]]
) -> None:
    """Each thread's themes, found for all threads in one pass off the event loop (numpy's
    import and the arithmetic take a moment), then their quotes' links from the platform."""
    rules = theme_rules(ctx)
    if not rules.enabled:
        return
    where = [(cid, n) for cid, items in threads.items() for n in range(len(items))]
    inputs = [
        [ThemeReply(r.text, r.user_id, r.message_id) for r in threads[cid][n].replies]
        for cid, n in where
    ]
    # No per-channel language yet: each reply's language is decided from its words.
    questions = [threads[cid][n].question.text for cid, n in where]
    try:
        found = await asyncio.to_thread(find_themes_batch, inputs, rules, None, questions)
    except Exception as exc:  # a summary must never cost leaders the digest itself
        log.error(
            "themes not found (%s: %s): the digest goes without them", type(exc).__name__, exc
        )
        return
    for (cid, n), themes in zip(where, found, strict=True):
        if themes:
            linked = tuple([await _linked(ctx, cid, posts[cid][n], theme) for theme in themes])
            threads[cid][n] = dataclasses.replace(threads[cid][n], themes=linked)


async def _linked(ctx: Context, channel_id: str, post: Post, theme: Theme) -> Theme:
    try:
        link = await ctx.platform_for(channel_id).message_link(
            channel_id, theme.message_id, thread_id=post.message_id
        )
    except PlatformError as exc:
        log.warning("no link for a quoted reply in %s: %s", channel_id, exc)
        link = None
    return dataclasses.replace(theme, link=link)


async def build_channel_digest(
    ctx: Context, channel_id: str, window: DigestWindow, *, reconcile: bool = True
) -> Digest:
    """The digest of one channel's questions posted in `window` (replies reconciled first)."""
    digests = await build_channel_digests(ctx, [channel_id], window, reconcile=reconcile)
    return digests[channel_id]


def window_ending(end: datetime, tz_name: str, days: int = 7) -> DigestWindow:
    """The `days` before `end`, same wall-clock time (so DST weeks still meet exactly)."""
    zone = ZoneInfo(tz_name)
    local_end = end.astimezone(zone)
    start = (local_end.replace(tzinfo=None) - timedelta(days=days)).replace(tzinfo=zone)
    return DigestWindow(start=start, end=local_end)


def digest_post(digest: Digest, language: Language = DEFAULT_LANGUAGE) -> DigestPost:
    t = translator(language)
    return DigestPost(
        digest=digest,
        chart_png=participation_chart(digest.participation, t=t),
        chart_alt=chart_alt_text(digest.participation, t),
        language=language,
    )


def payload_window(payload: dict[str, Any], default_zone: str) -> DigestWindow:
    """The window a digest row's payload records, in its own time zone (a named zone, so a
    posted digest says GMT/BST like the CLI, not the fixed offset an ISO string keeps)."""
    zone = ZoneInfo(payload.get("timezone") or default_zone)
    return DigestWindow(
        start=datetime.fromisoformat(payload["from"]).astimezone(zone),
        end=datetime.fromisoformat(payload["to"]).astimezone(zone),
    )


INCOMPLETE_RETRIES = 3
"""Times a scheduled digest whose threads could not all be read is handed back to the outbox
before it is sent anyway, with the note that it may be incomplete."""


def incomplete_retry_s(ctx: Context) -> float:
    """How long to wait before building an incomplete digest again: a fraction of the grace
    window, so every retry (and the final send) still falls inside it."""
    grace_s = ctx.settings.grace_hours * 3600
    return max(5.0, min(600.0, grace_s / (3 * (INCOMPLETE_RETRIES + 1))))


async def digest_content(row: Post, ctx: Context) -> DigestPost:
    payload = row.payload or {}
    window = payload_window(payload, ctx.settings.timezone)
    digest = await build_channel_digest(ctx, payload["source_channel"], window)
    if not digest.complete and _may_retry(ctx, row):
        # The outbox hands the row back and builds it again later (reconciling again).
        raise outbox.NotReady(
            f"{digest.unread_threads} threads could not be read; the digest waits to retry",
            retry_after=incomplete_retry_s(ctx),
        )
    # The chart is drawn here, so it is drawn in the language of the channel it goes to.
    return digest_post(digest, await channels.language_of(ctx, row.channel_id))


def _may_retry(ctx: Context, row: Post) -> bool:
    """A scheduled digest may wait for its threads to be readable while its grace window
    leaves room for another try and the final send; one asked for now is sent at once."""
    if row.key.startswith(NOW_KEY_PREFIX) or row.attempts >= INCOMPLETE_RETRIES:
        return False
    wait = timedelta(seconds=incomplete_retry_s(ctx))
    last = outbox.deadline(ctx, row)  # a digest is timely: it has one
    return last is not None and ctx.clock() + 2 * wait < last


async def plan_digests(ctx: Context) -> list[str]:
    """Record every due weekly digest (see `planning.plan`); returns the new keys."""

    async def details(schedule: Schedule, occ: Occurrence) -> dict[str, object]:
        # The week ends at the nominal time even when a bank holiday moved the post: each
        # question then falls in exactly one digest.
        window = window_ending(occ.nominal_at or occ.due_at, schedule.timezone)
        return {
            "payload": {
                "source_channel": schedule.channel_id,
                "from": window.start.isoformat(),
                "to": window.end.isoformat(),
                "timezone": schedule.timezone,
            }
        }

    return await planning.plan(ctx, "digest", details)


NOW_KEY_PREFIX = "digest-now:"


def _zone_name(window: DigestWindow) -> str | None:
    """The IANA name of the window's zone, if it has one (a ZoneInfo does)."""
    key = getattr(window.tz, "key", None)
    return key if isinstance(key, str) else None


async def post_digest_now(ctx: Context, channel_id: str, window: DigestWindow, target: str | None):
    """`digest --post` and `/leadership digest now`: record, then deliver, exactly once."""
    row = await outbox.enqueue(
        ctx,
        key=f"{NOW_KEY_PREFIX}{channel_id}:{uuid.uuid4().hex}",
        kind="digest",
        channel_id=target or channel_id,
        due_at=ctx.clock(),
        payload={
            "source_channel": channel_id,
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
            "timezone": _zone_name(window),
        },
    )
    assert row is not None
    report = await outbox.deliver_due(ctx, only_keys=[row.key])
    return row, report
