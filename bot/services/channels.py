"""Channels the bot serves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.language import DEFAULT_LANGUAGE, Language, coerce_language
from bot.port import Installed
from bot.services import audit
from bot.services.context import Context
from bot.store.models import Channel

_CHUNK = 500  # ids per IN (...) query


async def ensure_channel(
    session: AsyncSession,
    ctx: Context,
    channel_id: str,
    *,
    name: str | None = None,
    workspace_id: str | None = None,
) -> Channel:
    """The channel's row, recorded if new, with its name and workspace brought up to date
    (uninstall purges by workspace)."""
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
    else:
        if name and channel.name != name:
            channel.name = name
        if channel.workspace_id is None and workspace_id:
            channel.workspace_id = workspace_id  # a workspace already recorded stays
    return channel


async def record_workspace_channels(ctx: Context, event: Installed) -> None:
    """The channels a platform reported when the app was installed in a workspace."""
    async with ctx.db.write() as session:
        for channel_id in event.channel_ids:
            channel = await ensure_channel(
                session, ctx, channel_id, workspace_id=event.workspace_id
            )
            channel.workspace_id = channel.workspace_id or event.workspace_id


async def languages(ctx: Context, channel_ids: Iterable[str]) -> dict[str, Language]:
    """The language of each channel that is not written in English (one query per chunk);
    a channel missing from the answer is English."""
    wanted = sorted(set(channel_ids))
    found: dict[str, Language] = {}
    async with ctx.db.read() as session:
        for i in range(0, len(wanted), _CHUNK):
            rows = await session.execute(
                select(Channel.id, Channel.language).where(
                    Channel.id.in_(wanted[i : i + _CHUNK]), Channel.language != DEFAULT_LANGUAGE
                )
            )
            found.update((cid, coerce_language(lang)) for cid, lang in rows.all())
    return found


async def language_of(ctx: Context, channel_id: str) -> Language:
    return (await languages(ctx, [channel_id])).get(channel_id, DEFAULT_LANGUAGE)


@dataclass(frozen=True)
class ChannelFacts:
    """What a command needs to know of the channel it was typed in before anything else."""

    language: Language = DEFAULT_LANGUAGE
    workspace_id: str | None = None  # the workspace it is recorded in, if any


async def facts_of(ctx: Context, channel_id: str) -> ChannelFacts:
    """The channel's language and recorded workspace, in one query (English and none for a
    channel not recorded)."""
    async with ctx.db.read() as session:
        row = (
            await session.execute(
                select(Channel.language, Channel.workspace_id).where(Channel.id == channel_id)
            )
        ).first()
    if row is None:
        return ChannelFacts()
    return ChannelFacts(coerce_language(row.language), row.workspace_id)


async def set_language(
    ctx: Context, channel_id: str, language: Language, *, actor: str
) -> Language:
    """Set what the bot writes in a channel (audited as `actor` when it changes); returns the
    language it had before."""
    async with ctx.db.write() as session:
        channel = await ensure_channel(session, ctx, channel_id)
        before = coerce_language(channel.language)
        channel.language = language
        if before != language:
            audit.record(
                session,
                ctx,
                actor=actor,
                action="language",
                channel_id=channel_id,
                before={"language": before},
                after={"language": language},
            )
    return before
