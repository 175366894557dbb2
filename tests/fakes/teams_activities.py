"""Inbound Teams activities as Bot Framework JSON (plain dicts, camelCase, as sent on the wire).

Pure functions: the caller (FakeTeams, or a test directly) says where the activity happens and
who acts. The shapes follow Microsoft's documented channel payloads ("Conversation events in your
Teams bot", "Receive all channel messages with RSC") and validate against the Teams SDK's models
(`microsoft_teams.api.activities.ActivityTypeAdapter`); tests/test_fake_teams.py checks that.

Modelled: channel messages (thread roots and replies, with or without an @mention of the bot),
messageUpdate (editMessage, undeleteMessage), messageDelete (softDeleteMessage),
installationUpdate (add/remove, team scope) and conversationUpdate (teamMemberAdded of the bot,
teamDeleted, channelCreated).
Not modelled: personal and group chats, meetings, invoke activities (card actions),
messageReaction, typing, and the extra fields Teams adds that the bot does not read (e.g.
`attachments` of pasted images, `channelData.source` on messages).
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

CLIENT_INFO = {
    "type": "clientInfo",
    "locale": "en-GB",
    "country": "GB",
    "platform": "Web",
    "timezone": "Europe/London",
}


@dataclass(frozen=True)
class Place:
    """Where an activity happens: a channel of a team, or the team itself (channel_id None)."""

    service_url: str
    tenant_id: str
    group_id: str  # the team's Entra ID group id: what Graph calls the team id
    team_id: str  # the team's thread id, "19:…@thread.tacv2" (also its General channel's id)
    team_name: str
    channel_id: str | None = None
    channel_name: str | None = None


@dataclass(frozen=True)
class Person:
    """A staff member as Bot Framework sees them."""

    id: str  # Bot Framework user id, "29:…"
    aad_object_id: str
    name: str

    def account(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad_object_id}


@dataclass(frozen=True)
class BotIdentity:
    app_id: str
    name: str

    @property
    def id(self) -> str:
        return f"28:{self.app_id}"

    def account(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


def iso_millis(epoch_ms: int) -> str:
    """Timestamps as Teams writes them: UTC, milliseconds, 'Z'."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def thread_conversation_id(channel_id: str, root_id: str) -> str:
    """A channel thread's conversation id: the channel id plus the root message id."""
    return f"{channel_id};messageid={root_id}"


def event_id() -> str:
    """Ids of non-message activities look like 'f:<digits>' in Teams."""
    return f"f:{uuid.uuid4().int % 10**19}"


def mention_html(bot: BotIdentity) -> str:
    return f"<at>{html.escape(bot.name, quote=False)}</at>"


def _envelope(
    kind: str,
    activity_id: str,
    place: Place,
    bot: BotIdentity,
    sender: dict[str, Any],
    conversation_id: str,
    at_ms: int,
) -> dict[str, Any]:
    return {
        "type": kind,
        "id": activity_id,
        "timestamp": iso_millis(at_ms),
        "localTimestamp": iso_millis(at_ms).replace("Z", "+00:00"),
        "serviceUrl": place.service_url,
        "channelId": "msteams",
        "from": sender,
        "conversation": {
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": place.tenant_id,
            "id": conversation_id,
        },
        "recipient": bot.account(),
        "entities": [dict(CLIENT_INFO)],
        "locale": "en-GB",
    }


def _channel_data(place: Place, *, event_type: str | None = None) -> dict[str, Any]:
    if place.channel_id is None:
        raise ValueError("a channel activity needs place.channel_id")
    data: dict[str, Any] = {
        "teamsChannelId": place.channel_id,
        "teamsTeamId": place.team_id,
        "channel": {"id": place.channel_id},
        "team": {"id": place.team_id, "aadGroupId": place.group_id},
        "tenant": {"id": place.tenant_id},
    }
    if event_type is not None:
        data["eventType"] = event_type
    return data


def _team_channel_data(place: Place, event_type: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "team": {"id": place.team_id, "name": place.team_name, "aadGroupId": place.group_id},
        "tenant": {"id": place.tenant_id},
    }
    if event_type is not None:
        data["eventType"] = event_type
    return data


def message_text_html(text: str, *, mention: BotIdentity | None) -> str:
    """The activity's `text`: the user's words HTML-escaped, an @mention as <at>Name</at>."""
    body = html.escape(text, quote=False)
    return f"{mention_html(mention)} {body}" if mention else body


def message(
    place: Place,
    bot: BotIdentity,
    sender: Person,
    *,
    message_id: str,
    root_id: str,
    text: str,
    mentions_bot: bool,
    at_ms: int,
) -> dict[str, Any]:
    """A channel message: a new thread root (message_id == root_id) or a reply in a thread."""
    if place.channel_id is None:
        raise ValueError("a channel message needs place.channel_id")
    mention = bot if mentions_bot else None
    activity = _envelope(
        "message",
        message_id,
        place,
        bot,
        sender.account(),
        thread_conversation_id(place.channel_id, root_id),
        at_ms,
    )
    activity["textFormat"] = "plain"  # what Teams says, although `text` carries HTML tags
    activity["text"] = message_text_html(text, mention=mention)
    # Teams also sends the rendered HTML as a text/html attachment.
    activity["attachments"] = [
        {
            "contentType": "text/html",
            "content": f"<div><div>{_rendered_html(text, mention)}</div></div>",
        }
    ]
    if message_id != root_id:
        activity["replyToId"] = root_id
    if mention is not None:
        activity["entities"].insert(
            0,
            {"type": "mention", "mentioned": bot.account(), "text": mention_html(bot)},
        )
    activity["channelData"] = _channel_data(place)
    return activity


def _rendered_html(text: str, mention: BotIdentity | None) -> str:
    body = html.escape(text, quote=False)
    if mention is None:
        return body
    name = html.escape(mention.name, quote=False)
    tag = f'<span itemscope="" itemtype="http://schema.skype.com/Mention" itemid="0">{name}</span>'
    return f"{tag} {body}"


def message_update(
    place: Place,
    bot: BotIdentity,
    sender: Person,
    *,
    message_id: str,
    root_id: str,
    text: str,
    mentions_bot: bool,
    event_type: Literal["editMessage", "undeleteMessage"],
    at_ms: int,
) -> dict[str, Any]:
    """An edit, or an undelete (which carries the restored text), of a channel message."""
    activity = message(
        place,
        bot,
        sender,
        message_id=message_id,
        root_id=root_id,
        text=text,
        mentions_bot=mentions_bot,
        at_ms=at_ms,
    )
    activity["type"] = "messageUpdate"
    activity.pop("replyToId", None)
    activity["channelData"]["eventType"] = event_type
    return activity


def message_delete(
    place: Place,
    bot: BotIdentity,
    sender: Person,
    *,
    message_id: str,
    root_id: str,
    at_ms: int,
) -> dict[str, Any]:
    """A soft delete of a channel message: no text, only which message went."""
    if place.channel_id is None:
        raise ValueError("a message deletion needs place.channel_id")
    activity = _envelope(
        "messageDelete",
        message_id,
        place,
        bot,
        sender.account(),
        thread_conversation_id(place.channel_id, root_id),
        at_ms,
    )
    activity["channelData"] = _channel_data(place, event_type="softDeleteMessage")
    return activity


def installation_update(
    place: Place,
    bot: BotIdentity,
    sender: Person,
    *,
    action: Literal["add", "remove"],
    at_ms: int,
) -> dict[str, Any]:
    """The app added to or removed from a team; the conversation is the team's General
    channel, and channelData.settings.selectedChannel the channel the installer picked."""
    selected = place.channel_id or place.team_id
    activity = _envelope(
        "installationUpdate", event_id(), place, bot, sender.account(), place.team_id, at_ms
    )
    activity["action"] = action
    data = _team_channel_data(place, None)
    data["settings"] = {"selectedChannel": {"id": selected}}
    data["channel"] = {"id": selected}
    data["source"] = {"name": "message"}
    activity["channelData"] = data
    return activity


ConversationEvent = Literal["teamMemberAdded", "teamDeleted", "channelCreated"]


def conversation_update(
    place: Place,
    bot: BotIdentity,
    sender: Person,
    *,
    event_type: ConversationEvent,
    at_ms: int,
) -> dict[str, Any]:
    """Team-level events. teamMemberAdded here is the bot itself joining (membersAdded holds
    the bot's 28: id); channelCreated needs place.channel_id and channel_name."""
    activity = _envelope(
        "conversationUpdate", event_id(), place, bot, sender.account(), place.team_id, at_ms
    )
    data = _team_channel_data(place, event_type)
    if event_type == "teamMemberAdded":
        activity["membersAdded"] = [{"id": bot.id}]
    elif event_type == "channelCreated":
        if place.channel_id is None:
            raise ValueError("channelCreated needs place.channel_id")
        data["channel"] = {"id": place.channel_id, "name": place.channel_name}
    activity["channelData"] = data
    return activity
