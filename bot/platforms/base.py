"""The platform port: the few things the core asks of a chat platform.

Slack, Teams and the console each implement `ChatPlatform`. Errors are reported as the three
kinds the outbox needs to decide what to do next (see `bot.services.outbox`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.domain.content import FileUpload, ThreadMessage, UserInfo


class PlatformError(Exception):
    """A platform call failed. `retryable` says whether trying again may succeed."""

    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RateLimited(PlatformError):
    """Refused for now (HTTP 429); nothing was delivered. Try again after `retry_after` s."""

    retryable = True

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(message, code="ratelimited")
        self.retry_after = retry_after


class DeliveryUnknown(PlatformError):
    """The connection failed or the server erred: the message may or may not have arrived.
    Look for it (`find_post`) before sending again."""

    retryable = True


class PermanentFailure(PlatformError):
    """Will not succeed by retrying (channel not found, not in channel, invalid auth...)."""


@dataclass(frozen=True, slots=True)
class Sent:
    channel_id: str
    ts: str
    permalink: str | None = None
    # False when a post made of several messages (a long digest) is there only in part:
    # posting it again resumes it (the platform never posts the head twice).
    complete: bool = True


# Asked before each further message of a multi-message post: False means another sender has
# taken the post over, so stop.
StillOurs = Callable[[], Awaitable[bool]]


@runtime_checkable
class ChatPlatform(Protocol):
    name: str

    async def post(
        self,
        channel_id: str,
        content: Any,
        *,
        key: str,
        thread_ts: str | None = None,
        still_ours: StillOurs | None = None,
    ) -> Sent:
        """Post `content` (a bot.domain.content object, or a platform-specific rendering),
        tagged with the outbox `key` so that `find_post` can find it later."""

    async def find_post(
        self, channel_id: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        """The message tagged `key` posted since `since` in the channel, or in the thread
        `thread_ts` when given (a channel's history does not list thread replies)."""

    async def fetch_thread(self, channel_id: str, thread_ts: str) -> list[ThreadMessage]:
        """Every reply in a thread, excluding the parent message."""

    async def user_info(self, user_id: str) -> UserInfo:
        """Raises PlatformError when the platform cannot say."""

    async def member_count(self, channel_id: str) -> int | None:
        """People in the channel (bots excluded where the platform can tell), or None."""

    async def upload(self, channel_id: str, upload: FileUpload, *, thread_ts: str | None) -> None:
        """Share a file in a channel (or a thread)."""

    async def join(self, channel_id: str) -> None:
        """Make sure the bot can post in the channel; PermanentFailure says why not."""
