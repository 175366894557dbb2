"""Pre-election quiet periods: what a period holds is recorded as held (visible, audited),
never posted and never lost; afterwards the rotation carries on and held digests can be sent."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.cli.core import _schedules
from bot.cli.quiet import quiet_add
from bot.domain.quiet import QuietError, parse_holds
from bot.platforms.console.platform import ConsolePlatform
from bot.scheduling.jobs import tick
from bot.services import quiet, schedules
from bot.store.models import AuditEntry, Post
from tests.platforms import only_platform

MON = 0


def posted(ctx: Any, channel: str = "general") -> list[str]:
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform)
    return [m.text.splitlines()[0] for m in platform.messages.get(channel, []) if m.is_bot]


async def rows(ctx: Any, kind: str) -> list[tuple[str, str, str | None]]:
    async with ctx.db.read() as session:
        query = select(Post).where(Post.kind == kind).order_by(Post.due_at)
        return [(p.status, p.question_id or "", p.error) for p in await session.scalars(query)]


async def test_a_quiet_period_holds_the_question_and_digest_and_the_rotation_carries_on(
    database_url: str, make_context: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = await make_context(database_url)
    await schedules.set_schedule(ctx, "general", weekday=MON, time="09:00")  # digest Fri 16:00
    await quiet.add_period(
        ctx,
        first_day=date(2026, 1, 19),
        last_day=date(2026, 1, 23),
        channel_id=None,
        holds=parse_holds(None),
        reason="local elections",
        actor="cli",
    )

    clock.set(datetime(2026, 1, 19, 9, 0, 30, tzinfo=UTC))  # Monday, in the period
    await tick(ctx)
    clock.set(datetime(2026, 1, 23, 16, 0, 30, tzinfo=UTC))  # Friday, in the period
    await tick(ctx)
    assert posted(ctx) == []
    assert await rows(ctx, "question") == [("held", "Q1", "held: local elections")]
    # (The Friday before the period went by with no tick: missed, as any bot down would.)
    assert [status for status, _, _ in await rows(ctx, "digest")] == ["missed", "held"]

    await _schedules(argparse.Namespace(), ctx)
    assert "held" in capsys.readouterr().out  # visible in `leaderbot schedules`

    clock.set(datetime(2026, 1, 26, 9, 1, tzinfo=UTC))  # the Monday after
    await tick(ctx)
    # The held question was never asked: the rotation carries on with it, no week replayed.
    assert posted(ctx) == ["Leadership question Q1 · Reimagining services"]
    assert [s for s, _, _ in await rows(ctx, "question")] == ["held", "sent"]

    released = await quiet.release_held_digests(ctx, channel_id=None, actor="cli")
    assert len(released.keys) == 1
    await tick(ctx)
    assert [s for s, _, _ in await rows(ctx, "digest")] == ["missed", "sent"]

    async with ctx.db.read() as session:
        actions = [e.action for e in await session.scalars(select(AuditEntry))]
    assert "quiet.add" in actions and "quiet.release" in actions


async def test_a_period_for_one_channel_and_one_kind_holds_only_that(
    database_url: str, make_context: Any, clock: Any
) -> None:
    ctx = await make_context(database_url)
    for channel in ("general", "other"):
        await schedules.set_schedule(ctx, channel, weekday=MON, time="09:00")
    await quiet.add_period(
        ctx,
        first_day=date(2026, 1, 19),
        last_day=date(2026, 1, 19),
        channel_id="general",
        holds=parse_holds("digests"),
        reason="purdah",
        actor="cli",
    )
    clock.set(datetime(2026, 1, 19, 9, 0, 30, tzinfo=UTC))
    await tick(ctx)
    assert len(posted(ctx, "general")) == 1 and len(posted(ctx, "other")) == 1


def test_bad_quiet_periods_say_what_to_type() -> None:
    with pytest.raises(QuietError, match="questions, digests, alerts"):
        parse_holds("questions,tweets")
    assert parse_holds("digests, questions") == ("questions", "digests")


async def test_the_cli_refuses_a_period_that_ends_before_it_starts(
    sqlite_url: str, make_context: Any
) -> None:
    from bot.cli.common import UsageError

    ctx = await make_context(sqlite_url)
    args = argparse.Namespace(
        first_day=date(2027, 5, 6),
        last_day=date(2027, 3, 25),
        channel=None,
        all=True,
        hold=None,
        reason="elections",
    )
    with pytest.raises(UsageError, match=r"ends .* before it starts"):
        await quiet_add(args, ctx)
