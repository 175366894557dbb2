"""Building reply changes in tests: the port's events, with a Slack-like message id whose
time is the message's posting time (as the Slack adapter derives it)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.port import ReplyDeleted, ReplyEdited, ReplyPosted
from bot.services import collect
from bot.services.context import Context


def time_of(message_id: str) -> datetime:
    return datetime.fromtimestamp(float(message_id), UTC)


def reply_change(
    channel_id: str,
    thread_id: str,
    message_id: str,
    user_id: str,
    text: str,
    *,
    edited: bool = False,
    workspace_id: str | None = None,
    event_id: str | None = None,
    edited_at: datetime | None = None,
) -> ReplyPosted | ReplyEdited:
    fields = {
        "channel_id": channel_id,
        "thread_id": thread_id,
        "message_id": message_id,
        "user_id": user_id,
        "text": text,
        "posted_at": time_of(message_id),
        "workspace_id": workspace_id,
        "event_id": event_id,
    }
    if edited:
        return ReplyEdited(**fields, edited_at=edited_at)
    return ReplyPosted(**fields)


def deletion(channel_id: str, message_id: str, event_id: str | None = None) -> ReplyDeleted:
    return ReplyDeleted(channel_id=channel_id, message_id=message_id, event_id=event_id)


async def record_reply(ctx: Context, change: ReplyPosted | ReplyEdited) -> bool:
    return await collect.record(ctx, change)


async def record_deletion(
    ctx: Context, channel_id: str, message_id: str, *, event_id: str | None = None
) -> bool:
    return await collect.record(ctx, deletion(channel_id, message_id, event_id))
