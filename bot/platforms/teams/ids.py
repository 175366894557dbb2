"""Teams ids: channels, channel threads, users. Pure.

A channel id is "19:<opaque>@thread.tacv2" (or "@thread.skype" for older teams). A channel
thread is a conversation of its own on the connector: "<channel id>;messageid=<root id>",
where the root id is the thread's first message. Message ids are decimal (epoch
milliseconds), ordered by time.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

CHANNEL_ID = re.compile(r"19:[A-Za-z0-9_.\-]{1,100}@thread\.(?:tacv2|skype)")
MESSAGE_ID = re.compile(r"\d{1,20}")
# Entra object ids (users) and group ids (teams) are GUIDs.
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
THREAD_MARK = ";messageid="
TEAMS_WEB = "https://teams.microsoft.com"


def is_channel_id(value: str) -> bool:
    return CHANNEL_ID.fullmatch(value) is not None


def thread_conversation_id(channel_id: str, root_id: str) -> str:
    return f"{channel_id}{THREAD_MARK}{root_id}"


def split_conversation_id(conversation_id: str) -> tuple[str, str | None]:
    """'19:…@thread.tacv2;messageid=123' -> ('19:…@thread.tacv2', '123'); no thread -> None."""
    channel_id, mark, root_id = conversation_id.partition(THREAD_MARK)
    return channel_id, (root_id if mark and root_id else None)


def message_link(
    channel_id: str, message_id: str, *, group_id: str, tenant_id: str, root_id: str | None
) -> str:
    """The documented deep link to a channel message (opens it in Teams)."""
    query = {
        "groupId": group_id,
        "tenantId": tenant_id,
        "parentMessageId": root_id or message_id,
    }
    return (
        f"{TEAMS_WEB}/l/message/{quote(channel_id, safe='')}/{quote(message_id, safe='')}"
        f"?{urlencode(query)}"
    )
