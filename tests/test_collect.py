"""Collecting replies: the event rules (once per event and per message, edits, deletions),
the batching writer (same rules, in order), and reconciliation against the fake Slack.
On SQLite, and on PostgreSQL when LEADERBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.clock import ManualClock
from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.platform import SlackPlatform
from bot.port import ReplyDeleted, ReplyEdited, ReplyPosted
from bot.services import collect
from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_recent, reconcile_thread
from bot.services.context import Context, Platforms
from bot.services.privacy import forget_user, purge_expired, purge_workspace
from bot.services.reply_writer import ReplyWriter, apply_batch
from bot.store.db import Database
from bot.store.models import Channel, ErasedUser, Post, ProcessedEvent, Reply, ReplyTombstone
from tests.fakes.slack_api import FakeSlack, HttpError, RateLimit
from tests.platforms import only_platform
from tests.replies import deletion, record_deletion, record_reply, reply_change, time_of


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def question(ctx: Context, channel: str = "C1") -> Post:
    result = await ask_and_deliver(ctx, channel)
    assert result.delivered and result.post.message_id
    return result.post


Op = ReplyPosted | ReplyEdited | ReplyDeleted


def reply(post: Post, n: int, text: str = "", **fields: Any) -> ReplyPosted | ReplyEdited:
    values: dict[str, Any] = {
        "channel_id": post.channel_id,
        "thread_id": post.message_id,
        "message_id": f"{1_800_000_000 + n}.000100",
        "user_id": f"U{n % 5}",
        "text": text or f"reply {n}",
        "event_id": f"Ev{n}",
    }
    values.update(fields)
    return reply_change(**values)


async def stored(ctx: Context, channel: str = "C1") -> dict[str, tuple[str, str, bool]]:
    async with ctx.db.read() as session:
        rows = (await session.scalars(select(Reply).where(Reply.channel_id == channel))).all()
    return {r.message_id: (r.user_id, r.text, r.edited) for r in rows}


async def event_ids(ctx: Context) -> set[str]:
    async with ctx.db.read() as session:
        return set((await session.scalars(select(ProcessedEvent.event_id))).all())


# ----------------------------------------------------------------------------- event rules


async def test_a_reply_is_stored_once_across_retries_and_replays(
    database_url: str, make_context: Any
) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    event = reply(post, 1, "Fewer dashboards")
    assert await record_reply(ctx, event) is True
    assert await record_reply(ctx, event) is False  # Slack's retry: same event id
    assert await record_reply(ctx, reply(post, 1, "Fewer dashboards", event_id="Ev1b")) is True
    assert await stored(ctx) == {event.message_id: ("U1", "Fewer dashboards", False)}


async def test_replies_outside_question_threads_are_ignored(
    database_url: str, make_context: Any
) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    assert await record_reply(ctx, reply(post, 1, thread_id="1700000000.000001")) is False
    assert await record_reply(ctx, reply(post, 2, channel_id="C2")) is False
    assert await stored(ctx) == {}


async def test_edits_apply_and_a_late_original_does_not_undo_them(
    database_url: str, make_context: Any
) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    await record_reply(ctx, reply(post, 1, "v2", edited=True, event_id="EvEdit"))
    await record_reply(ctx, reply(post, 1, "v1", event_id="EvOriginal"))
    assert await stored(ctx) == {reply(post, 1).message_id: ("U1", "v2", True)}
    await record_reply(ctx, reply(post, 1, "v3", edited=True, event_id="EvEdit2"))
    assert await stored(ctx) == {reply(post, 1).message_id: ("U1", "v3", True)}


async def test_a_deleted_reply_leaves_nothing_behind(database_url: str, make_context: Any) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    kept, gone = reply(post, 1), reply(post, 2)
    await record_reply(ctx, kept)
    await record_reply(ctx, gone)
    assert await record_deletion(ctx, "C1", gone.message_id, event_id="EvDel") is True
    assert await record_deletion(ctx, "C1", gone.message_id, event_id="EvDel") is False
    assert await stored(ctx) == {kept.message_id: ("U1", "reply 1", False)}


# ----------------------------------------------------------------------------- the writer


def random_ops(post: Post, other: Post, seed: int, count: int = 300) -> list[Op]:
    """Events as Slack might deliver them: retries, replays, edits before originals,
    deletions before and after, other threads, other channels."""
    rng = random.Random(seed)
    ops: list[Op] = []
    for n in range(count):
        target = rng.choice([post, post, post, other])
        ts_n = rng.randrange(40)
        roll = rng.random()
        if ops and roll < 0.1:
            ops.append(rng.choice(ops))  # a retry: same event id
        elif roll < 0.25:
            ops.append(
                deletion(target.channel_id, reply(target, ts_n).message_id, event_id=f"EvD{n}")
            )
        elif roll < 0.3:
            ops.append(reply(target, ts_n, thread_id="1700000000.000009", event_id=f"EvX{n}"))
        else:
            edited = roll > 0.7
            text = f"{'edit' if edited else 'text'} {n}"
            ops.append(reply(target, ts_n, text, edited=edited, event_id=f"EvR{n}"))
    return ops


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_batches_follow_the_same_rules_as_one_event_at_a_time(
    database_url: str, make_context: Any, tmp_path: Any, seed: int
) -> None:
    # The reference, one event at a time, on SQLite; the batches on the database under test.
    one_by_one = await make_context(f"sqlite+aiosqlite:///{tmp_path}/reference-{seed}.db")
    post, other = await question(one_by_one, "C1"), await question(one_by_one, "C2")
    ops = random_ops(post, other, seed)
    for op in ops:
        if isinstance(op, ReplyDeleted):
            await record_deletion(one_by_one, op.channel_id, op.message_id, event_id=op.event_id)
        else:
            await record_reply(one_by_one, op)
    expected = (
        await stored(one_by_one, "C1"),
        await stored(one_by_one, "C2"),
        await event_ids(one_by_one),
    )

    batched = await make_context(database_url)
    post_b, other_b = await question(batched, "C1"), await question(batched, "C2")
    assert (post_b.message_id, other_b.message_id) != (None, None)
    # Same threads in both databases: map the ops onto this one's question posts.
    thread = {post.message_id: post_b.message_id, other.message_id: other_b.message_id}
    mapped = [
        op if isinstance(op, ReplyDeleted) else _rethread(op, thread.get(op.thread_id))
        for op in ops
    ]
    rng = random.Random(seed)
    start = 0
    while start < len(mapped):
        size = rng.randrange(1, 60)
        await apply_batch(batched, mapped[start : start + size])
        start += size
    got = (await stored(batched, "C1"), await stored(batched, "C2"), await event_ids(batched))
    assert got == expected
    assert expected[0] and expected[1]  # both channels had replies to compare


def _rethread(op: ReplyPosted | ReplyEdited, thread_id: str | None) -> ReplyPosted | ReplyEdited:
    if thread_id is None:
        return op
    return dataclasses.replace(op, thread_id=thread_id)


async def test_a_batch_that_conflicts_falls_back_to_one_event_at_a_time(
    database_url: str,
    make_context: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.services.reply_writer")
    ctx = await make_context(database_url)
    post = await question(ctx)
    await record_reply(ctx, reply(post, 1, "first"))

    # Another process stores reply 1 just after this batch looked for it: the batch's insert
    # trips the unique channel+ts key, and the fallback applies the events in order (and, one
    # at a time, looks again).
    looked = collect._stored_replies

    async def nothing_stored_once(session: Any, keys: Any) -> dict[Any, Any]:
        monkeypatch.setattr(collect, "_stored_replies", looked)
        return {}

    monkeypatch.setattr(collect, "_stored_replies", nothing_stored_once)
    await apply_batch(
        ctx,
        [
            reply(post, 1, "again", edited=True, event_id="EvAgain"),
            reply(post, 2, "other"),
        ],
    )
    assert await stored(ctx) == {
        reply(post, 1).message_id: ("U1", "again", True),
        reply(post, 2).message_id: ("U2", "other", False),
    }
    assert any("one by one" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------- tombstones


async def tombstones(ctx: Context) -> dict[tuple[str, str], datetime]:
    async with ctx.db.read() as session:
        rows = (await session.scalars(select(ReplyTombstone))).all()
    return {(t.channel_id, t.message_id): t.deleted_at for t in rows}


async def test_a_deletion_before_its_original_keeps_it_deleted(
    database_url: str, make_context: Any
) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    # One event at a time: the deletion overtakes the original (a retry, a replay).
    early = reply(post, 1, "posted then deleted")
    assert (
        await record_deletion(ctx, "C1", early.message_id, event_id="EvDel1") is False
    )  # nothing yet
    assert await record_reply(ctx, early) is False
    assert await record_reply(ctx, reply(post, 1, "an edit", edited=True, event_id="EvE1")) is False
    # Stored, deleted, then replayed under a new event id.
    late = reply(post, 2, "said and unsaid")
    assert await record_reply(ctx, late) is True
    assert await record_deletion(ctx, "C1", late.message_id, event_id="EvDel2") is True
    assert await record_reply(ctx, reply(post, 2, "said and unsaid", event_id="EvReplay")) is False
    # A second deletion event for the same message is harmless.
    assert await record_deletion(ctx, "C1", late.message_id, event_id="EvDel2b") is False
    assert await stored(ctx) == {}
    # Only the address and the time: nothing of what was said, or by whom.
    assert set(await tombstones(ctx)) == {("C1", early.message_id), ("C1", late.message_id)}
    assert {c.name for c in ReplyTombstone.__table__.columns} == {
        "channel_id",
        "message_id",
        "deleted_at",
    }


async def test_a_batch_keeps_deleted_messages_deleted(database_url: str, make_context: Any) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    await record_reply(ctx, reply(post, 1, "first"))
    await apply_batch(ctx, [deletion("C1", reply(post, 3).message_id, event_id="EvDelEarly")])
    await apply_batch(
        ctx,
        [
            deletion("C1", reply(post, 1).message_id, event_id="EvDel"),
            reply(post, 1, "again", event_id="EvAgain"),  # the same message, after its deletion
            reply(post, 2, "other"),
            reply(post, 3, "deleted in an earlier batch"),
            deletion("C1", reply(post, 2).message_id, event_id="EvDel2"),
            deletion("C1", reply(post, 2).message_id, event_id="EvDel2b"),
        ],
    )
    assert await stored(ctx) == {}
    assert set(await tombstones(ctx)) == {("C1", reply(post, n).message_id) for n in (1, 2, 3)}


async def test_tombstones_are_pruned_by_the_retention_job(
    database_url: str, make_context: Any, clock: ManualClock
) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    await record_deletion(ctx, "C1", reply(post, 1).message_id)
    clock.advance(days=20)
    await record_deletion(ctx, "C1", reply(post, 2).message_id)
    clock.advance(days=11)  # the first is 31 days old, the second 11
    await purge_expired(ctx)
    assert set(await tombstones(ctx)) == {("C1", reply(post, 2).message_id)}


async def test_a_workspace_purge_drops_its_tombstones(database_url: str, make_context: Any) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    await record_deletion(ctx, "C1", reply(post, 1).message_id)
    await record_deletion(ctx, "D1", "1800000009.000100")  # not one of our channels
    async with ctx.db.write() as session:
        channel = await session.get(Channel, "C1")
        assert channel is not None
        channel.workspace_id = "T0FAKE"
        # Another workspace is still installed, so tombstones not known to be ours stay.
        session.add(Channel(id="C2", platform="slack", workspace_id="T2", alerts_enabled=False))
    await purge_workspace(ctx, "slack", "T0FAKE")
    assert set(await tombstones(ctx)) == {("D1", "1800000009.000100")}


async def test_an_erased_users_messages_are_never_stored_again(
    database_url: str, make_context: Any
) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    await record_reply(ctx, reply(post, 1, "before", user_id="U9"))
    erased = await forget_user(ctx, "U9")
    assert erased.replies == 1
    # A replay of the old message, an edit of it, and (by design: the erasure is their wish)
    # a message they post after the erasure: none is stored, one at a time or in a batch.
    assert await record_reply(ctx, reply(post, 1, "before", user_id="U9", event_id="Ev1b")) is False
    assert await record_reply(ctx, reply(post, 2, "after", user_id="U9")) is False
    await apply_batch(
        ctx,
        [
            reply(post, 1, "edited", user_id="U9", edited=True, event_id="EvE"),
            reply(post, 3, "later", user_id="U9"),
            reply(post, 4, "someone else", user_id="U1"),
        ],
    )
    assert await stored(ctx) == {reply(post, 4).message_id: ("U1", "someone else", False)}
    await forget_user(ctx, "U9")  # again: harmless
    async with ctx.db.read() as session:
        assert (await session.scalars(select(ErasedUser.user_id))).all() == ["U9"]


async def test_the_writer_applies_events_in_order_and_a_purge_after_them(
    database_url: str, make_context: Any
) -> None:
    ctx = await make_context(database_url)
    post = await question(ctx)
    writer = ReplyWriter(ctx, batch_size=7)
    for n in range(50):
        await writer.submit(reply(post, n, workspace_id="T0FAKE"))
    await writer.submit(reply(post, 3, "edited", edited=True, event_id="EvE"))
    await writer.submit(deletion("C1", reply(post, 4).message_id, event_id="EvD"))
    await writer.drain()
    replies = await stored(ctx)
    assert len(replies) == 49 and replies[reply(post, 3).message_id] == ("U3", "edited", True)
    assert writer.written == 52

    for n in range(50, 60):
        await writer.submit(reply(post, n, workspace_id="T0FAKE"))

    async def purge() -> None:
        await purge_workspace(ctx, "slack", "T0FAKE")

    await writer.after_pending(purge)  # runs after the ten queued before it
    assert await stored(ctx) == {}
    await writer.close()


# ----------------------------------------------------------------------------- reconcile


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(replies_page_size=3) as server:  # small pages: pagination matters
        for uid in ("U1", "U2", "U3"):
            server.add_user(uid, uid.lower())
        server.add_channel("C1", "leadership", members={"U1", "U2", "U3"})
        yield server


@pytest.fixture
def clock() -> ManualClock:
    # Near the real time: the fake stamps messages with it.
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def slack_ctx(fake: FakeSlack, make_context: Any, database_url: str) -> Context:
    ctx = await make_context(database_url, SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
    ctx.platforms = Platforms(
        [SlackPlatform(build_web_client(ctx.settings), sleep=RecordingSleep())]
    )
    return ctx


async def test_reconcile_adds_edits_and_drops_to_match_the_thread(
    slack_ctx: Context, fake: FakeSlack
) -> None:
    post = await question(slack_ctx)
    assert post.message_id
    kept = fake.add_message("C1", "kept", user="U1", thread_ts=post.message_id)
    edited = fake.add_message("C1", "before", user="U2", thread_ts=post.message_id)
    gone = fake.add_message("C1", "gone", user="U3", thread_ts=post.message_id)
    for message in (kept, edited, gone):
        await record_reply(
            slack_ctx,
            reply_change("C1", post.message_id, message.ts, message.user or "", message.text),
        )
    fake.edit_message("C1", edited.ts, "after")
    fake.delete_message("C1", gone.ts)
    missed = [
        fake.add_message("C1", f"missed {n}", user="U3", thread_ts=post.message_id)
        for n in range(7)
    ]
    fake.add_message("C1", "a bot in the thread", thread_ts=post.message_id, bot=True)

    result = await reconcile_thread(slack_ctx, post)
    assert (result.added, result.updated, result.removed, result.error) == (7, 1, 1, None)
    assert await stored(slack_ctx) == {
        kept.ts: ("U1", "kept", False),
        edited.ts: ("U2", "after", True),
        **{m.ts: ("U3", m.text, False) for m in missed},
    }
    assert len(fake.calls("conversations.replies")) >= 4  # 12 messages, pages of 3
    again = await reconcile_thread(slack_ctx, post)
    assert (again.added, again.updated, again.removed) == (0, 0, 0)


async def test_reconcile_waits_out_rate_limits(slack_ctx: Context, fake: FakeSlack) -> None:
    post = await question(slack_ctx)
    assert post.message_id
    message = fake.add_message("C1", "hello", user="U1", thread_ts=post.message_id)
    fake.inject("conversations.replies", RateLimit(retry_after=4))
    result = await reconcile_thread(slack_ctx, post)
    assert result.added == 1 and message.ts in await stored(slack_ctx)
    platform = only_platform(slack_ctx)
    assert isinstance(platform, SlackPlatform)
    assert platform._sleep.waits == [4]  # type: ignore[attr-defined]


async def test_an_unreadable_thread_keeps_what_was_stored(
    slack_ctx: Context, fake: FakeSlack
) -> None:
    post = await question(slack_ctx)
    assert post.message_id
    message = fake.add_message("C1", "stored", user="U1", thread_ts=post.message_id)
    await record_reply(slack_ctx, reply_change("C1", post.message_id, message.ts, "U1", "stored"))
    fake.inject("conversations.replies", HttpError(500))
    result = await reconcile_thread(slack_ctx, post)
    assert result.error and result.removed == 0
    assert await stored(slack_ctx) == {message.ts: ("U1", "stored", False)}


async def test_reconcile_recent_covers_this_weeks_questions_only(
    slack_ctx: Context, fake: FakeSlack, clock: ManualClock
) -> None:
    now = clock()
    clock.set(now - timedelta(days=8))
    old = await question(slack_ctx)
    clock.set(now)
    recent = await question(slack_ctx)
    assert old.message_id and recent.message_id
    fake.add_message("C1", "late answer to an old question", user="U1", thread_ts=old.message_id)
    fresh = fake.add_message("C1", "this week's", user="U2", thread_ts=recent.message_id)
    result = await reconcile_recent(slack_ctx)
    assert result.added == 1
    assert await stored(slack_ctx) == {fresh.ts: ("U2", "this week's", False)}


async def test_reconcile_does_not_bring_back_a_message_deleted_during_the_read(
    slack_ctx: Context, fake: FakeSlack
) -> None:
    post = await question(slack_ctx)
    assert post.message_id
    held = fake.add_message("C1", "stored, then deleted", user="U1", thread_ts=post.message_id)
    await record_reply(slack_ctx, reply_change("C1", post.message_id, held.ts, "U1", held.text))
    unseen = fake.add_message("C1", "its event is late", user="U2", thread_ts=post.message_id)
    kept = fake.add_message("C1", "kept", user="U3", thread_ts=post.message_id)
    platform = only_platform(slack_ctx)
    read = platform.fetch_thread

    async def read_then_delete(channel_id: str, thread_ts: str) -> Any:
        messages = await read(channel_id, thread_ts)
        for message, event_id in ((held, "EvDelHeld"), (unseen, "EvDelUnseen")):
            fake.delete_message("C1", message.ts)
            await record_deletion(slack_ctx, "C1", message.ts, event_id=event_id)
        return messages

    platform.fetch_thread = read_then_delete  # type: ignore[method-assign]
    result = await reconcile_thread(slack_ctx, post)
    assert (result.added, result.removed) == (1, 0)
    assert await stored(slack_ctx) == {kept.ts: ("U3", "kept", False)}


async def test_a_reply_stored_from_its_event_while_the_thread_is_read_survives_reconciliation(
    slack_ctx: Context, fake: FakeSlack
) -> None:
    """A reply posted, and stored from its event, between reconciliation's read of the thread
    and its write is not in the snapshot; it must not be deleted as if it had gone."""
    post = await question(slack_ctx)
    assert post.message_id
    platform = only_platform(slack_ctx)
    read = platform.fetch_thread
    late: list[Any] = []

    async def read_then_someone_replies(channel_id: str, thread_ts: str) -> Any:
        messages = await read(channel_id, thread_ts)
        message = fake.add_message(channel_id, "just in time", user="U2", thread_ts=thread_ts)
        late.append(message)
        await record_reply(
            slack_ctx, reply_change(channel_id, thread_ts, message.ts, "U2", message.text)
        )
        return messages

    platform.fetch_thread = read_then_someone_replies  # type: ignore[method-assign]
    await reconcile_thread(slack_ctx, post)
    [message] = late
    assert await stored(slack_ctx) == {message.ts: ("U2", "just in time", False)}, (
        "a live reply was deleted by reconciliation"
    )


async def test_reconcile_survives_a_reply_a_live_event_is_storing_at_the_same_time(
    slack_ctx: Context, fake: FakeSlack, database_url: str
) -> None:
    """On PostgreSQL (READ COMMITTED, no write gate) a reply whose INSERT is open in another
    transaction is invisible to reconciliation's read; its commit must not make
    reconciliation's own INSERT of the same message fail (uq_reply_channel_ts)."""
    post = await question(slack_ctx)
    assert post.message_id
    message = fake.add_message("C1", "posted just now", user="U1", thread_ts=post.message_id)

    other = Database(database_url)  # the event writer's own transaction
    pending: list[asyncio.Task[None]] = []
    platform = only_platform(slack_ctx)
    read = platform.fetch_thread

    async def read_while_the_event_is_stored(channel_id: str, thread_ts: str) -> Any:
        messages = await read(channel_id, thread_ts)
        session_cm = other.write()
        session = await session_cm.__aenter__()
        session.add(
            Reply(
                post_id=post.id,
                channel_id="C1",
                user_id="U1",
                text=message.text,
                message_id=message.ts,
                thread_id=post.message_id,
                posted_at=time_of(message.ts),
                updated_at=slack_ctx.clock(),
            )
        )
        await session.flush()  # the INSERT is in, not yet committed

        async def commit_soon() -> None:
            await asyncio.sleep(0.3)
            await session_cm.__aexit__(None, None, None)

        pending.append(asyncio.create_task(commit_soon()))
        return messages

    platform.fetch_thread = read_while_the_event_is_stored  # type: ignore[method-assign]
    try:
        await reconcile_thread(slack_ctx, post)
    finally:
        await asyncio.gather(*pending)
        await other.dispose()
    async with slack_ctx.db.read() as session:
        texts = (await session.scalars(select(Reply.text))).all()
    assert texts == ["posted just now"]


async def test_reconciled_replies_are_stored_as_typed_not_in_slacks_escaped_form(
    slack_ctx: Context, fake: FakeSlack
) -> None:
    post = await question(slack_ctx)
    assert post.message_id
    # The fake keeps text as given: give it Slack's wire form.
    fake.add_message("C1", "R&amp;D &lt;matters&gt; <@U2>", user="U1", thread_ts=post.message_id)
    await reconcile_thread(slack_ctx, post)
    async with slack_ctx.db.read() as session:
        texts = (await session.scalars(select(Reply.text))).all()
    assert texts == ["R&D <matters> <@U2>"]


async def test_reconcile_tombstones_what_it_drops_and_skips_erased_users(
    slack_ctx: Context, fake: FakeSlack
) -> None:
    post = await question(slack_ctx)
    assert post.message_id
    gone = fake.add_message("C1", "gone", user="U1", thread_ts=post.message_id)
    await record_reply(slack_ctx, reply_change("C1", post.message_id, gone.ts, "U1", gone.text))
    fake.delete_message("C1", gone.ts)  # and the deletion event was lost
    fake.add_message("C1", "from an erased user", user="U2", thread_ts=post.message_id)
    await forget_user(slack_ctx, "U2")
    result = await reconcile_thread(slack_ctx, post)
    assert (result.added, result.removed) == (0, 1)
    assert await stored(slack_ctx) == {}
    # A replay of the lost message's original event does not bring it back.
    replay = reply_change("C1", post.message_id, gone.ts, "U1", gone.text, event_id="EvReplay")
    assert await record_reply(slack_ctx, replay) is False
    assert set(await tombstones(slack_ctx)) == {("C1", gone.ts)}


async def test_uninstalling_the_only_workspace_leaves_no_erasure_records_or_tombstones(
    sqlite_url, make_context
) -> None:
    from sqlalchemy import func, select

    from bot.services.privacy import forget_user
    from bot.store.models import ErasedUser, ReplyTombstone

    ctx = await make_context(sqlite_url)
    await forget_user(ctx, "U1")
    await record_deletion(ctx, "C9", "1700000000.000100")
    await purge_workspace(ctx, "slack", "T1")
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(ErasedUser)) == 0
        assert await session.scalar(select(func.count()).select_from(ReplyTombstone)) == 0
