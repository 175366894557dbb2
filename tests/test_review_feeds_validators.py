"""Review: a feed's own ETag / Last-Modified must not break the cycle's state save.

The feeds table stores validators in VARCHAR(1024) / VARCHAR(256), but the fetcher keeps
whatever the server sent (h11 accepts header values up to ~100 KB). On PostgreSQL, one feed
answering with a 1,500-character ETag makes the cycle's single executemany UPDATE fail: the
cycle raises and *no* feed's state is saved (validators, last success, failure counts, next
poll time stay at the 15-minute lease), every cycle, for as long as that feed is watched.

Runs on SQLite (passes: VARCHAR lengths are not enforced there) and on PostgreSQL when
LEADERBOT_TEST_POSTGRES_URL is set (fails today).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.services.context import Context
from bot.store.models_feeds import Feed
from bot.watch import admin
from bot.watch.fetcher import FetchLimits
from bot.watch.watcher import WatchOptions, run_cycle
from tests.fakes.feed_server import FeedServer, Item, rss


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as fake:
        yield fake


@pytest.fixture
async def ctx(make_context, database_url: str) -> Context:
    return await make_context(database_url)


@pytest.mark.parametrize(
    "validators",
    [
        {"etag": '"' + "x" * 1500 + '"'},
        {"last_modified": "Tue, 28 Jan 2025 09:00:00 GMT" + " " + "y" * 400},
    ],
    ids=["long-etag", "long-last-modified"],
)
async def test_an_oversized_validator_does_not_stop_other_feeds_being_saved(
    ctx: Context, server: FeedServer, validators: dict[str, str]
) -> None:
    server.feed("/good", rss([Item(title="Good story", guid="g1")]), etag='"ok"')
    server.feed("/odd", rss([Item(title="Odd story", guid="o1")]), **validators)
    good = (await admin.add_feed(ctx, server.url("/good"), actor="test")).id
    odd = (await admin.add_feed(ctx, server.url("/odd"), actor="test")).id
    options = WatchOptions(
        exempt=(("127.0.0.1/32", server.port),),
        seed_catalogue=False,
        fetch=FetchLimits(deadline=5.0),
    )

    report = await run_cycle(ctx, options)  # must not raise

    assert sorted(o.status for o in report.outcomes) == ["primed", "primed"]
    async with ctx.db.read() as session:
        rows = {f.id: f for f in (await session.scalars(select(Feed))).all()}
    assert rows[good].etag == '"ok"' and rows[good].last_success_at is not None
    assert rows[odd].last_success_at is not None
    # Polled again at the feed's interval (60 min), not at the 15-minute lease.
    assert rows[good].next_poll_at is not None
    assert (rows[good].next_poll_at - ctx.clock()).total_seconds() >= 3600 - 1
