"""Inbound Teams activities (Bot Framework JSON) as what they mean to the bot. Pure.

`parse_activity` reads only the fields the bot uses, checks each one's type and shape, and
returns a `Parsed`: where it happened (the team, its connector URL, the channel), and at most
one of: a reply change for the core (ReplyPosted / ReplyEdited / ReplyDeleted), an @mention
command, the app joining or leaving a team, a channel created or deleted. An activity that
lacks what its type promises raises `Malformed` (the route answers 400); an activity the bot
has no use for parses to a `Parsed` with nothing in it.

Teams facts this relies on (Microsoft: "Conversation events", "Receive all channel messages
with RSC"):
- a channel message's conversation id is "<channel>;messageid=<root>", its activity id is its
  message id, and its text is HTML even when textFormat says "plain";
- messageUpdate carries channelData.eventType editMessage or undeleteMessage (with the text),
  messageDelete softDeleteMessage (without);
- installationUpdate (action add/remove) and conversationUpdate (teamMemberAdded/Removed with
  the bot in membersAdded/Removed, teamDeleted, channelCreated/Deleted) carry the team in
  channelData.team (aadGroupId is the Graph group id) and the tenant in channelData.tenant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.command_grammar import plain_words
from bot.domain.parsing import ChannelId, UserId, Word
from bot.platforms.teams.html_text import html_to_text
from bot.platforms.teams.ids import (
    CHANNEL_ID,
    GUID,
    MESSAGE_ID,
    split_conversation_id,
)
from bot.port import ReplyDeleted, ReplyEdited, ReplyPosted, ReplyRestored

PLATFORM = "teams"
MAX_TEXT_CHARS = 100_000  # Teams caps a message far below this (about 28 KB of text)
_SERVICE_URL = re.compile(r"https?://[^\s/]+(/[^\s]*)?")
_NAME_LIMIT = 256


class Malformed(ValueError):
    """An activity without the fields its type promises."""


@dataclass(frozen=True, slots=True)
class Place:
    """Where an activity happened: a team (and a channel of it, for channel activities)."""

    group_id: str
    tenant_id: str
    service_url: str
    team_thread_id: str | None = None
    team_name: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """An @mention of the bot followed by a command, in a channel."""

    text: str  # plain text after the mention, e.g. "schedule mon 09:00"
    words: tuple[Word, ...]  # the same, with people and channels mentioned as their ids
    user_id: str  # Entra object id
    channel_id: str
    root_id: str  # the thread to answer in
    activity_id: str


ReplyChange = ReplyPosted | ReplyEdited | ReplyRestored | ReplyDeleted


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: str  # the activity's type, for logs
    place: Place | None = None
    change: ReplyChange | None = None
    command: Command | None = None
    joined: bool = False  # the app was installed in the team
    left: bool = False  # the app was removed, or the team deleted
    channel_created: bool = False
    channel_deleted: bool = False
    channels: tuple[tuple[str, str | None], ...] = field(default=())


def _dict(data: Any, name: str) -> dict[str, Any]:
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise Malformed(f"{name} missing or not an object")
    return value


def _optional_dict(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{name} is not an object")
    return value


def _str(data: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or (pattern and not pattern.fullmatch(value)):
        raise Malformed(f"{name} missing or invalid")
    return value


def _optional_str(data: dict[str, Any], name: str, limit: int = _NAME_LIMIT) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{name} is not a string")
    return value[:limit] or None


def _time(data: dict[str, Any], name: str) -> datetime:
    value = _str(data, name)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"{name} is not a timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _place(activity: dict[str, Any], channel_data: dict[str, Any]) -> Place:
    team = _dict(channel_data, "team")
    tenant = _optional_dict(channel_data, "tenant")
    conversation = _optional_dict(activity, "conversation")
    tenant_id = tenant.get("id") or conversation.get("tenantId")
    if not isinstance(tenant_id, str) or not GUID.fullmatch(tenant_id):
        raise Malformed("tenant id missing or invalid")
    channel = _optional_dict(channel_data, "channel")
    channel_id = channel.get("id")
    if channel_id is not None and (
        not isinstance(channel_id, str) or not CHANNEL_ID.fullmatch(channel_id)
    ):
        raise Malformed("channelData.channel.id invalid")
    team_thread = team.get("id")
    return Place(
        group_id=_str(team, "aadGroupId", GUID),
        tenant_id=tenant_id,
        service_url=_str(activity, "serviceUrl", _SERVICE_URL),
        team_thread_id=team_thread if isinstance(team_thread, str) else None,
        team_name=_optional_str(team, "name"),
        channel_id=channel_id,
        channel_name=_optional_str(channel, "name"),
    )


def _is_bot(sender: dict[str, Any]) -> bool:
    sender_id = sender.get("id")
    return (
        sender.get("role") == "bot"
        or (isinstance(sender_id, str) and sender_id.startswith("28:"))
        or not sender.get("aadObjectId")
    )


def _bot_mention(activity: dict[str, Any]) -> str | None:
    """The text of the mention of this bot (e.g. "<at>leaderbot</at>"), if the message has one."""
    recipient = activity.get("recipient")
    bot_id = recipient.get("id") if isinstance(recipient, dict) else None
    entities = activity.get("entities") or []
    if not isinstance(entities, list) or bot_id is None:
        return None
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned")
        if isinstance(mentioned, dict) and mentioned.get("id") == bot_id:
            text = entity.get("text")
            return text if isinstance(text, str) and text else None
    return None


_LEADING_WRAPPERS = re.compile(r"^(?:\s|<(?:p|div|span)\b[^>]*>)*", re.IGNORECASE)


def _command_html(html: str, mention: str) -> str | None:
    """The command (still HTML) after a leading mention of the bot; None if the message does
    not start with it (a reply that mentions the bot in passing is a reply)."""
    rest = html[_LEADING_WRAPPERS.match(html).end() :]  # type: ignore[union-attr]
    if not rest.startswith(mention):
        return None
    return rest[len(mention) :]


_MENTION = re.compile(r"(<at>.*?</at>)", re.IGNORECASE | re.DOTALL)


def _other_mentions(activity: dict[str, Any], bot_mention: str) -> dict[str, Word]:
    """Each `<at>…</at>` other than the bot's, as the person (Entra object id, else the Teams
    id) or channel (its id) it names, from the activity's mention entities."""
    found: dict[str, Word] = {}
    entities = activity.get("entities") or []
    for entity in entities if isinstance(entities, list) else []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        text, mentioned = entity.get("text"), entity.get("mentioned")
        if not isinstance(text, str) or text == bot_mention or not isinstance(mentioned, dict):
            continue
        name = mentioned.get("name") if isinstance(mentioned.get("name"), str) else None
        ident = mentioned.get("aadObjectId") or mentioned.get("id")
        if not isinstance(ident, str) or not ident:
            continue
        found[text] = ChannelId(ident, name) if CHANNEL_ID.fullmatch(ident) else UserId(ident, name)
    return found


def command_words(html: str, mentions: dict[str, Word]) -> list[Word]:
    """What an admin typed, as the grammar's words: mentions become ids, the rest plain text."""
    words: list[Word] = []
    for part in _MENTION.split(html):
        mentioned = mentions.get(part)
        if mentioned is not None:
            words.append(mentioned)
        elif part:
            words.extend(plain_words(html_to_text(part)))
    return words


def _channel_message(
    activity: dict[str, Any], kind: str, place: Place, event_type: str | None
) -> Parsed:
    conversation = _dict(activity, "conversation")
    channel_id, root_id = split_conversation_id(_str(conversation, "id"))
    if not CHANNEL_ID.fullmatch(channel_id):
        raise Malformed("conversation id is not a channel")
    if place.channel_id is not None and place.channel_id != channel_id:
        raise Malformed("conversation and channelData disagree on the channel")
    place = Place(**{**_place_fields(place), "channel_id": channel_id})
    message_id = _str(activity, "id", MESSAGE_ID)
    if root_id is not None and not MESSAGE_ID.fullmatch(root_id):
        raise Malformed("thread root id invalid")
    sender = _dict(activity, "from")
    if kind == "messageDelete":
        if event_type != "softDeleteMessage":
            return Parsed(kind, place)
        return Parsed(kind, place, change=ReplyDeleted(channel_id, message_id))
    if _is_bot(sender):
        return Parsed(kind, place)  # our own posts and other bots' are not replies
    user_id = _str(sender, "aadObjectId", GUID)
    text = activity.get("text") or ""
    if not isinstance(text, str):
        raise Malformed("text is not a string")
    text = text[:MAX_TEXT_CHARS]
    posted_at = _time(activity, "timestamp")
    mention = _bot_mention(activity) if kind == "message" else None
    if mention is not None:
        command = _command_html(text, mention)
        if command is not None:
            return Parsed(
                kind,
                place,
                command=Command(
                    text=html_to_text(command).strip(),
                    words=tuple(command_words(command, _other_mentions(activity, mention))),
                    user_id=user_id,
                    channel_id=channel_id,
                    root_id=root_id or message_id,
                    activity_id=message_id,
                ),
            )
    if root_id is None or root_id == message_id:
        return Parsed(kind, place)  # a new thread, not a reply in one
    fields: dict[str, Any] = {
        "channel_id": channel_id,
        "thread_id": root_id,
        "message_id": message_id,
        "user_id": user_id,
        "text": html_to_text(text),
        "posted_at": posted_at,
        "workspace_id": place.group_id,
    }
    if kind == "messageUpdate":
        if event_type == "editMessage":
            return Parsed(kind, place, change=ReplyEdited(**fields, edited_at=posted_at))
        if event_type != "undeleteMessage":
            return Parsed(kind, place)
        # undeleteMessage: the message is back, with its text.
        return Parsed(kind, place, change=ReplyRestored(**fields))
    return Parsed(kind, place, change=ReplyPosted(**fields))


def _place_fields(place: Place) -> dict[str, Any]:
    return {name: getattr(place, name) for name in Place.__slots__}


def _members(activity: dict[str, Any], name: str) -> list[str]:
    members = activity.get(name) or []
    if not isinstance(members, list):
        raise Malformed(f"{name} is not a list")
    return [m["id"] for m in members if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _team_event(activity: dict[str, Any], kind: str, place: Place, event_type: str | None):
    recipient = _optional_dict(activity, "recipient")
    bot_id = recipient.get("id")
    channels: tuple[tuple[str, str | None], ...] = ()
    if place.team_thread_id and CHANNEL_ID.fullmatch(place.team_thread_id):
        channels = ((place.team_thread_id, None),)  # the General channel's id is the team's
    if place.channel_id and place.channel_id != place.team_thread_id:
        channels += ((place.channel_id, place.channel_name),)
    if kind == "installationUpdate":
        action = activity.get("action")
        if action in ("add", "add-upgrade"):
            return Parsed(kind, place, joined=True, channels=channels)
        if action in ("remove", "remove-upgrade"):
            return Parsed(kind, place, left=True)
        return Parsed(kind, place)
    match event_type:
        case "teamMemberAdded" if bot_id in _members(activity, "membersAdded"):
            return Parsed(kind, place, joined=True, channels=channels)
        case "teamMemberRemoved" if bot_id in _members(activity, "membersRemoved"):
            return Parsed(kind, place, left=True)
        case "teamDeleted" | "teamHardDeleted":
            return Parsed(kind, place, left=True)
        case "channelCreated" | "channelRenamed" | "channelRestored" if place.channel_id:
            return Parsed(
                kind,
                place,
                channel_created=True,
                channels=((place.channel_id, place.channel_name),),
            )
        case "channelDeleted" if place.channel_id:
            return Parsed(kind, place, channel_deleted=True)
    return Parsed(kind, place)


def parse_activity(activity: Any) -> Parsed:
    """What an activity means to the bot. Raises Malformed."""
    if not isinstance(activity, dict):
        raise Malformed("the activity is not a JSON object")
    kind = _str(activity, "type")
    if activity.get("channelId") != "msteams":
        return Parsed(kind)  # the Bot Framework's other channels (web chat, emulator…)
    conversation = _optional_dict(activity, "conversation")
    if conversation.get("conversationType", "channel") != "channel":
        return Parsed(kind)  # personal and group chats: not served
    channel_data = _optional_dict(activity, "channelData")
    event_type = channel_data.get("eventType")
    if event_type is not None and not isinstance(event_type, str):
        raise Malformed("channelData.eventType is not a string")
    if kind in ("message", "messageUpdate", "messageDelete"):
        return _channel_message(activity, kind, _place(activity, channel_data), event_type)
    if kind in ("installationUpdate", "conversationUpdate"):
        return _team_event(activity, kind, _place(activity, channel_data), event_type)
    return Parsed(kind)
