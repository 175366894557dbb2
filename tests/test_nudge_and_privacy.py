"""Nudges in quiet threads, and data protection: retention, export, erasure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.platforms.console.platform import ConsolePlatform
from bot.scheduling.jobs import tick
from bot.services import schedules
from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_thread
from bot.services.digest import build_channel_digest, window_ending
from bot.services.privacy import export_user, forget_user, purge_expired
from bot.store.models import AuditEntry, ChatUser, Post, Reply
from tests.conftest import LEADERS
from tests.platforms import only_platform
from tests.replies import record_reply, reply_change

MONDAY_9 = datetime(2026, 1, 19, 9, 0, 5, tzinfo=UTC)


async def _asked(ctx, clock, *, nudge_days: int | None = 2) -> Post:
    await schedules.set_schedule(
        ctx, "general", weekday=0, time="09:00", nudge_after_days=nudge_days
    )
    clock.set(MONDAY_9)
    await tick(ctx)
    async with ctx.db.read() as session:
        return (await session.scalars(select(Post).where(Post.kind == "question"))).one()


def _nudges(ctx) -> list[str]:
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform)
    return [m.text for m in platform.messages["general"] if "gentle reminder" in m.text]


async def test_a_quiet_thread_gets_one_nudge_after_n_days(database_url, make_context, clock):
    ctx = await make_context(database_url)
    post = await _asked(ctx, clock)
    clock.advance(days=1, hours=23)
    await tick(ctx)
    assert _nudges(ctx) == []
    clock.advance(hours=2)
    await tick(ctx)
    await tick(ctx)
    assert len(_nudges(ctx)) == 1
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform)
    [nudge] = [m for m in platform.messages["general"] if "gentle reminder" in m.text]
    assert nudge.thread_id == post.message_id  # in the question's thread, not the channel


async def test_no_nudge_when_someone_replied(database_url, make_context, clock):
    ctx = await make_context(database_url)
    post = await _asked(ctx, clock)
    assert post.message_id is not None
    await record_reply(
        ctx, reply_change("general", post.message_id, f"{post.message_id}1", "U1", "We do.")
    )
    clock.advance(days=3)
    await tick(ctx)
    assert _nudges(ctx) == []


async def test_no_nudge_when_nudges_are_off(database_url, make_context, clock):
    ctx = await make_context(database_url)
    await _asked(ctx, clock, nudge_days=None)
    clock.advance(days=3)
    await tick(ctx)
    assert _nudges(ctx) == []


async def test_retention_export_and_forget(database_url, make_context, clock) -> None:
    ctx = await make_context(database_url)
    post = await _asked(ctx, clock)
    assert post.message_id is not None
    for n, user in enumerate(["U1", "U2", "U1"]):
        ts = f"{int(clock().timestamp())}.00000{n}"  # replies written "now" on the test clock
        await record_reply(ctx, reply_change("general", post.message_id, ts, user, f"r{n}"))
    async with ctx.db.write() as session:
        session.add(ChatUser(id="U1", display_name="Priya", fetched_at=clock()))

    exported = await export_user(ctx, "U1")
    assert exported["profile"]["display_name"] == "Priya"
    assert [r["text"] for r in exported["replies"]] == ["r0", "r2"]
    assert {r["question"] for r in exported["replies"]} == {"Q1"}
    json.dumps(exported)  # serialisable as it stands

    erased = await forget_user(ctx, "U1", actor="UADMIN")
    assert erased.replies == 2 and erased.profile
    assert (await export_user(ctx, "U1"))["replies"] == []
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count(Reply.id))) == 1
        entry = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.forget"))
        ).one()
    assert entry.actor == "UADMIN" and "r0" not in json.dumps(entry.after)

    clock.advance(days=364)
    assert await purge_expired(ctx) == 0
    clock.advance(days=2)
    assert await purge_expired(ctx) == 1
    async with ctx.db.read() as session:
        assert await session.scalar(select(func.count(Reply.id))) == 0


async def test_forgotten_replies_do_not_come_back_when_the_thread_is_reconciled(
    fake, sqlite_url, slack_context, clock
) -> None:
    """`forget --user` deletes the rows, but the messages are still in the Slack thread; the
    reconciliation before the next digest must not store them (or digest them) again."""
    fake.add_user("U1", "priya")
    ctx = await slack_context(sqlite_url)
    asked = await ask_and_deliver(ctx, LEADERS)
    assert asked.post.message_id
    fake.add_message(LEADERS, "my personal view", user="U1", thread_ts=asked.post.message_id)
    await reconcile_thread(ctx, asked.post)

    erased = await forget_user(ctx, "U1")
    assert erased.replies == 1

    # The next digest reconciles the thread first.
    window = window_ending(clock() + timedelta(minutes=1), "Europe/London")
    digest = await build_channel_digest(ctx, LEADERS, window)
    async with ctx.db.read() as session:
        stored = (await session.scalars(select(Reply).where(Reply.user_id == "U1"))).all()
    assert stored == [], "erased replies were stored again"
    assert digest.reply_count == 0, "erased replies went out in the digest"


def test_export_and_forget_on_the_command_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    out = run("export", "--user", "U404")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "user": "U404",
        "profile": None,
        "bot_admin": None,
        "replies": [],
    }
    out = run("forget", "--user", "U404")
    assert out.returncode == 0 and "erased 0 replies of U404" in out.stdout
    assert run("forget").returncode == 2
