"""Sign requests the way Slack does, for HTTP-mode tests (events, slash commands, interactivity).

Slack sends X-Slack-Request-Timestamp and X-Slack-Signature = "v0=" + hex HMAC-SHA256 of
"v0:{timestamp}:{raw body}" keyed with the app's signing secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode


def signature(body: str | bytes, secret: str, timestamp: int | str) -> str:
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: str | bytes,
    secret: str,
    *,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """Headers for a request Slack would send; pass an old `timestamp` to test staleness."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(body, secret, ts),
    }


FORM = "application/x-www-form-urlencoded"


def event_body(event: dict[str, Any], **envelope: Any) -> str:
    """An Events API callback as JSON (team, api_app_id and event_id filled in)."""
    return json.dumps(
        {
            "token": "legacy-unused",
            "team_id": "T0FAKE",
            "api_app_id": "AFAKE",
            "type": "event_callback",
            "event_id": envelope.pop("event_id", "Ev0001"),
            "event_time": int(time.time()),
            "event": event,
            **envelope,
        }
    )


def command_body(command: str, text: str, **fields: str) -> str:
    """A slash command as Slack posts it: form encoded."""
    return urlencode(
        {
            "command": command,
            "text": text,
            "team_id": "T0FAKE",
            "channel_id": fields.pop("channel_id", "C0000001"),
            "user_id": fields.pop("user_id", "U0000001"),
            "response_url": fields.pop("response_url", "https://hooks.invalid/commands/1"),
            "trigger_id": fields.pop("trigger_id", "trigger.1"),
            **fields,
        }
    )


def interactivity_body(payload: dict[str, Any]) -> str:
    """Block actions, view submissions...: a form field `payload` holding JSON."""
    return urlencode({"payload": json.dumps(payload)})
