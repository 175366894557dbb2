"""The digest service: the batched builder (one read session, one query per table for every
channel) gives exactly the digests of building one channel at a time. On SQLite, and on
PostgreSQL when LEADERBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.domain.content import UserInfo
from bot.domain.digest import Digest
from bot.platforms.console.platform import ConsoleMessage, ConsolePlatform
from bot.port import PlatformError
from bot.services.context import Context
from bot.services.digest import build_channel_digest, build_channel_digests, window_ending
from bot.store.models import Channel, ChatUser, Post, Reply

# The clock fixture stands at Wednesday 14 January 2026, 12:00 UTC (GMT in London), so the
# window is Wednesday 7 January 12:00 to 14 January 12:00.
WINDOW = window_ending(datetime(2026, 1, 14, 12, 0, tzinfo=UTC), "Europe/London")
ALL = ["C1", "C2", "C3", "C4", "C5"]


class Platform(ConsolePlatform):
    """The console platform, with users.info failing for some users and member counts set."""

    def __init__(self, members: dict[str, int], failing: set[str], names: dict[str, str]):
        super().__init__(io.StringIO(), user="tester", names=names)
        self.members = members
        self.failing = failing
        self.lookups: list[str] = []

    async def user_info(self, user_id: str, *, channel_id: str | None = None) -> UserInfo:
        self.lookups.append(user_id)
        if user_id in self.failing:
            raise PlatformError("user_not_found")
        return await super().user_info(user_id)

    async def member_count(self, channel_id: str) -> int | None:
        if channel_id not in self.members:
            raise PlatformError("channel_not_found")
        return self.members[channel_id]


@dataclass
class Seeded:
    posts: list[Post]
    replies: list[Reply]


def at(day: int, hour: int, month: int = 1, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=UTC)


async def seed(ctx: Context) -> Seeded:
    """Five channels:

    - C1: two questions in the window (Q1, Q2) with replies, one edited, one by a user with no
      cached name whose users.info fails (UGHOST), one by a user whose cached name is stale;
      an older question (history and asked); a pending one and one sent exactly at the
      window's end (asked, not in the digest).
    - C2: one question; its member count is unavailable.
    - C3: no question in the window, only an older one with replies (history).
    - C4: nothing at all, not even a channel row.
    - C5: a question in the window that is not in the question set (left out).
    """
    now = ctx.clock()
    posts = [
        Post(key="q:C1:1", channel_id="C1", question_id="Q1", sent_at=at(8, 9)),
        Post(key="q:C1:2", channel_id="C1", question_id="Q2", sent_at=at(12, 9)),
        Post(key="q:C1:old", channel_id="C1", question_id="Q3", sent_at=at(10, 9, 12, 2025)),
        Post(key="q:C1:pending", channel_id="C1", question_id="Q4", status="pending"),
        Post(key="q:C1:end", channel_id="C1", question_id="Q5", sent_at=WINDOW.end),
        Post(key="q:C2:1", channel_id="C2", question_id="Q1", sent_at=at(9, 10)),
        Post(key="q:C3:old", channel_id="C3", question_id="Q6", sent_at=at(17, 9, 12, 2025)),
        Post(key="q:C5:1", channel_id="C5", question_id="Q999", sent_at=at(9, 11)),
    ]
    for n, post in enumerate(posts, start=1):
        post.id = n
        post.kind = "question"
        post.status = post.status or "sent"
        post.due_at = post.sent_at or at(13, 9)
        post.attempts = 1
        if post.status == "sent":
            post.message_id = f"{int(post.due_at.timestamp())}.{n:06d}"
            post.link = f"https://example.slack.com/archives/{post.channel_id}/p{n}"

    by_key = {p.key: p for p in posts}
    replies: list[Reply] = []

    def reply(key: str, user: str, minutes: int, text: str, edited: bool = False) -> None:
        post = by_key[key]
        assert post.sent_at is not None
        when = post.sent_at + timedelta(minutes=minutes)
        replies.append(
            Reply(
                post_id=post.id,
                channel_id=post.channel_id,
                user_id=user,
                text=text,
                message_id=f"{int(when.timestamp())}.{len(replies):06d}",
                thread_id=post.message_id,
                edited=edited,
                posted_at=datetime.fromtimestamp(int(when.timestamp()), UTC),
                updated_at=when,
            )
        )

    reply("q:C1:1", "U1", 5, "Fewer dashboards")
    reply("q:C1:1", "U2", 9, "Shared platforms (edited)", edited=True)
    reply("q:C1:1", "UGHOST", 12, "Stop duplicate reporting")
    reply("q:C1:1", "U1", 30, "And fix the data")
    reply("q:C1:2", "U3", 60 * 24, "Ask the front line")
    reply("q:C1:2", "U2", 60 * 25, "Agreed")
    reply("q:C1:old", "U1", 10, "Old answer")
    reply("q:C1:old", "U5", 20, "Another old answer")
    reply("q:C2:1", "U4", 3, "More time to think")
    reply("q:C2:1", "U5", 4, "Less email")
    reply("q:C3:old", "U6", 8, "An answer from December")
    reply("q:C3:old", "U7", 8, "Same minute, another person")
    reply("q:C5:1", "U1", 2, "A reply to a retired question")

    async with ctx.db.write() as session:
        session.add_all(
            [
                Channel(id="C1", platform="slack", name="leaders-one"),
                Channel(id="C2", platform="slack", name="leaders-two"),
                Channel(id="C3", platform="slack", name=None),
                Channel(id="C5", platform="slack", name="leaders-five"),
                ChatUser(id="U1", display_name="Ada", fetched_at=now),
                ChatUser(id="U2", display_name="Bea", fetched_at=now - timedelta(hours=2)),
                ChatUser(id="U3", display_name="Old name", fetched_at=now - timedelta(days=3)),
                ChatUser(id="U4", display_name="  Cy  ", fetched_at=now),
                ChatUser(id="U5", display_name="Dee", fetched_at=now),
            ]
        )
        await session.flush()
        session.add_all(posts)
        await session.flush()
        session.add_all(replies)
    return Seeded(posts, replies)


def platform() -> Platform:
    return Platform(
        members={"C1": 8, "C3": 5, "C4": 3, "C5": 2},  # C2's count fails
        failing={"UGHOST"},
        names={"U3": "Cal", "U4": "Cy"},
    )


def names(digest: Digest) -> list[list[tuple[str, str, bool]]]:
    return [[(r.user_name, r.text, r.edited) for r in q.replies] for q in digest.questions]


async def test_batched_digests_equal_one_channel_at_a_time(
    database_url: str, make_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    chat = platform()
    ctx = await make_context(database_url, chat)
    await seed(ctx)

    with caplog.at_level(logging.WARNING, logger="bot.services.digest"):
        batched = await build_channel_digests(ctx, [*ALL, "C1"], WINDOW, reconcile=False)
    # Uncached or stale names are looked up once each, whatever the number of channels.
    assert chat.lookups == ["U3", "UGHOST"]
    assert list(batched) == ALL  # in the order given, each once
    singles = {cid: await build_channel_digest(ctx, cid, WINDOW, reconcile=False) for cid in ALL}
    assert batched == singles
    # U3's name was cached by the first build; UGHOST's lookup failed, so it is asked again.
    assert chat.lookups == ["U3", "UGHOST", "UGHOST"]
    assert "asked Q999, not in the question set" in caplog.text
    assert "member count for C2 unavailable" in caplog.text

    c1 = batched["C1"]
    assert c1.channel.label == "#leaders-one"
    assert [q.question.id for q in c1.questions] == ["Q1", "Q2"]
    assert names(c1) == [
        [
            ("Ada", "Fewer dashboards", False),
            ("Bea", "Shared platforms (edited)", True),
            ("UGHOST", "Stop duplicate reporting", False),  # users.info failed: the id
            ("Ada", "And fix the data", False),
        ],
        [("Cal", "Ask the front line", False), ("Bea", "Agreed", False)],
    ]
    assert (c1.reply_count, c1.participants, c1.member_count) == (6, 4, 8)
    assert c1.questions[0].link == "https://example.slack.com/archives/C1/p1"
    # Q3 was asked before, Q4 is pending, Q5 was sent at the window's end: all asked.
    assert [q.id for q in c1.not_yet_asked] == ["Q6", "Q7", "Q8", "Q9", "Q10"]
    assert [p.participants for p in c1.participation[-6:]] == [2, 0, 0, 0, 3, 2]

    c2 = batched["C2"]
    assert names(c2) == [[("Cy", "More time to think", False), ("Dee", "Less email", False)]]
    assert (c2.member_count, c2.share) == (None, None)

    c3 = batched["C3"]
    assert (c3.questions, c3.reply_count, c3.channel.label) == ((), 0, "C3")
    assert sum(p.participants for p in c3.participation) == 2
    assert "Q6" not in [q.id for q in c3.not_yet_asked]

    c4 = batched["C4"]
    assert (c4.questions, c4.channel.name, c4.member_count) == ((), None, 3)
    assert len(c4.not_yet_asked) == 10
    assert all(p.participants == 0 for p in c4.participation)

    c5 = batched["C5"]
    assert (c5.questions, c5.reply_count) == ((), 0)


async def test_reconciled_first_in_both(database_url: str, make_context: Any) -> None:
    """With reconciliation, each question thread in the window is read back from the platform
    first: a reply with no event is added, an edit applied, a deleted reply dropped."""
    chat = platform()
    ctx = await make_context(database_url, chat)
    seeded = await seed(ctx)
    in_window = {p.id: p for p in seeded.posts if p.status == "sent" and p.sent_at in WINDOW}
    for r in seeded.replies:
        post = in_window.get(r.post_id)
        if post is None or r.user_id == "UGHOST":  # deleted in Slack, still stored here
            continue
        text, edited = (
            ("Fewer dashboards, one data platform", True)
            if r.text == "Fewer dashboards"
            else (r.text, r.edited)
        )
        chat.messages.setdefault(r.channel_id, []).append(
            ConsoleMessage(
                message_id=r.message_id,
                user_id=r.user_id,
                text=text,
                thread_id=r.thread_id,
                edited=edited,
            )
        )
    first = in_window[1]
    late = int((at(8, 9) + timedelta(hours=3)).timestamp())
    chat.messages["C1"] += [
        ConsoleMessage(
            message_id=f"{late}.000900", user_id="U4", text="No event", thread_id=first.message_id
        ),
        ConsoleMessage(
            message_id=f"{late}.000901", user_id=None, text="bot", thread_id=first.message_id
        ),
    ]

    batched = await build_channel_digests(ctx, ALL, WINDOW)
    assert names(batched["C1"])[0] == [
        ("Ada", "Fewer dashboards, one data platform", True),
        ("Bea", "Shared platforms (edited)", True),
        ("Ada", "And fix the data", False),
        ("Cy", "No event", False),
    ]
    singles = {cid: await build_channel_digest(ctx, cid, WINDOW) for cid in ALL}
    assert batched == singles


async def test_one_read_session_and_one_query_per_read(
    database_url: str, make_context: Any
) -> None:
    """Six reads for any number of channels (reconciliation off, every name cached)."""
    ctx = await make_context(database_url, platform())
    await seed(ctx)
    async with ctx.db.write() as session:
        for uid in ("U3", "UGHOST"):
            await session.merge(ChatUser(id=uid, display_name=uid.title(), fetched_at=ctx.clock()))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        few = await build_channel_digests(ctx, ["C1"], WINDOW, reconcile=False)
        assert len(statements) == 6
        statements.clear()
        many = await build_channel_digests(ctx, ALL, WINDOW, reconcile=False)
        assert len(statements) == 6
    finally:
        event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", count)
    assert many["C1"] == few["C1"]


async def test_no_channels_no_reads(database_url: str, make_context: Any) -> None:
    ctx = await make_context(database_url, platform())
    assert await build_channel_digests(ctx, [], WINDOW) == {}
