"""The people added with `admins add`: who they are, adding and removing them (audited)."""

from __future__ import annotations

from sqlalchemy import select

from bot.services import audit
from bot.services.context import Context
from bot.store.models import BotAdmin


async def is_bot_admin(ctx: Context, user_id: str) -> bool:
    async with ctx.db.read() as session:
        return await session.get(BotAdmin, user_id) is not None


async def list_bot_admins(ctx: Context) -> list[BotAdmin]:
    """Everyone added, the earliest first."""
    async with ctx.db.read() as session:
        return list((await session.scalars(select(BotAdmin).order_by(BotAdmin.added_at))).all())


async def add_bot_admin(ctx: Context, user_id: str, *, actor: str) -> bool:
    """Add to the admins (audited); False if they already were one."""
    async with ctx.db.write() as session:
        if await session.get(BotAdmin, user_id) is not None:
            return False
        session.add(BotAdmin(user_id=user_id, added_by=actor, added_at=ctx.clock()))
        audit.record(
            session,
            ctx,
            actor=actor,
            action="admins.add",
            channel_id=None,
            before=None,
            after={"admin": user_id},
        )
    return True


async def remove_bot_admin(ctx: Context, user_id: str, *, actor: str) -> bool:
    """Remove from the admins (audited); False if they were not one."""
    async with ctx.db.write() as session:
        row = await session.get(BotAdmin, user_id)
        if row is None:
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
        )
    return True
