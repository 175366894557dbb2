"""Quiet periods: declared by an admin, consulted by the outbox before each post.

The outbox records a held post as `held` with the period's reason (shown by `leaderbot
schedules`); a held question does not count as asked, so the rotation carries on after the
period with the question that was held. Held digests can be sent afterwards with one command
(`release_held_digests`); held questions and alerts are not replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update

from bot.domain.quiet import QuietError, QuietPeriod, check_dates
from bot.services import audit
from bot.services.context import Context
from bot.store.models import Post, QuietPeriodRow

HELD = "held"


def _period(row: QuietPeriodRow) -> QuietPeriod:
    return QuietPeriod(
        id=row.id,
        first_day=row.first_day,
        last_day=row.last_day,
        channel_id=row.channel_id,
        holds=tuple(part for part in row.holds.split(",") if part),
        reason=row.reason,
    )


def local_day(ctx: Context, moment: datetime) -> date:
    """The day a post is due, in the bot's time zone (the council's calendar)."""
    return moment.astimezone(ZoneInfo(ctx.settings.timezone)).date()


async def add_period(
    ctx: Context,
    *,
    first_day: date,
    last_day: date,
    channel_id: str | None,
    holds: tuple[str, ...],
    reason: str,
    actor: str,
) -> QuietPeriod:
    check_dates(first_day, last_day)
    reason = " ".join(reason.split())[:200] or "pre-election period"
    async with ctx.db.write() as session:
        row = QuietPeriodRow(
            first_day=first_day,
            last_day=last_day,
            channel_id=channel_id,
            holds=",".join(holds),
            reason=reason,
            created_by=actor,
            created_at=ctx.clock(),
        )
        session.add(row)
        await session.flush()
        period = _period(row)
        audit.record(
            session,
            ctx,
            actor=actor,
            action="quiet.add",
            channel_id=channel_id,
            before=None,
            after=_describe(period),
        )
    return period


async def remove_period(ctx: Context, period_id: int, *, actor: str) -> QuietPeriod:
    async with ctx.db.write() as session:
        row = await session.get(QuietPeriodRow, period_id)
        if row is None:
            raise QuietError(f"there is no quiet period {period_id}: `leaderbot quiet list`")
        period = _period(row)
        await session.execute(delete(QuietPeriodRow).where(QuietPeriodRow.id == period_id))
        audit.record(
            session,
            ctx,
            actor=actor,
            action="quiet.remove",
            channel_id=period.channel_id,
            before=_describe(period),
            after=None,
        )
    return period


async def periods(ctx: Context, *, ending_from: date | None = None) -> list[QuietPeriod]:
    """Every quiet period (those that end on or after `ending_from`, when given)."""
    async with ctx.db.read() as session:
        query = select(QuietPeriodRow).order_by(QuietPeriodRow.first_day, QuietPeriodRow.id)
        if ending_from is not None:
            query = query.where(QuietPeriodRow.last_day >= ending_from)
        return [_period(row) for row in (await session.scalars(query)).all()]


@dataclass(frozen=True)
class Released:
    keys: list[str]


async def release_held_digests(ctx: Context, *, channel_id: str | None, actor: str) -> Released:
    """Send the held digests (of one channel, or all) now: they go back to the outbox as
    due, and the next delivery sends them, exactly once like any other post."""
    now = ctx.clock()
    async with ctx.db.write() as session:
        query = select(Post.key).where(Post.kind == "digest", Post.status == HELD)
        if channel_id is not None:
            query = query.where(Post.channel_id == channel_id)
        keys = list((await session.scalars(query)).all())
        if keys:
            await session.execute(
                update(Post)
                .where(Post.key.in_(keys), Post.status == HELD)
                .values(status="pending", due_at=now, retry_at=None, error=None, attempts=0)
                .execution_options(synchronize_session=False)
            )
            audit.record(
                session,
                ctx,
                actor=actor,
                action="quiet.release",
                channel_id=channel_id,
                before=None,
                after={"digests": len(keys)},
            )
    return Released(keys)


def _describe(period: QuietPeriod) -> dict[str, object]:
    return {
        "id": period.id,
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "channel": period.channel_id or "all",
        "holds": list(period.holds),
        "reason": period.reason,
    }
