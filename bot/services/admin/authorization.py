"""May this person change settings? What the platform says about them (cached for a minute at
most, refused when it cannot say: fail closed), the allowlist and the added admins decide
(the rules themselves are in `bot.domain.permissions`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.domain.command_grammar import Command
from bot.domain.content import UserInfo
from bot.domain.permissions import READING, Decision, decide_admin, decide_command
from bot.port import ChatPlatform, PlatformError
from bot.services.admin.bot_admins import counts_in
from bot.services.context import Context
from bot.store.models import BotAdmin, ChatUser

log = logging.getLogger(__name__)

# A role looked up this recently is trusted; older, users.info is asked again. Short, so a
# demoted admin loses access within a minute, and a burst of commands costs one lookup.
ROLE_CACHE_TTL = timedelta(seconds=60)


async def who_is(
    ctx: Context, user_id: str, platform: ChatPlatform, channel_id: str | None = None
) -> tuple[UserInfo | None, str | None]:
    """What the platform says about a user where `channel_id` is (a fresh cache entry will do
    where standing is one per workspace), or why it can't say. A stale entry is never used:
    refusing is better than a stale yes."""
    cached = None
    if not platform.standing_depends_on_channel:
        async with ctx.db.read() as session:
            cached = await session.get(ChatUser, user_id)
    return await _who_is(ctx, user_id, platform, channel_id, cached)


async def _who_is(
    ctx: Context,
    user_id: str,
    platform: ChatPlatform,
    channel_id: str | None,
    cached: ChatUser | None,
) -> tuple[UserInfo | None, str | None]:
    """`who_is`, given the user's cache entry (None: none, or not to be used here)."""
    if (
        cached is not None
        and not platform.standing_depends_on_channel
        and cached.fetched_at >= ctx.clock() - ROLE_CACHE_TTL
    ):
        return _from_cache(cached), None
    try:
        info = await platform.user_info(user_id, channel_id=channel_id)
    except PlatformError as exc:
        log.warning("users.info for %s failed: %s", user_id, exc)
        return None, str(exc)
    await _remember(ctx, info)
    return info, None


def _from_cache(row: ChatUser) -> UserInfo:
    return UserInfo(
        id=row.id,
        display_name=row.display_name,
        is_admin=row.is_admin,
        is_owner=row.is_owner,
        is_guest=row.is_guest,
        is_bot=row.is_bot,
        deleted=row.deleted,
        workspace_id=row.workspace_id,
    )


def _to_cache(info: UserInfo, fetched_at: datetime) -> ChatUser:
    return ChatUser(
        id=info.id,
        workspace_id=info.workspace_id,
        display_name=info.display_name or info.id,
        is_admin=info.is_admin,
        is_owner=info.is_owner,
        is_guest=info.is_guest,
        is_bot=info.is_bot,
        deleted=info.deleted,
        fetched_at=fetched_at,
    )


async def _remember(ctx: Context, info: UserInfo) -> None:
    try:
        async with ctx.db.write() as session:
            await session.merge(_to_cache(info, ctx.clock()))
    except SQLAlchemyError as exc:  # a cache: two lookups racing to insert is harmless
        log.info("could not cache user %s: %s", info.id, exc)


async def _standing(
    ctx: Context,
    user_id: str,
    platform: ChatPlatform,
    channel_id: str | None = None,
    workspace_id: str | None = None,
) -> tuple[UserInfo | None, dict[str, Any]]:
    """The user as the platform sees them, and the rest of what the rules decide on. Those
    added with `admins add` count in the workspace they were added in (`workspace_id`: where
    the command came from)."""
    # The user's cache entry and whether they were added as an admin, in one read.
    async with ctx.db.read() as session:
        cached = (
            None if platform.standing_depends_on_channel else await session.get(ChatUser, user_id)
        )
        added = await session.get(BotAdmin, user_id)
    user, error = await _who_is(ctx, user_id, platform, channel_id, cached)
    listed = {user_id} if counts_in(added, workspace_id) else set()
    return user, {
        "user_id": user_id,
        "allowlist": ctx.settings.admins,
        "bot_admins": listed,
        "lookup_error": error,
    }


async def admin_decision(
    ctx: Context,
    user_id: str,
    platform: ChatPlatform,
    *,
    platform_label: str | None = None,
    workspace_id: str | None = None,
) -> Decision:
    """May this person change settings? (The App Home asks before showing buttons.)
    `platform_label` names the platform in a refusal ("your Slack role")."""
    user, facts = await _standing(ctx, user_id, platform, workspace_id=workspace_id)
    return decide_admin(user, **facts, platform_label=platform_label)


async def authorize(
    ctx: Context,
    command: Command,
    user_id: str,
    platform: ChatPlatform,
    *,
    channel_id: str | None = None,
    platform_label: str | None = None,
    workspace_id: str | None = None,
) -> Decision:
    """May this person make this change in `channel_id` (where their standing is asked)?"""
    if not command.changes:
        return Decision(True, READING)  # no lookup: reading works even when users.info is down
    user, facts = await _standing(ctx, user_id, platform, channel_id, workspace_id)
    return decide_command(command, user, **facts, platform_label=platform_label)
