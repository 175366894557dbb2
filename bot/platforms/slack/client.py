"""The Slack Web API client, and the ONE place where its failures become the port's error kinds.

The client that posts has no retry handlers: slack_sdk's default connection-error retry resends
a request whose answer was lost, which can post the same message twice. Rate limits are not
retried here either: RateLimited carries Retry-After up to the caller (the outbox, or the
bounded read loop in `platform.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.port import (
    CHANNEL_NOT_FOUND,
    NEEDS_INVITE,
    NO_PERMISSION,
    DeliveryUnknown,
    PermanentFailure,
    PlatformError,
    RateLimited,
)
from bot.settings import Settings

DEFAULT_TIMEOUT_S = 15.0
DEFAULT_RETRY_AFTER_S = 1.0

INVITE_HINT = "invite the bot first with /invite @leaderbot"

# Errors Slack reports as its own fault: the request may or may not have taken effect.
_SERVER_SIDE = frozenset({"internal_error", "fatal_error", "service_unavailable"})

_MESSAGES: dict[str, str] = {
    "not_in_channel": f"the bot is not in this channel: {INVITE_HINT}",
    "channel_not_found": f"channel not found (if it is private, {INVITE_HINT})",
    "is_archived": "the channel is archived",
    "invalid_auth": "Slack rejected the bot token: check SLACK_BOT_TOKEN",
    "not_authed": "no Slack token was sent: set SLACK_BOT_TOKEN",
    "account_inactive": "the bot token belongs to a deactivated app: reinstall the app",
    "token_revoked": "the bot token was revoked: reinstall the app",
    "missing_scope": "the Slack app lacks a permission ({needed}): reinstall it from the manifest",
    "method_not_supported_for_channel_type": f"private channel: {INVITE_HINT}",
    "msg_too_long": "the message is too long for Slack",
    "invalid_blocks": "Slack refused the message layout (invalid blocks)",
    "no_text": "the message is empty",
    "user_not_found": "no such Slack user",
    "message_not_found": "no such message",
    "thread_not_found": "no such thread",
    "restricted_action": "a workspace admin setting stops the bot from doing this",
}

# Slack's error codes that the core has a neutral name for (bot.port).
_NEUTRAL_CODES: dict[str, str] = {
    "not_in_channel": NEEDS_INVITE,
    "method_not_supported_for_channel_type": NEEDS_INVITE,
    "channel_not_found": CHANNEL_NOT_FOUND,
    "missing_scope": NO_PERMISSION,
}

T = TypeVar("T")


def build_web_client(
    settings: Settings,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    retry_rate_limits: bool = False,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """An AsyncWebClient for SLACK_API_URL.

    `retry_rate_limits=True` adds only slack_sdk's 429 handler (safe: a 429 delivered nothing);
    for the Bolt client, whose listeners reply inline. Never the connection-error handler.
    With a shared `session`, slack_sdk does not apply `timeout`: give the session its own.
    """
    return AsyncWebClient(
        token=settings.secret(settings.slack_bot_token),
        base_url=settings.slack_api_url,
        timeout=timeout,  # type: ignore[arg-type]  # aiohttp takes float seconds
        session=session,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
        if retry_rate_limits
        else [],
    )


def _retry_after(headers: object) -> float:
    raw = None
    if hasattr(headers, "get"):
        raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        value = float(raw) if raw is not None else DEFAULT_RETRY_AFTER_S
    except (TypeError, ValueError):
        value = DEFAULT_RETRY_AFTER_S
    return max(0.0, value)


def describe(code: str, data: dict | None = None) -> str:
    """A message a person can act on, for a Slack error code."""
    template = _MESSAGES.get(code)
    if template is None:
        return f"Slack error: {code}"
    needed = (data or {}).get("needed") or "a scope"
    return template.format(needed=needed)


def to_platform_error(exc: BaseException) -> PlatformError:
    """Classify any failure of a Slack call as RateLimited, DeliveryUnknown or PermanentFailure."""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", 200)
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        code = str(data.get("error") or "")
        if status == 429 or code == "ratelimited":
            return RateLimited(_retry_after(getattr(response, "headers", {})))
        if status >= 500 or code in _SERVER_SIDE:
            return DeliveryUnknown(
                f"Slack answered HTTP {status} {code}".strip(), code=code or None
            )
        if code:
            return PermanentFailure(describe(code, data), code=_NEUTRAL_CODES.get(code, code))
        return PermanentFailure(f"unexpected Slack answer (HTTP {status})", code=f"http_{status}")
    if isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError):
        # Connection refused, reset, server disconnected, timed out: we cannot tell whether
        # Slack acted on the request.
        return DeliveryUnknown(f"no answer from Slack: {type(exc).__name__}: {exc}".rstrip(": "))
    if isinstance(exc, SlackRequestError) and str(exc).startswith("Failed to upload a file"):
        # files_upload_v2's upload step failed: nothing was shared, trying again is safe.
        return DeliveryUnknown(str(exc).splitlines()[0], code="upload_failed")
    if isinstance(exc, SlackClientError):
        return PermanentFailure(f"Slack client error: {exc}", code="client_error")
    raise TypeError(f"not a Slack failure: {exc!r}") from exc


async def call(awaitable: Awaitable[T]) -> T:
    """Await a slack_sdk call, raising only the port's error kinds."""
    try:
        return await awaitable
    except (SlackClientError, aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        raise to_platform_error(exc) from exc
