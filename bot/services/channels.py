"""Channels the bot serves."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.port import Installed
from bot.services.context import Context
from bot.store.models import Channel


async def ensure_channel(
    session: AsyncSession,
    ctx: Context,
    channel_id: str,
    *,
    name: str | None = None,
    workspace_id: str | None = None,
) -> Channel:
    channel = await session.get(Channel, channel_id)
    if channel is None:
        channel = Channel(
            id=channel_id,
            platform=ctx.platform_for(channel_id).name,
            name=name,
            workspace_id=workspace_id,
            alerts_enabled=False,
            created_at=ctx.clock(),
        )
        session.add(channel)
        await session.flush()
    elif name and channel.name != name:
        channel.name = name
    return channel


async def record_workspace_channels(ctx: Context, event: Installed) -> None:
    """The channels a platform reported when the app was installed in a workspace."""
    async with ctx.db.write() as session:
        for channel_id in event.channel_ids:
            channel = await ensure_channel(
                session, ctx, channel_id, workspace_id=event.workspace_id
            )
            channel.workspace_id = channel.workspace_id or event.workspace_id
