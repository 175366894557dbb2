"""Review: guid dedupe keys are scoped to `feeds.id`, and SQLite reuses a deleted row's id.

`item_keys(item, str(feed.id), …)` scopes a guid to its feed. Removing a feed that is not
from the catalogue deletes its row; on SQLite (no AUTOINCREMENT) the next feed added gets the
same id, so its guids collide with the removed feed's `g:` keys, which are still in
feed_item_keys. A new report in the new feed whose guid happens to equal an old item's guid
("3" here; the docstring of item_keys itself notes feeds number their items "1", "2"…) is
resolved to that *old* story; the old story's `alert:{channel}:{item}` outbox key already
exists, so the new report is silently never alerted.

Fails today on SQLite; PostgreSQL (a sequence, no reuse) passes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.domain.clock import ManualClock
from bot.services.context import Context
from bot.store.models import Post
from bot.watch import admin
from bot.watch.fetcher import FetchLimits
from bot.watch.watcher import WatchOptions, run_cycle
from tests.fakes.feed_server import FeedServer, Item, rss

WHEN = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as fake:
        yield fake


@pytest.fixture
async def ctx(make_context, database_url: str) -> Context:
    return await make_context(database_url)


async def cycle(ctx: Context, server: FeedServer) -> None:
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(days=2)
    await run_cycle(
        ctx,
        WatchOptions(
            exempt=(("127.0.0.1/32", server.port),),
            seed_catalogue=False,
            fetch=FetchLimits(deadline=5.0),
        ),
    )


async def alert_titles(ctx: Context) -> list[str]:
    async with ctx.db.read() as session:
        rows = (await session.scalars(select(Post).where(Post.kind == "alert"))).all()
    return sorted(str((r.payload or {}).get("title")) for r in rows)


async def test_a_new_feed_reusing_a_removed_feeds_id_still_alerts_its_reports(
    ctx: Context, server: FeedServer
) -> None:
    await admin.set_alerts(ctx, "C1", True, actor="test")

    # Feed A: primed empty, then a Socitm report with guid "3" alerts C1. Then A is removed.
    server.feed("/a", rss([]))
    a = await admin.add_feed(ctx, server.url("/a"), actor="test")
    await cycle(ctx, server)
    old = "Socitm publishes its annual digital trends report"
    server.feed(
        "/a", rss([Item(title=old, link="https://a.example/trends", guid="3", published=WHEN)])
    )
    await cycle(ctx, server)
    assert await alert_titles(ctx) == [old]
    await admin.remove_feed(ctx, a.id, actor="test")

    # Feed B, a different publisher, added afterwards.
    unrelated = Item(title="Unrelated", link="https://b.example/x", guid="1", published=WHEN)
    server.feed("/b", rss([unrelated]))
    await admin.add_feed(ctx, server.url("/b"), actor="test")
    await cycle(ctx, server)  # primes B: its backlog is not alerted
    new = "Socitm launches cyber security research briefing"
    server.feed(
        "/b",
        rss(
            [
                Item(
                    title=new,
                    link="https://b.example/cyber",
                    guid="3",
                    published=WHEN + timedelta(days=5),
                ),
                unrelated,
            ]
        ),
    )
    await cycle(ctx, server)

    assert await alert_titles(ctx) == sorted([old, new])
