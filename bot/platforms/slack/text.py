"""Message text as Slack sends it, turned back into what the person typed.

Slack escapes `&`, `<` and `>` in message text as `&amp;`, `&lt;` and `&gt;`, so that a bare
`<` can never be read as the start of its own markup. Replies are stored as the person wrote
them (exports carry plain text; the Slack digest escapes again on the way out), so every path
that takes message text in from Slack (events and `conversations.replies`) goes through
`unescape` here. Slack's own markup (`<@U…>`, `<#C…|name>`, `<https://…|label>`) is left as it
is: it holds no entities of these three kinds to undo, only real `<` and `>`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def unescape(text: str) -> str:
    """Undo Slack's three entities. `&amp;` goes last, so `&amp;lt;` (someone typed `&lt;`)
    becomes `&lt;`, not `<`."""
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def ts_to_datetime(ts: str) -> datetime | None:
    """When a message was posted, from its ts ("seconds.micros"); None if it is not one."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
