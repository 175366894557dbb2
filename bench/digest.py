"""bench/digest: the weekly digests of 400 channels holding 20,000 replies between them.

    python -m bench.digest [--channels 400] [--replies 20000]

A child process seeds SQLite (in a temporary directory) through the models: per channel this
week's question and its share of the replies, plus the display-name cache. This process then
builds every channel's digest with `build_channel_digest` (reconciliation off: no Slack) and
reports the total wall time and its peak RSS; a second pass also renders each digest as Slack
messages, JSON and the PNG chart. Target: the 400 digests in < 1 s and < 200 MB.

`build_batched` below is a prototype, for measurement only, of what would meet the target:
the same reads as `build_channel_digest`, one query per table for all channels instead of
six per channel. The bench checks that it produces the same digests.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

WINDOW_DAYS = 7


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def channel_ids(count: int) -> list[str]:
    return [f"C{n:06d}" for n in range(count)]


# ----------------------------------------------------------------------------- seeding


async def seed(url: str, channels: int, replies: int, now: datetime) -> None:
    from sqlalchemy import insert

    from bot.store.db import Database
    from bot.store.models import Channel, ChatUser, Post, Reply

    db = Database(url)
    await db.upgrade()
    asked = now - timedelta(days=3)
    per_channel = replies // channels
    people = max(1, per_channel // 2)  # each person replies about twice
    channel_rows, post_rows, user_rows, reply_rows = [], [], [], []
    for c, cid in enumerate(channel_ids(channels)):
        thread_ts = f"{int(asked.timestamp())}.{c:06d}"
        channel_rows.append(
            {"id": cid, "platform": "slack", "name": f"leaders-{c}", "created_at": asked}
        )
        post_rows.append(
            {
                "id": c + 1,
                "key": f"question:bench:{cid}",
                "kind": "question",
                "channel_id": cid,
                "question_id": f"Q{c % 10 + 1}",
                "due_at": asked,
                "status": "sent",
                "attempts": 1,
                "ts": thread_ts,
                "permalink": f"https://example.slack.com/archives/{cid}/p{thread_ts}",
                "created_at": asked,
                "sent_at": asked,
            }
        )
        for p in range(people):
            user_rows.append(
                {
                    "id": f"U{c:04d}{p:04d}",
                    "display_name": f"Person {p} of team {c}",
                    "fetched_at": now,
                }
            )
        for r in range(per_channel):
            posted = asked + timedelta(minutes=r + 1)
            reply_rows.append(
                {
                    "post_id": c + 1,
                    "channel_id": cid,
                    "user_id": f"U{c:04d}{r % people:04d}",
                    "text": f"Reply {r} in {cid}: "
                    + "we would share platforms, stop duplicate reporting & fix data. " * 3,
                    "ts": f"{int(posted.timestamp())}.{r:06d}",
                    "thread_ts": thread_ts,
                    "edited": r % 7 == 0,
                    "posted_at": posted,
                    "updated_at": posted,
                }
            )
    async with db.write() as session:
        for model, rows in (
            (Channel, channel_rows),
            (Post, post_rows),
            (ChatUser, user_rows),
            (Reply, reply_rows),
        ):
            for start in range(0, len(rows), 5000):
                await session.execute(insert(model), rows[start : start + 5000])
    await db.dispose()


def seed_in_child(url: str, channels: int, replies: int, now: datetime) -> None:
    asyncio.run(seed(url, channels, replies, now))


# ----------------------------------------------------------------------------- the prototype


async def build_batched(ctx: Any, ids: list[str], window: Any) -> dict[str, Any]:
    """Every channel's digest from one query per table (reconciliation off). Mirrors the
    reads of `bot.services.digest.build_channel_digest`; not used by the bot."""
    from collections import defaultdict

    from sqlalchemy import select

    from bot.domain.digest import (
        WEEKS,
        ChannelRef,
        DigestReply,
        QuestionThread,
        build_digest,
        participation_by_week,
    )
    from bot.services.ask import ASKED_STATUSES
    from bot.services.digest import NAME_CACHE_TTL
    from bot.store.models import Channel, ChatUser, Post, Reply

    history_since = window.end - timedelta(weeks=WEEKS + 1)
    async with ctx.db.read() as session:
        posts = (
            await session.scalars(
                select(Post)
                .where(
                    Post.channel_id.in_(ids),
                    Post.kind == "question",
                    Post.status == "sent",
                    Post.sent_at >= window.start,
                    Post.sent_at < window.end,
                )
                .order_by(Post.sent_at)
            )
        ).all()
        channels = {
            c.id: c for c in (await session.scalars(select(Channel).where(Channel.id.in_(ids))))
        }
        replies = (
            await session.execute(
                select(
                    Reply.post_id,
                    Reply.user_id,
                    Reply.text,
                    Reply.ts,
                    Reply.edited,
                    Reply.posted_at,
                )
                .where(Reply.post_id.in_([p.id for p in posts]))
                .order_by(Reply.id)
            )
        ).all()
        history = (
            await session.execute(
                select(Reply.channel_id, Reply.user_id, Reply.posted_at).where(
                    Reply.channel_id.in_(ids), Reply.posted_at >= history_since
                )
            )
        ).all()
        asked = (
            await session.execute(
                select(Post.channel_id, Post.question_id).where(
                    Post.channel_id.in_(ids),
                    Post.kind == "question",
                    Post.status.in_(ASKED_STATUSES),
                    Post.question_id.is_not(None),
                )
            )
        ).all()
        fresh_after = ctx.clock() - NAME_CACHE_TTL
        names = {
            u.id: u.display_name
            for u in await session.scalars(
                select(ChatUser).where(
                    ChatUser.id.in_({r.user_id for r in replies}),
                    ChatUser.fetched_at >= fresh_after,
                )
            )
        }
    by_post: dict[int, list[DigestReply]] = defaultdict(list)
    for r in replies:
        name = names.get(r.user_id, r.user_id)
        by_post[r.post_id].append(DigestReply(r.user_id, name, r.text, r.ts, r.edited, r.posted_at))
    posts_by_channel: dict[str, list[Any]] = defaultdict(list)
    for post in posts:
        posts_by_channel[post.channel_id].append(post)
    history_by_channel: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for channel_id, user_id, posted_at in history:
        history_by_channel[channel_id].append((user_id, posted_at))
    asked_by_channel: dict[str, list[str]] = defaultdict(list)
    for channel_id, question_id in asked:
        asked_by_channel[channel_id].append(question_id)
    digests = {}
    for cid in ids:
        channel = channels.get(cid)
        threads = [
            QuestionThread(
                question=ctx.questions.get(p.question_id),
                posted_at=p.sent_at or p.due_at,
                permalink=p.permalink,
                replies=by_post[p.id],
            )
            for p in posts_by_channel[cid]
            if ctx.questions.get(p.question_id or "") is not None
        ]
        digests[cid] = build_digest(
            channel=ChannelRef(cid, channel.name if channel else None),
            window=window,
            threads=threads,
            member_count=await ctx.platform.member_count(cid),
            question_set=ctx.questions,
            asked_ids=asked_by_channel[cid],
            history=participation_by_week(history_by_channel[cid], window.tz),
        )
    return digests


# ----------------------------------------------------------------------------- building


async def build_all(url: str, channels: int, now: datetime, *, mode: str) -> float:
    """Build every channel's digest; `mode` is "build", "render" (also Slack blocks, JSON
    and the PNG chart) or "batched" (the prototype, checked against the service)."""
    from bot.app import load_features
    from bot.domain.digest import DigestWindow
    from bot.domain.digest_render import render as render_digest
    from bot.domain.questions import load_question_set
    from bot.platforms.console.platform import ConsolePlatform
    from bot.platforms.slack.digest_blocks import digest_messages
    from bot.services.context import Context
    from bot.services.digest import build_channel_digest, digest_post
    from bot.settings import BUNDLED_PROMPTS, Settings
    from bot.store.db import Database

    load_features()
    settings = Settings(_env_file=None, DATABASE_URL=url)  # type: ignore[call-arg]
    db = Database(url)
    ctx = Context(
        settings=settings,
        db=db,
        platform=ConsolePlatform(io.StringIO(), user="bench"),
        questions=load_question_set(BUNDLED_PROMPTS),
        clock=lambda: now,
    )
    window = DigestWindow(start=now - timedelta(days=WINDOW_DAYS), end=now)
    ids = channel_ids(channels)
    started = time.perf_counter()
    if mode == "batched":
        digests = await build_batched(ctx, ids, window)
        wall = time.perf_counter() - started
        for cid in ids[:: max(1, channels // 20)]:  # the same digests as the service's
            expected = await build_channel_digest(ctx, cid, window, reconcile=False)
            if render_digest(digests[cid], "markdown") != render_digest(expected, "markdown"):
                raise SystemExit(f"the prototype's digest of {cid} differs from the service's")
    else:
        digests = {}
        for cid in ids:
            digest = digests[cid] = await build_channel_digest(ctx, cid, window, reconcile=False)
            if mode == "render":
                digest_messages(digest)
                render_digest(digest, "json")
                digest_post(digest)  # draws the PNG chart
        wall = time.perf_counter() - started
    await db.dispose()
    replies = sum(d.reply_count for d in digests.values())
    print(f"  {replies} replies in {len(digests)} digests", end="")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.digest", description=__doc__)
    parser.add_argument("--channels", type=int, default=400)
    parser.add_argument("--replies", type=int, default=20_000)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        # Seeded in a child process, so this process's peak RSS is the digests' alone.
        child = multiprocessing.get_context("spawn").Process(
            target=seed_in_child, args=(url, args.channels, args.replies, now)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"seeding failed (exit {child.exitcode})")

        import bot.services.digest  # noqa: F401  # imports are not part of the figure

        base_rss = peak_rss_mb()
        print(f"{args.replies} replies over {args.channels} channels (SQLite, reconcile off)")
        build = asyncio.run(build_all(url, args.channels, now, mode="build"))
        print(f": built in {build:.3f} s (build_channel_digest per channel)")
        full = asyncio.run(build_all(url, args.channels, now, mode="render"))
        print(f": built and rendered (Slack blocks, JSON, PNG chart) in {full:.3f} s")
        batched = asyncio.run(build_all(url, args.channels, now, mode="batched"))
        print(f": built in {batched:.3f} s by the batched-reads prototype")
    rss = peak_rss_mb()
    print(f"peak RSS {rss:.0f} MB ({base_rss:.0f} MB after imports)")
    met = build < 1.0 and rss < 200
    print("target (400 digests < 1 s, < 200 MB):", "met" if met else "NOT met")


if __name__ == "__main__":
    main()
