"""The watcher end to end: fake feed server -> run_cycle -> outbox rows (-> fake Slack).

Acceptance (issue 5): a Socitm report item alerts each subscribed channel once; an unrelated
item does not; a restart does not re-alert; a new feed's backlog is not alerted; 304s are
handled; changed guids and the same story in two feeds do not re-alert; every hostile feed
ends with a reason while the others carry on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.clock import ManualClock
from bot.domain.content import FeedAlert
from bot.services import outbox
from bot.services.context import Context
from bot.services.feeds import admin
from bot.store.models import Post
from bot.store.models_feeds import Feed, FeedEntry, FeedItem
from bot.watch import feed_state
from bot.watch.alerts import build_alert
from bot.watch.cycle import WatchOptions, run_cycle
from bot.watch.feed_state import FeedState
from bot.watch.fetcher import FetchLimits, FetchResult, FetchStatus
from bot.watch.parser import ParseLimits
from bot.watch.seeding import seed_catalogue
from tests.fakes.feed_server import FeedServer, Item, rss
from tests.test_feed_parser import BILLION_LAUGHS

WHEN = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
REPORT = Item(
    title="Socitm publishes cyber security briefing for councils",
    link="https://news.example/socitm-cyber?utm_source=rss&utm_medium=feed",
    guid="news-101",
    summary=(
        "<p>The Society for Innovation, Technology and Modernisation has published a "
        "briefing on ransomware attacks.</p><p>Second paragraph.</p>"
    ),
    published=WHEN,
)
UNRELATED = Item(
    title="Council launches bin collection app",
    link="https://news.example/bins",
    guid="news-102",
    summary="Residents can now book collections online.",
    published=WHEN,
)
OLD = [
    Item(title=f"Old story {i}", link=f"https://news.example/old/{i}", guid=f"old-{i}")
    for i in range(3)
]


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    async with FeedServer() as fake:
        yield fake


@pytest.fixture
def make_context(make_context):
    """Contexts whose settings allow a private feed at `feeds add`: the fake server is on
    127.0.0.1. The fetches stay guarded: `options` exempts only the fake server's port."""

    async def factory(url: str, platform: Any = None, **settings: Any) -> Context:
        settings.setdefault("LEADERBOT_ALLOW_PRIVATE_FEEDS", True)
        return await make_context(url, platform, **settings)

    return factory


@pytest.fixture
async def ctx(make_context, database_url: str) -> Context:
    """SQLite always; PostgreSQL too when LEADERBOT_TEST_POSTGRES_URL is set."""
    return await make_context(database_url)


def options(server: FeedServer, **changes: Any) -> WatchOptions:
    """Private addresses stay refused except the fake server; no catalogue (no internet)."""
    values: dict[str, Any] = {
        "exempt": (("127.0.0.1/32", server.port),),
        "seed_catalogue": False,
        "fetch": FetchLimits(deadline=5.0),
    }
    values.update(changes)
    return WatchOptions(**values)


async def add_feed(ctx: Context, server: FeedServer, path: str, **kw: Any) -> int:
    return (await admin.add_feed(ctx, server.url(path), actor="test", **kw)).id


async def alerts_on(ctx: Context, *channels: str) -> None:
    for channel in channels:
        await admin.set_alerts(ctx, channel, True, actor="test")


async def posts(ctx: Context, kind: str = "alert") -> list[Post]:
    async with ctx.db.read() as session:
        query = select(Post).where(Post.kind == kind).order_by(Post.id)
        return list((await session.scalars(query)).all())


async def cycle(ctx: Context, server: FeedServer, **changes: Any):
    """Move past every feed's next poll time, then run one cycle."""
    assert isinstance(ctx.clock, ManualClock)
    ctx.clock.advance(days=2)
    return await run_cycle(ctx, options(server, **changes))


async def test_a_report_alerts_each_subscribed_channel_once(ctx, server) -> None:
    await alerts_on(ctx, "C1", "C2")
    await admin.set_alerts(ctx, "C3", False, actor="test")
    server.feed("/news", rss(OLD), etag='"v1"')
    await add_feed(ctx, server, "/news")

    first = await cycle(ctx, server)
    assert [o.status for o in first.outcomes] == ["primed"]
    assert await posts(ctx) == []

    server.feed("/news", rss([REPORT, UNRELATED, *OLD]), etag='"v2"')
    second = await cycle(ctx, server)
    assert second.outcomes[0].status == "changed"
    assert (second.outcomes[0].new_items, second.outcomes[0].matched) == (2, 1)
    rows = await posts(ctx)
    assert sorted(r.channel_id for r in rows) == ["C1", "C2"]
    payload = rows[0].payload
    assert payload is not None
    assert payload["title"] == REPORT.title
    assert payload["source"] == "127.0.0.1"
    assert payload["link"] == "https://news.example/socitm-cyber"  # tracking stripped
    assert (
        payload["summary"].startswith("The Society for Innovation")
        and "Second" not in (payload["summary"])
    )
    assert payload["published"] == WHEN.isoformat()
    assert payload["question_id"] in ("Q6", "Q8")  # the cyber security questions
    assert rows[0].key == f"alert:C1:{payload['item_id']}"

    alert = build_alert(rows[0], ctx)
    assert isinstance(alert, FeedAlert) and alert.published == WHEN
    assert alert.related_question is not None and alert.related_question.theme == "Cyber security"

    # Polled again (and again with the validators dropped): nothing new.
    await cycle(ctx, server)
    server.feed("/news", rss([REPORT, UNRELATED, *OLD]))
    await cycle(ctx, server)
    assert len(await posts(ctx)) == 2


async def test_a_restart_does_not_realert(make_context, database_url, server) -> None:
    ctx = await make_context(database_url)
    await alerts_on(ctx, "C1")
    server.feed("/news", rss(OLD))
    await add_feed(ctx, server, "/news")
    await cycle(ctx, server)
    server.feed("/news", rss([REPORT, *OLD]))
    await cycle(ctx, server)
    assert len(await posts(ctx)) == 1
    await ctx.db.dispose()

    restarted = await make_context(database_url)  # same database, fresh process state
    restarted.clock.advance(days=2)
    report = await run_cycle(restarted, options(server))
    assert report.outcomes[0].status == "changed" and report.outcomes[0].new_items == 0
    assert len(await posts(restarted)) == 1


async def test_a_new_feeds_backlog_is_not_alerted(ctx, server) -> None:
    await alerts_on(ctx, "C1")
    server.feed("/news", rss([REPORT, *OLD]))
    feed_id = await add_feed(ctx, server, "/news")
    report = await cycle(ctx, server)
    assert report.outcomes[0].status == "primed" and report.outcomes[0].new_items == 4
    assert await posts(ctx) == []
    async with ctx.db.read() as session:
        seen = (await session.scalars(select(FeedEntry).where(FeedEntry.feed_id == feed_id))).all()
    assert len(seen) == 4
    await cycle(ctx, server)
    assert await posts(ctx) == []


async def test_conditional_get_answers_304(ctx, server) -> None:
    server.feed("/news", rss(OLD), etag='W/"abc"', last_modified="Mon, 12 Jan 2026 10:00:00 GMT")
    feed_id = await add_feed(ctx, server, "/news")
    await cycle(ctx, server)
    report = await cycle(ctx, server)
    assert report.outcomes[0].status == "not_modified"
    second = server.requests_to("/news")[1]
    assert second.raw_header("if-none-match") == b'W/"abc"'
    assert second.raw_header("if-modified-since") == b"Mon, 12 Jan 2026 10:00:00 GMT"
    async with ctx.db.read() as session:
        feed = await session.get(Feed, feed_id)
    assert feed is not None and feed.etag == 'W/"abc"' and feed.consecutive_failures == 0


async def test_changed_guid_and_the_same_story_in_two_feeds_alert_once(ctx, server) -> None:
    await alerts_on(ctx, "C1", "C2")
    server.feed("/a", rss(OLD))
    server.feed("/b", rss([UNRELATED]))
    await add_feed(ctx, server, "/a")
    await add_feed(ctx, server, "/b", channel_id="C2")
    await cycle(ctx, server)
    server.feed("/a", rss([REPORT, *OLD]))
    await cycle(ctx, server)
    assert len(await posts(ctx)) == 2

    # Feed A changes the story's guid; feed B picks the story up with other tracking tags.
    moved = Item(**{**REPORT.__dict__, "guid": "urn:new:101"})
    copied = Item(
        **{**REPORT.__dict__, "guid": "b-7", "link": "http://news.example/socitm-cyber/?fbclid=9"}
    )
    server.feed("/a", rss([moved, *OLD]))
    server.feed("/b", rss([copied, UNRELATED]))
    report = await cycle(ctx, server)
    assert sorted(o.matched for o in report.outcomes) == [0, 1]  # B saw it as new to B...
    assert len(await posts(ctx)) == 2  # ...but C2 already had it: no second alert
    async with ctx.db.read() as session:
        stories = (await session.scalars(select(FeedItem).where(FeedItem.matched))).all()
    assert len(stories) == 1


async def test_a_feed_for_one_channel_alerts_only_there(ctx, server) -> None:
    await alerts_on(ctx, "C1", "C2")
    server.feed("/news", rss(OLD))
    await add_feed(ctx, server, "/news", channel_id="C2")
    await cycle(ctx, server)
    server.feed("/news", rss([REPORT, *OLD]))
    await cycle(ctx, server)
    assert [r.channel_id for r in await posts(ctx)] == ["C2"]


async def test_feed_keywords_widen_and_narrow(ctx, server) -> None:
    await alerts_on(ctx, "C1")
    server.feed("/wide", rss(OLD))
    server.feed("/narrow", rss(OLD))
    await add_feed(ctx, server, "/wide", keywords=["bin collection"])
    await add_feed(ctx, server, "/narrow", keywords=["-ransomware"])
    await cycle(ctx, server)
    server.feed("/wide", rss([UNRELATED, *OLD]))
    server.feed("/narrow", rss([REPORT, *OLD]))
    await cycle(ctx, server)
    assert [r.payload["title"] for r in await posts(ctx)] == [UNRELATED.title]


async def test_failures_back_off_notify_once_and_recover(ctx, server) -> None:
    await alerts_on(ctx, "C1")
    server.feed("/news", rss(OLD))
    feed_id = await add_feed(ctx, server, "/news", interval_minutes=60)
    await cycle(ctx, server)
    server.feed("/news", b"oops", status=500)

    async def state() -> Feed:
        async with ctx.db.read() as session:
            feed = await session.get(Feed, feed_id)
            assert feed is not None
            return feed

    for failures in (1, 2, 3, 4):
        report = await cycle(ctx, server)
        assert report.outcomes[0].code == "http_status"
        feed = await state()
        assert feed.consecutive_failures == failures
        delay = feed.next_poll_at - ctx.clock()
        assert delay == timedelta(hours=min(2**failures, 24))
        assert "HTTP 500" in (feed.last_error or "")
    notices = await posts(ctx, "notice")
    assert len(notices) == 1 and notices[0].channel_id == "C1"
    assert "failed 3 times in a row" in notices[0].payload["text"]
    assert f"feeds remove {feed_id}" in notices[0].payload["text"]

    server.feed("/news", b"", status=503, headers={"Retry-After": str(7 * 86400)})
    await cycle(ctx, server)
    assert (await state()).next_poll_at - ctx.clock() == timedelta(days=1)  # capped

    server.feed("/news", rss(OLD))
    await cycle(ctx, server)
    feed = await state()
    assert (feed.consecutive_failures, feed.failure_notified, feed.last_error) == (0, False, None)
    assert feed.next_poll_at - ctx.clock() == timedelta(hours=1)

    server.feed("/news", b"", status=500)
    for _ in range(3):
        await cycle(ctx, server)
    assert len(await posts(ctx, "notice")) == 2  # a new run of failures, a new notice


async def test_a_state_the_database_refuses_does_not_cost_the_others_theirs(
    ctx, server, caplog
) -> None:
    """Every feed's state is saved in one executemany; a row the database refuses is retried
    alone, then without what its server sent, so the other feeds keep theirs."""
    ids = [await add_feed(ctx, server, f"/f{i}") for i in range(3)]
    async with ctx.db.read() as session:
        feeds = {f.id: FeedState.of(f) for f in (await session.scalars(select(Feed))).all()}
    now = ctx.clock()

    def polled(feed_id: int, **validators: Any) -> Any:
        url = feeds[feed_id].url
        result = FetchResult(FetchStatus.OK, url, url, http_status=200, **validators)
        return feed_state.succeeded(feeds[feed_id], now, result, "primed", title="T")

    good = polled(ids[0], etag='"ok"')
    # Past the column (the fetcher drops such a validator; this is the backstop): PostgreSQL
    # refuses it, and the row is saved again without it.
    long = polled(ids[1], etag='"' + "x" * 1500 + '"')
    broken = polled(ids[2])
    broken.state["v_last_polled_at"] = "not a time"  # refused by both databases, always

    await feed_state.save_states(ctx, [good, long, broken])

    async with ctx.db.read() as session:
        rows = {f.id: f for f in (await session.scalars(select(Feed))).all()}
    assert rows[ids[0]].etag == '"ok"' and rows[ids[0]].last_success_at is not None
    assert rows[ids[1]].last_success_at is not None
    if not ctx.db.sqlite:  # SQLite does not enforce VARCHAR lengths
        assert rows[ids[1]].etag is None
    for feed_id in ids[:2]:
        next_poll = rows[feed_id].next_poll_at
        assert next_poll is not None and (next_poll - now).total_seconds() >= 3600 - 1
    assert rows[ids[2]].last_success_at is None  # never saved: its lease makes it due again
    assert f"feed {ids[2]} " in caplog.text and "state not saved" in caplog.text


async def test_only_due_feeds_are_polled_unless_forced(ctx, server) -> None:
    server.feed("/news", rss(OLD))
    await add_feed(ctx, server, "/news")
    await cycle(ctx, server)
    again = await run_cycle(ctx, options(server))
    assert again.outcomes == []
    forced = await run_cycle(ctx, options(server), force=True)
    assert len(forced.outcomes) == 1


async def test_hostile_feeds_fail_with_reasons_and_the_others_carry_on(ctx, server) -> None:
    await alerts_on(ctx, "C1")
    server.feed("/good", rss(OLD))
    hostile = {
        "/bomb": "too_large",
        "/endless": "too_large",
        "/drip": "deadline",
        "/metadata": "blocked_address",
        "/loopback": "blocked_address",
        "/garbage": "not_a_feed",
        "/missing": "http_status",
    }
    server.gzip_bomb("/bomb")
    server.endless("/endless")
    server.drip("/drip", every=0.5)
    server.redirect("/metadata", "http://169.254.169.254/latest/meta-data/")
    server.redirect("/loopback", "http://127.0.0.1:1/feed")
    server.feed("/garbage", b"<html><body>nope</body></html>")
    tolerated = {"/malformed", "/laughs", "/many", "/encoding", "/author"}
    server.feed("/malformed", b'<rss version="2.0"><channel><item><title>x &amp y</title></item>')
    server.feed("/laughs", BILLION_LAUGHS)
    server.feed("/many", rss([Item(title=f"n{i}", guid=str(i)) for i in range(10_000)]))
    server.feed("/encoding", rss(OLD, encoding="windows-1252", declared="utf-8"))
    server.feed("/author", rss([Item(title="a", guid="1", author="x." * 32_768)]))
    ids = {path: await add_feed(ctx, server, path) for path in [*hostile, *tolerated, "/good"]}
    await add_feed_url(ctx, "file:///etc/passwd", expect_refused=True)
    await add_feed_url(ctx, "ftp://example.com/feed", expect_refused=True)

    # The deadline must stop the drip yet leave the tolerated feeds (10,000 items, entity
    # expansion) time to download on a loaded machine: 1.5 s made this test flaky under load.
    started = time.monotonic()
    report = await cycle(ctx, server, fetch=FetchLimits(deadline=4.0))
    assert time.monotonic() - started < 20
    by_id = {o.feed_id: o for o in report.outcomes}
    for path, code in hostile.items():
        outcome = by_id[ids[path]]
        assert (outcome.status, outcome.code) == ("failed", code), (path, outcome)
        assert outcome.reason
    for path in tolerated:
        assert by_id[ids[path]].status == "primed", (path, by_id[ids[path]])
    assert by_id[ids["/many"]].new_items == 200

    server.feed("/good", rss([REPORT, *OLD]))
    report = await cycle(ctx, server, fetch=FetchLimits(deadline=4.0))
    assert {o.feed_id: o.alerts for o in report.outcomes}[ids["/good"]] == 1
    assert len(await posts(ctx)) == 1


async def add_feed_url(ctx: Context, url: str, *, expect_refused: bool) -> None:
    try:
        await admin.add_feed(ctx, url, actor="test")
    except admin.FeedAdminError as exc:
        assert expect_refused, exc
        assert "https://" in str(exc)
    else:
        assert not expect_refused


async def test_a_parse_overrun_is_a_failure_with_a_reason(ctx, server) -> None:
    server.feed("/slow", rss([Item(title="a", guid="1", author="x." * 32_768)]))
    feed_id = await add_feed(ctx, server, "/slow")
    slow = ParseLimits(max_author_chars=1_000_000, timeout=0.5)
    report = await cycle(ctx, server, parse=slow)
    outcome = report.outcomes[0]
    assert (outcome.feed_id, outcome.code) == (feed_id, "parse_timeout")


async def test_catalogue_seeding_respects_removals(ctx, server, tmp_path) -> None:
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(
        f"""
[defaults]
poll_minutes = 30
[[feeds]]
name = "Socitm"
url = "{server.url("/socitm")}"
confirmed = true
publisher_is_subject = true
keywords = ["-webinar"]
"""
    )
    assert await seed_catalogue(ctx, catalogue) == 1
    [view] = await admin.list_feeds(ctx)
    assert (view.source, view.poll_minutes, view.keywords) == ("Socitm", 30, ("-webinar",))
    await admin.remove_feed(ctx, view.id, actor="test")
    catalogue.touch()
    catalogue.write_text(catalogue.read_text() + "\n")  # a new mtime: seeding looks again
    assert await seed_catalogue(ctx, catalogue) == 0
    assert await admin.list_feeds(ctx) == []
    assert len(await admin.list_feeds(ctx, include_removed=True)) == 1


async def test_alerts_reach_slack_escaped_and_once(make_context, sqlite_url, server) -> None:
    from bot.platforms.slack.platform import SlackPlatform
    from tests.conftest import make_settings
    from tests.fakes.slack_api import FakeSlack

    async with FakeSlack() as slack:
        slack.add_channel("C1", "leaders")
        slack.add_channel("C2", "digital")
        settings = make_settings(SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.url)
        async with SlackPlatform.pooled(settings) as platform:
            ctx = await make_context(
                sqlite_url,
                platform=platform,
                SLACK_BOT_TOKEN=slack.bot_token,
                SLACK_API_URL=slack.url,
            )
            await alerts_on(ctx, "C1", "C2")
            server.feed("/news", rss(OLD))
            await add_feed(ctx, server, "/news")
            await cycle(ctx, server)
            sneaky = Item(
                title="<!channel> Socitm report <https://evil.example|click> @here",
                link="https://news.example/r1",
                guid="r1",
                summary="Socitm research <@U123> &lt;!everyone&gt;",
            )
            server.feed("/news", rss([sneaky, *OLD]))
            await cycle(ctx, server)
            await outbox.deliver_due(ctx)
            await cycle(ctx, server)
            await outbox.deliver_due(ctx)
    for channel in ("C1", "C2"):
        [message] = slack.messages(channel)
        raw = str(message.blocks) + message.text
        for forbidden in ("<!channel>", "<!everyone>", "<@U123>", "<https://evil.example|"):
            assert forbidden not in raw
        assert "https://news.example/r1" in raw
        assert message.unfurl_links in (False, "false", "0", 0)


async def test_unconfirmed_catalogue_urls_are_only_added_on_purpose(ctx, tmp_path) -> None:
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(
        '[[feeds]]\nname = "Guess"\nurl = "https://guess.invalid/feed/"\nconfirmed = false\n'
    )
    assert await seed_catalogue(ctx, catalogue) == 0
    assert await seed_catalogue(ctx, catalogue, include_unconfirmed=True) == 1


async def test_two_processes_polling_at_once_alert_once(make_context, database_url, server) -> None:
    """Two bots on one database (forced, so both poll the same feeds at the same moment)."""
    first = await make_context(database_url)
    second = await make_context(database_url)  # its own engine: another process, in effect
    await alerts_on(first, "C1", "C2")
    server.feed("/a", rss(OLD))
    server.feed("/b", rss(OLD))
    await add_feed(first, server, "/a")
    await add_feed(first, server, "/b")
    await cycle(first, server)
    server.feed("/a", rss([REPORT, *OLD]))
    server.feed("/b", rss([REPORT, UNRELATED, *OLD]))
    await asyncio.gather(
        run_cycle(first, options(server), force=True),
        run_cycle(second, options(server), force=True),
    )
    rows = await posts(first)
    assert sorted(r.channel_id for r in rows) == ["C1", "C2"]


async def test_a_reused_feed_id_still_alerts(ctx, server) -> None:
    """SQLite reuses a deleted row's id: a new feed given a removed feed's id, whose report
    has a guid the old feed used ("3"), still alerts (guid keys are scoped by URL, not id)."""
    await alerts_on(ctx, "C1")
    server.feed("/a", rss([]))
    a = await add_feed(ctx, server, "/a")
    await cycle(ctx, server)
    old = Item(title=REPORT.title, link="https://a.example/trends", guid="3", published=WHEN)
    server.feed("/a", rss([old]))
    await cycle(ctx, server)
    await admin.remove_feed(ctx, a, actor="test")

    unrelated = Item(title="Unrelated", link="https://b.example/x", guid="1", published=WHEN)
    server.feed("/b", rss([unrelated]))
    await add_feed(ctx, server, "/b")
    await cycle(ctx, server)
    new = Item(
        title="Socitm launches cyber security research briefing",
        link="https://b.example/cyber",
        guid="3",
        published=WHEN + timedelta(days=5),
    )
    server.feed("/b", rss([new, unrelated]))
    await cycle(ctx, server)

    titles = sorted(str((p.payload or {}).get("title")) for p in await posts(ctx))
    assert titles == sorted([old.title, new.title])


@pytest.mark.parametrize(
    "validators",
    [
        {"etag": '"' + "x" * 1500 + '"'},
        {"last_modified": "Tue, 28 Jan 2025 09:00:00 GMT" + " " + "y" * 400},
    ],
    ids=["long-etag", "long-last-modified"],
)
async def test_an_oversized_validator_does_not_stop_other_feeds_being_saved(
    ctx, server, validators: dict[str, str]
) -> None:
    # The columns are VARCHAR(1024) / VARCHAR(256); PostgreSQL enforces them, SQLite does not.
    server.feed("/good", rss([Item(title="Good story", guid="g1")]), etag='"ok"')
    server.feed("/odd", rss([Item(title="Odd story", guid="o1")]), **validators)
    good = await add_feed(ctx, server, "/good")
    odd = await add_feed(ctx, server, "/odd")

    report = await run_cycle(ctx, options(server))  # must not raise

    assert sorted(o.status for o in report.outcomes) == ["primed", "primed"]
    async with ctx.db.read() as session:
        rows = {f.id: f for f in (await session.scalars(select(Feed))).all()}
    assert rows[good].etag == '"ok"' and rows[good].last_success_at is not None
    assert rows[odd].last_success_at is not None
    # Polled again at the feed's interval (60 min), not at the 15-minute lease.
    assert rows[good].next_poll_at is not None
    assert (rows[good].next_poll_at - ctx.clock()).total_seconds() >= 3600 - 1


async def entries_of(ctx: Context, feed_id: int) -> int:
    async with ctx.db.read() as session:
        rows = await session.scalars(select(FeedEntry.item_id).where(FeedEntry.feed_id == feed_id))
        return len(rows.all())


async def test_items_sharing_one_link_are_distinct_stories(ctx, server) -> None:
    # Every item links to the publisher's home page; guids, titles and dates tell them apart.
    home = "https://publisher.example/"
    backlog = [
        Item(title=f"Story {i}", link=home, guid=f"s-{i}", published=WHEN - timedelta(days=i))
        for i in range(200)
    ]
    await alerts_on(ctx, "C1")
    server.feed("/home", rss(backlog))
    feed_id = await add_feed(ctx, server, "/home")
    first = await cycle(ctx, server)
    assert first.outcomes[0].new_items == 200
    assert await entries_of(ctx, feed_id) == 200

    report = Item(**{**REPORT.__dict__, "link": home, "published": WHEN + timedelta(days=1)})
    server.feed("/home", rss([report, *backlog[:199]]))
    second = await cycle(ctx, server)

    assert (second.outcomes[0].new_items, second.outcomes[0].alerts) == (1, 1)
    assert [p.payload["title"] for p in await posts(ctx)] == [REPORT.title]


async def test_a_new_item_reusing_an_old_items_link_still_alerts(ctx, server) -> None:
    # One item per fetch, always the same link: the link alone must not make it old news.
    home = "https://publisher.example/"
    await alerts_on(ctx, "C1")
    server.feed("/one", rss([Item(title="Bins", link=home, guid="1", published=WHEN)]))
    await add_feed(ctx, server, "/one")
    await cycle(ctx, server)
    later = WHEN + timedelta(days=3)
    server.feed("/one", rss([Item(**{**REPORT.__dict__, "link": home, "published": later})]))
    report = await cycle(ctx, server)
    assert report.outcomes[0].alerts == 1


async def test_description_only_items_are_recorded_by_their_content(ctx, server) -> None:
    # RSS 2.0 allows an item with only a description: no guid, no link, no title.
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><description>Old news about bins.</description></item></channel></rss>"
    )
    await alerts_on(ctx, "C1")
    server.feed("/desc", body)
    feed_id = await add_feed(ctx, server, "/desc")
    first = await cycle(ctx, server)
    assert first.outcomes[0].new_items == 1 and await entries_of(ctx, feed_id) == 1

    report_item = (
        b"<item><description>Socitm publishes its annual digital trends report for "
        b"councils.</description></item>"
    )
    server.feed("/desc", body.replace(b"<item>", report_item + b"<item>", 1))
    second = await cycle(ctx, server)
    assert (second.outcomes[0].new_items, second.outcomes[0].alerts) == (1, 1)
    third = await cycle(ctx, server)  # the same two items: nothing new
    assert third.outcomes[0].new_items == 0


async def test_an_item_with_nothing_to_know_it_by_is_logged(ctx, server, caplog) -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><category>x</category></item></channel></rss>"
    )
    server.feed("/empty", body)
    await add_feed(ctx, server, "/empty")
    with caplog.at_level("WARNING", logger="bot.watch.stories"):
        await cycle(ctx, server)
    assert "1 item(s) with no guid, link, title or description skipped" in caplog.text


async def test_an_out_of_range_character_reference_does_not_cost_the_feed(ctx, server) -> None:
    await alerts_on(ctx, "C1")
    server.feed("/refs", rss(OLD))
    await add_feed(ctx, server, "/refs")
    await cycle(ctx, server)
    bad = Item(**{**UNRELATED.__dict__, "title": "Bin &#xFFFFFFFF; collections"})
    # rss() escapes the "&": put the raw reference back, as a hostile feed would send it.
    body = rss([bad, REPORT, *OLD]).replace(b"&amp;#xFFFFFFFF;", b"&#xFFFFFFFF;")
    assert b"&#xFFFFFFFF;" in body
    server.feed("/refs", body)
    report = await cycle(ctx, server)
    assert report.outcomes[0].status == "changed", report.outcomes[0]
    assert (report.outcomes[0].new_items, report.outcomes[0].alerts) == (2, 1)


async def test_feeds_add_reads_the_catalogue_its_context_was_built_with(
    ctx: Context, server: FeedServer, sqlite_url: str
) -> None:
    """No loader is found by import: a Context built without a catalogue adds every feed as
    unlisted; one built with a catalogue (bot.runtime wires load_catalogue) takes a listed
    feed's name, keywords and interval from it."""
    from bot.domain.feed_catalogue import CatalogueFeed
    from bot.runtime import open_context
    from bot.services.context import no_feed_catalogue
    from bot.watch.catalogue import load_catalogue
    from tests.conftest import make_settings

    async with open_context(make_settings(DATABASE_URL=sqlite_url)) as wired:
        assert wired.feed_catalogue is load_catalogue

    listed = CatalogueFeed(
        name="Listed news",
        url=server.url("/listed"),
        confirmed=True,
        poll_minutes=30,
        keywords=admin.validate_keywords(["+digital"]),
        publisher_is_subject=False,
        note="",
    )
    ctx.feed_catalogue = no_feed_catalogue
    unlisted = await admin.add_feed(ctx, server.url("/listed"), actor="test")
    assert (unlisted.source, unlisted.poll_minutes, unlisted.keywords) == ("127.0.0.1", 60, ())
    await admin.remove_feed(ctx, unlisted.id, actor="test")
    ctx.feed_catalogue = lambda: (listed,)
    view = await admin.add_feed(ctx, server.url("/listed"), actor="test")
    assert (view.source, view.poll_minutes, view.keywords) == ("Listed news", 30, ("+digital",))
