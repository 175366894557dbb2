"""The people added with `admins add`: who they are, adding and removing them (audited).

Each is an admin of the workspace they were added in (`workspace_id`; None when added from
the CLI or the console, for every workspace): one workspace's admins never count in another.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.services import audit
from bot.services.context import Context
from bot.store.models import BotAdmin


async def is_bot_admin(ctx: Context, user_id: str, workspace_id: str | None = None) -> bool:
    """Whether they were added, for `workspace_id` (or for every workspace). With no
    workspace (the console, the CLI), anyone added counts."""
    async with ctx.db.read() as session:
        row = await session.get(BotAdmin, user_id)
    return counts_in(row, workspace_id)


def counts_in(row: BotAdmin | None, workspace_id: str | None) -> bool:
    """Whether an added admin's row (None: not added) counts for `workspace_id`."""
    if row is None:
        return False
    return workspace_id is None or row.workspace_id in (None, workspace_id)


async def list_bot_admins(ctx: Context, workspace_id: str | None = None) -> list[BotAdmin]:
    """Everyone added who counts in the workspace (everyone, with none), the earliest first."""
    query = select(BotAdmin).order_by(BotAdmin.added_at)
    if workspace_id is not None:
        query = query.where(
            (BotAdmin.workspace_id == workspace_id) | BotAdmin.workspace_id.is_(None)
        )
    async with ctx.db.read() as session:
        return list((await session.scalars(query)).all())


async def add_bot_admin(
    ctx: Context, user_id: str, *, actor: str, workspace_id: str | None = None
) -> bool:
    """Add to the workspace's admins (audited); False if they already were one."""
    async with ctx.db.write() as session:
        if await session.get(BotAdmin, user_id) is not None:
            return False
        session.add(
            BotAdmin(
                user_id=user_id, workspace_id=workspace_id, added_by=actor, added_at=ctx.clock()
            )
        )
        audit.record(
            session,
            ctx,
            actor=actor,
            action="admins.add",
            channel_id=None,
            before=None,
            after={"admin": user_id},
            workspace_id=workspace_id,
        )
    return True


async def remove_bot_admin(
    ctx: Context, user_id: str, *, actor: str, workspace_id: str | None = None
) -> bool:
    """Remove from the admins (audited); False if they were not one who counts in this
    workspace (an admin of another workspace is not this one's to remove)."""
    async with ctx.db.write() as session:
        row = await session.get(BotAdmin, user_id)
        if row is None or (
            workspace_id is not None and row.workspace_id not in (None, workspace_id)
        ):
            return False
        before = {"admin": row.user_id, "added_by": row.added_by}
        await session.delete(row)
        audit.record(
            session,
            ctx,
            actor=actor,
            action="admins.remove",
            channel_id=None,
            before=before,
            after=None,
            workspace_id=workspace_id,
        )
    return True
