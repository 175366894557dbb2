"""Data protection: retention, subject access, erasure, and purge on uninstall.

What is personal here: replies (text and author), the cached display names, processed
event ids (no content), and the ids of erased users (kept so that the erasure stays done).
Tombstones of deleted messages hold only a channel and a ts, and go after 30 days. Digests
already sent live in the chat platform, not here. An uninstall also takes the audit entries
about the workspace's channels, by its people or naming them, and its processed event ids.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select

from bot.services import audit
from bot.services.collect import forget_old_events, forget_old_tombstones
from bot.services.context import Context
from bot.store.models import (
    AuditEntry,
    BotAdmin,
    Channel,
    ChatUser,
    ErasedUser,
    Post,
    ProcessedEvent,
    Reply,
    ReplyTombstone,
)
from bot.store.models_console import ConsoleMessageRow
from bot.store.models_feeds import Feed
from bot.store.models_slack import SlackInstallation

log = logging.getLogger(__name__)


async def purge_expired(ctx: Context) -> int:
    """Delete replies older than the retention period (LEADERBOT_RETENTION_DAYS); forget
    processed event ids and tombstones once no late copy of those events can come."""
    cutoff = ctx.clock() - timedelta(days=ctx.settings.retention_days)
    async with ctx.db.write() as session:
        result = await session.execute(delete(Reply).where(Reply.posted_at < cutoff))
        # People's console messages go with the replies (the bot's own posts stay).
        await session.execute(
            delete(ConsoleMessageRow).where(
                ConsoleMessageRow.posted_at < cutoff, ConsoleMessageRow.user_id.is_not(None)
            )
        )
    removed = int(result.rowcount or 0)
    await forget_old_events(ctx)
    await forget_old_tombstones(ctx)
    if removed:
        log.info("retention: deleted %d replies older than %s", removed, cutoff.date())
    return removed


async def export_user(ctx: Context, user_id: str) -> dict[str, Any]:
    """Everything stored about one user (subject access request)."""
    async with ctx.db.read() as session:
        user = await session.get(ChatUser, user_id)
        replies = (
            await session.execute(
                select(Reply, Post.question_id)
                .join(Post, Post.id == Reply.post_id)
                .where(Reply.user_id == user_id)
                .order_by(Reply.posted_at)
            )
        ).all()
        admin = await session.get(BotAdmin, user_id)
    return {
        "user": user_id,
        "profile": None
        if user is None
        else {
            "display_name": user.display_name,
            "workspace_id": user.workspace_id,
            "fetched_at": user.fetched_at.isoformat(),
        },
        "bot_admin": None if admin is None else {"added_at": admin.added_at.isoformat()},
        "replies": [
            {
                "channel": r.channel_id,
                "question": qid,
                "text": r.text,
                "ts": r.message_id,
                "edited": r.edited,
                "posted_at": r.posted_at.isoformat(),
            }
            for r, qid in replies
        ],
    }


@dataclass
class Erasure:
    replies: int = 0
    profile: bool = False
    channels: list[str] = field(default_factory=list)
    audit_entries: int = 0


def _names(value: Any, people: set[str]) -> bool:
    """Whether an audit entry's before/after (JSON) holds one of these user ids."""
    if isinstance(value, str):
        return value in people
    if isinstance(value, dict):
        return any(_names(v, people) for v in value.values())
    if isinstance(value, list):
        return any(_names(v, people) for v in value)
    return False


async def _purge_audit(
    session: Any, channels: list[str], people: set[str], workspace_id: str | None = None
) -> int:
    """Delete the audit entries about these channels, made in the workspace, by these
    people, or naming them."""
    doomed: set[int] = set()
    if workspace_id is not None:
        doomed.update(
            (
                await session.scalars(
                    select(AuditEntry.id).where(AuditEntry.workspace_id == workspace_id)
                )
            ).all()
        )
    if channels:
        doomed.update(
            (
                await session.scalars(
                    select(AuditEntry.id).where(AuditEntry.channel_id.in_(channels))
                )
            ).all()
        )
    if people:
        doomed.update(
            (await session.scalars(select(AuditEntry.id).where(AuditEntry.actor.in_(people)))).all()
        )
        rows = await session.execute(select(AuditEntry.id, AuditEntry.before, AuditEntry.after))
        doomed.update(
            entry_id
            for entry_id, before, after in rows.all()
            if entry_id not in doomed and (_names(before, people) or _names(after, people))
        )
    ids = sorted(doomed)
    for start in range(0, len(ids), 500):
        await session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids[start : start + 500])))
    return len(ids)


async def forget_user(ctx: Context, user_id: str, *, actor: str = "cli") -> Erasure:
    """Erase a user's replies and cached profile (right to erasure). The audit log keeps
    that an erasure happened, not what was erased.

    Their messages are still in the chat platform's threads, so the user is also recorded in
    `erased_users`, and nothing of theirs is stored again: not from reconciling a thread, not
    from a late or replayed event. That holds for messages they post after the erasure too:
    the erasure is the user's wish, and the bot does not decide on their behalf that it has
    lapsed. (To take part again, an operator deletes their `erased_users` row.) Forgetting an
    already erased user again keeps the first erased_at."""
    out = Erasure()
    async with ctx.db.write() as session:
        if await session.get(ErasedUser, user_id) is None:
            session.add(ErasedUser(user_id=user_id, erased_at=ctx.clock()))
        result = await session.execute(delete(Reply).where(Reply.user_id == user_id))
        out.replies = int(result.rowcount or 0)
        # The console keeps its messages in our database: they are ours to erase too.
        await session.execute(delete(ConsoleMessageRow).where(ConsoleMessageRow.user_id == user_id))
        profile = await session.get(ChatUser, user_id)
        workspace_id = profile.workspace_id if profile is not None else None
        if profile is not None:
            await session.delete(profile)
            out.profile = True
        audit.record(
            session,
            ctx,
            actor=actor,
            action="privacy.forget",
            channel_id=None,
            before=None,
            after={"user": user_id, "replies_deleted": out.replies},
            # Seen only by the admins of the person's workspace (it names them).
            workspace_id=workspace_id,
        )
    return out


async def purge_workspace(ctx: Context, platform: str, workspace_id: str) -> Erasure:
    """The app was uninstalled (or its tokens revoked, or the team deleted): drop that
    workspace's data."""
    out = Erasure()
    async with ctx.db.write() as session:
        # A single-workspace install may not know a channel's workspace (set from the CLI);
        # its channels on that platform all belong to the workspace that uninstalled. With
        # other workspaces still there, such a channel may be theirs: it stays.
        others = await session.scalar(
            select(func.count(Channel.id)).where(
                Channel.platform == platform,
                Channel.workspace_id.is_not(None),
                Channel.workspace_id != workspace_id,
            )
        )
        if platform == "slack":
            others = (others or 0) + (
                await session.scalar(
                    select(func.count(SlackInstallation.team_id)).where(
                        SlackInstallation.team_id != workspace_id
                    )
                )
                or 0
            )
        owned = Channel.workspace_id == workspace_id
        if not others:
            owned = owned | (Channel.workspace_id.is_(None) & (Channel.platform == platform))
        channels = list((await session.scalars(select(Channel.id).where(owned))).all())
        # The workspace's people, before their rows go: for the audit entries that name them.
        people = set(
            (
                await session.scalars(
                    select(ChatUser.id).where(ChatUser.workspace_id == workspace_id)
                )
            ).all()
        )
        people.update(
            (
                await session.scalars(
                    select(Reply.user_id).where(
                        (Reply.workspace_id == workspace_id) | Reply.channel_id.in_(channels)
                    )
                )
            ).all()
        )
        result = await session.execute(
            delete(Reply).where(
                (Reply.workspace_id == workspace_id) | Reply.channel_id.in_(channels)
            )
        )
        out.replies = int(result.rowcount or 0)
        await session.execute(delete(ChatUser).where(ChatUser.workspace_id == workspace_id))
        if channels:
            await session.execute(
                delete(ReplyTombstone).where(ReplyTombstone.channel_id.in_(channels))
            )
            await session.execute(delete(Post).where(Post.channel_id.in_(channels)))
            # The feeds added for those channels (feeds for every channel stay).
            await session.execute(delete(Feed).where(Feed.channel_id.in_(channels)))
            await session.execute(delete(Channel).where(Channel.id.in_(channels)))
        out.channels = channels
        out.audit_entries = await _purge_audit(session, channels, people, workspace_id)
        await session.execute(delete(BotAdmin).where(BotAdmin.workspace_id == workspace_id))
        if people:
            await session.execute(delete(BotAdmin).where(BotAdmin.user_id.in_(people)))
        if platform == "slack":
            # Its installation, and the tokens with it.
            await session.execute(
                delete(SlackInstallation).where(SlackInstallation.team_id == workspace_id)
            )
        # Commands and interactions seen from this workspace (ids `cmd:<workspace>:…`).
        await session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.event_id.startswith(f"cmd:{workspace_id}:"))
        )
        # Erasure records, tombstones and event ids carry no workspace. When no workspace is
        # left on any platform (the usual single-workspace install), nothing needs them: drop
        # them all.
        remaining = await session.scalar(select(func.count(Channel.id)))
        if not remaining:
            await session.execute(delete(ReplyTombstone))
            await session.execute(delete(ErasedUser))
            await session.execute(delete(ProcessedEvent))
    log.info(
        "purged workspace %s: %d replies, %d channels, %d audit entries",
        workspace_id,
        out.replies,
        len(channels),
        out.audit_entries,
    )
    return out
