"""Which workspace a channel is in, so that one workspace's admins never read or change
another's settings (many Slack workspaces on one deployment; a Teams team is a workspace too).

A channel's workspace is recorded with it (from the command, the install, or the platform);
a channel with none recorded (set up from the CLI) is nobody's to refuse.
"""

from __future__ import annotations

from sqlalchemy import select

from bot.services.context import Context
from bot.store.models import Channel


async def channel_workspace(ctx: Context, channel_id: str) -> str | None:
    async with ctx.db.read() as session:
        return await session.scalar(select(Channel.workspace_id).where(Channel.id == channel_id))


async def is_foreign(ctx: Context, channel_id: str, workspace_id: str | None) -> bool:
    """Whether the channel is recorded in a workspace other than `workspace_id` (None: the
    console or the CLI, which see every workspace)."""
    if workspace_id is None:
        return False
    return foreign(await channel_workspace(ctx, channel_id), workspace_id)


def foreign(recorded: str | None, workspace_id: str | None) -> bool:
    """`is_foreign` for a channel whose recorded workspace is already read."""
    return workspace_id is not None and recorded is not None and recorded != workspace_id


async def several_workspaces(ctx: Context) -> bool:
    """Whether this deployment serves more than one workspace (on any platform): then what
    applies to every channel is the operator's to set, from the CLI, not one workspace's."""
    # Imported here: the Slack installations are a store detail only this check needs.
    from bot.store.models_slack import SlackInstallation

    async with ctx.db.read() as session:
        known = set(
            await session.scalars(
                select(Channel.workspace_id).where(Channel.workspace_id.is_not(None)).distinct()
            )
        )
        known.update(await session.scalars(select(SlackInstallation.team_id)))
    return len(known) > 1


async def refuses_every_channel(ctx: Context, workspace_id: str | None) -> bool:
    """Whether a chat command from `workspace_id` may not set or undo something for every
    channel (it would reach other workspaces)."""
    return workspace_id is not None and await several_workspaces(ctx)
