"""The audit log: every admin change, who, what, when, before -> after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import Context
from bot.store.models import AuditEntry


def record(
    session: AsyncSession,
    ctx: Context,
    *,
    actor: str,
    action: str,
    channel_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Add an entry in the caller's transaction, so the change and its record stand or fall
    together."""
    session.add(
        AuditEntry(
            at=ctx.clock(),
            actor=actor,
            action=action,
            channel_id=channel_id,
            before=before,
            after=after,
        )
    )


async def recent(ctx: Context, limit: int = 50) -> list[AuditEntry]:
    async with ctx.db.read() as session:
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        return list((await session.scalars(query.limit(limit))).all())
