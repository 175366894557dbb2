"""Slack events: replies in question threads (new, edited, deleted), and uninstalls.

Bolt acks an Events API request as soon as a listener matches (process_before_response is
False), then runs the listener as a task. A reply must be stored before it is acked (a crash
after the ack would lose it), so message events are parsed and stored in the listener's
middleware, which Bolt runs before the ack; the reply writer commits in groups, so this costs a
few milliseconds. If storing fails, Bolt answers 500 and Slack retries (the event id dedupes).

Retries (X-Slack-Retry-Num) and replays carry the same event_id and are stored once; the
same message under another event id is stored once too (unique channel+ts). A malformed event
is logged and dropped: it has been acked, and raising would only make Bolt log a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.platforms.slack.text import ts_to_datetime, unescape
from bot.port import ReplyDeleted, ReplyEdited, ReplyPosted, Uninstalled
from bot.services.inbound import Inbound

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)

# Subtypes that are a person's message: plain, "also send to channel", with a file.
REPLY_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})
# Subtypes of a changed message that are not a person's reply (a deleted parent, a bot).
NOT_REPLIES = frozenset({"tombstone", "bot_message"})

_TS = re.compile(r"\d{1,12}\.\d{1,9}")
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_EVENT_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class Malformed(ValueError):
    """An event without the fields its type promises."""


def _field(data: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Malformed(f"{name} missing or invalid")
    return value


def _optional(data: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Malformed(f"{name} invalid")
    return value


def _is_bot(message: dict[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def _reply(
    message: dict[str, Any], channel_id: str, *, team_id: str | None, event_id: str | None
) -> ReplyPosted | ReplyEdited | None:
    """A person's message in a thread, or None (a bot, a thread parent, the channel itself)."""
    if _is_bot(message) or message.get("subtype") in NOT_REPLIES:
        return None
    ts = _field(message, "ts", _TS)
    thread_ts = _optional(message, "thread_ts", _TS)
    if thread_ts is None or thread_ts == ts:
        return None  # top level, or the parent of a thread
    text = message.get("text", "")
    if not isinstance(text, str):
        raise Malformed("text is not a string")
    posted_at = ts_to_datetime(ts)
    if posted_at is None:
        raise Malformed("ts out of range")
    fields: dict[str, Any] = {
        "channel_id": channel_id,
        "thread_id": thread_ts,
        "message_id": ts,
        "user_id": _field(message, "user", _ID),
        "text": unescape(text),  # stored as typed, not in Slack's escaped wire form
        "posted_at": posted_at,
        "workspace_id": team_id,
        "event_id": event_id,
    }
    # message_changed also fires for unfurls and reply counts; only `edited` is an edit.
    edited = message.get("edited")
    if not edited:
        return ReplyPosted(**fields)
    edited_ts = edited.get("ts") if isinstance(edited, dict) else None
    edited_at = ts_to_datetime(edited_ts) if isinstance(edited_ts, str) else None
    return ReplyEdited(**fields, edited_at=edited_at)


def parse_message_event(
    body: dict[str, Any],
) -> ReplyPosted | ReplyEdited | ReplyDeleted | None:
    """What a `message` event means for the replies: a reply, a deletion, or nothing.
    Raises Malformed when the event lacks what its subtype needs."""
    event = body.get("event")
    if not isinstance(event, dict):
        raise Malformed("event is not an object")
    event_id = _optional(body, "event_id", _EVENT_ID)
    team_id = _optional(body, "team_id", _ID) or _optional(event, "team", _ID)
    subtype = event.get("subtype")
    if subtype == "message_deleted":
        return ReplyDeleted(
            channel_id=_field(event, "channel", _ID),
            message_id=_field(event, "deleted_ts", _TS),
            event_id=event_id,
        )
    if subtype == "message_changed":
        inner = event.get("message")
        if not isinstance(inner, dict):
            raise Malformed("message_changed without the message")
        return _reply(inner, _field(event, "channel", _ID), team_id=team_id, event_id=event_id)
    if subtype not in REPLY_SUBTYPES:
        return None  # channel_join, bot_message, channel_topic...
    return _reply(event, _field(event, "channel", _ID), team_id=team_id, event_id=event_id)


def _describe(body: Any) -> str:
    """Enough to find the event in Slack's logs, nothing of its content."""
    if not isinstance(body, dict):
        return type(body).__name__
    event = body.get("event")
    kind = event.get("type") if isinstance(event, dict) else None
    subtype = event.get("subtype") if isinstance(event, dict) else None
    return f"event_id={body.get('event_id')!r} type={kind!r} subtype={subtype!r}"


def is_message_callback(payload: dict[str, Any]) -> bool:
    """Whether an Events API envelope carries a `message` event (a reply, edit or deletion)."""
    event = payload.get("event")
    return (
        payload.get("type") == "event_callback"
        and isinstance(event, dict)
        and event.get("type") == "message"
    )


async def store_message(inbound: Inbound, body: dict[str, Any]) -> None:
    """Store what a `message` event means for the replies; returns once it is durably written
    (then the event may be acked). A malformed event is logged and dropped; raises only if
    storing failed (then it must not be acked: Slack retries, and the event id dedupes)."""
    try:
        change = parse_message_event(body)
    except Malformed as exc:
        log.warning("malformed message event ignored (%s): %s", exc, _describe(body))
        return
    except Exception:
        log.exception("unreadable message event ignored: %s", _describe(body))
        return
    if change is not None:
        await inbound.reply(change)


def register(
    app: AsyncApp, inbound: Inbound, *, forget: Callable[[str], None] | None = None
) -> None:
    """`forget(team)`: drop what this process holds of an uninstalled workspace (its token).

    Over HTTP, message events skip Bolt (SlackServer's fast path calls `store_message`); this
    listener serves Socket Mode, where Bolt hands every event over."""

    async def store_before_ack(body: dict[str, Any], next: Any) -> None:
        # Listener middleware runs before Bolt acks: the ack follows the durable write.
        await store_message(inbound, body)  # raises if not stored: no ack, Slack retries
        await next()

    @app.event("message", middleware=[store_before_ack])
    async def on_message() -> None:
        """Stored by `store_before_ack`; nothing left to do after the ack."""

    async def purge(body: dict[str, Any]) -> None:
        team_id = body.get("team_id") if isinstance(body, dict) else None
        if not isinstance(team_id, str) or not _ID.fullmatch(team_id):
            log.warning("uninstall event without a team id ignored: %s", _describe(body))
            return
        if forget is not None:
            forget(team_id)
        await inbound.uninstalled(Uninstalled(platform="slack", workspace_id=team_id))

    # Uninstalls are acked by Bolt before these run; nothing here may raise.
    @app.event("app_uninstalled")
    async def on_app_uninstalled(body: dict[str, Any]) -> None:
        await purge(body)

    @app.event("tokens_revoked")
    async def on_tokens_revoked(body: dict[str, Any]) -> None:
        event = body.get("event") if isinstance(body, dict) else None
        tokens = event.get("tokens") if isinstance(event, dict) else None
        if isinstance(tokens, dict) and not tokens.get("bot"):
            # Only user tokens went: the bot still works there, so its data stays.
            log.info("user tokens revoked in %s; bot token intact", body.get("team_id"))
            return
        await purge(body)
