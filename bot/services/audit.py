"""The audit log: every admin change, who, what, when, before -> after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import Context
from bot.store.models import AuditEntry, Channel


def record(
    session: AsyncSession,
    ctx: Context,
    *,
    actor: str,
    action: str,
    channel_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    workspace_id: str | None = None,
) -> None:
    """Add an entry in the caller's transaction, so the change and its record stand or fall
    together. Its workspace: the one given (where a chat command came from), else the
    channel's, read by the INSERT itself."""
    workspace: Any = workspace_id
    if workspace is None and channel_id is not None:
        workspace = select(Channel.workspace_id).where(Channel.id == channel_id).scalar_subquery()
    session.add(
        AuditEntry(
            at=ctx.clock(),
            actor=actor,
            action=action,
            channel_id=channel_id,
            workspace_id=workspace,
            before=before,
            after=after,
        )
    )


async def recent(ctx: Context, limit: int = 50) -> list[AuditEntry]:
    """The newest entries of every workspace: the operator's view (`leaderbot audit`)."""
    async with ctx.db.read() as session:
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        return list((await session.scalars(query.limit(limit))).all())
