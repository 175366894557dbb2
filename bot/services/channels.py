"""Channels the bot serves."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import Context
from bot.store.models import Channel


async def ensure_channel(
    session: AsyncSession,
    ctx: Context,
    channel_id: str,
    *,
    name: str | None = None,
    team_id: str | None = None,
) -> Channel:
    channel = await session.get(Channel, channel_id)
    if channel is None:
        channel = Channel(
            id=channel_id,
            platform=ctx.platform.name,
            name=name,
            team_id=team_id,
            alerts_enabled=False,
            created_at=ctx.clock(),
        )
        session.add(channel)
        await session.flush()
    elif name and channel.name != name:
        channel.name = name
    return channel
