"""The platform port: what the core asks of a chat platform, and what a platform hands back.

Slack, Teams and the console each implement `ChatPlatform` (outbound) and turn their own
inbound JSON into the events below (inbound), which they hand to one service API
(`bot.services.inbound.Inbound`). Nothing outside `bot/platforms/<name>/` knows a platform's
ids, mention syntax, escaping or message formats: the core speaks of a message id, a thread
id and a link.

Who owns what, for a post:
- The outbox (`bot.services.outbox`) owns keys, retries, backoff, leases, pacing per channel,
  and the rule "after an uncertain attempt, look before posting again".
- An adapter owns one attempt: rendering the content within its platform's limits (splitting a
  long digest into several messages and resuming a partly posted one), escaping untrusted text,
  tagging the post with its outbox key so that `find_post` can find it, and turning its
  platform's errors into the three kinds below. An adapter need not retry a write, pace posts
  across calls, or remember what it sent: the outbox does.

Errors are reported as the kinds the outbox needs to decide what to do next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from bot.domain.content import Content, ThreadMessage, UserInfo

# --------------------------------------------------------------------------- errors


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
    """Will not succeed by retrying (channel not found, not in channel, invalid auth...).
    `code` is one of the neutral codes below when the adapter can tell, so the core can say
    what to do without reading the platform's words."""


# Neutral codes of a PermanentFailure.
NEEDS_INVITE = "needs_invite"  # a private channel: a person must add the bot first
NOT_INSTALLED = "not_installed"  # the app is not installed where the channel is
CHANNEL_NOT_FOUND = "channel_not_found"
NO_PERMISSION = "no_permission"  # the app lacks a permission (reinstall it)
UNKNOWN_CHANNEL = "unknown_channel"  # no configured platform has a channel of that shape


# --------------------------------------------------------------------------- outbound


@dataclass(frozen=True, slots=True)
class Sent:
    """Where a post went: its channel, the platform's id of the (first) message, and a link
    to it when the platform gives one."""

    channel_id: str
    message_id: str
    link: str | None = None
    # False when a post made of several messages (a long digest) is there only in part:
    # posting it again resumes it (the platform never posts the head twice).
    complete: bool = True


# Asked before each further message of a multi-message post: False means another sender has
# taken the post over, so stop.
StillOurs = Callable[[], Awaitable[bool]]


class ChatPlatform(ABC):
    """One chat platform, outbound. Every method may raise PlatformError (or a subclass)."""

    name: str
    # Whether a person's standing (admin, owner) depends on the channel (Teams: owner of that
    # channel's team) rather than being one for the whole workspace (Slack). When it does,
    # the core never reuses a standing it cached for another channel.
    standing_depends_on_channel: bool = False

    @abstractmethod
    def owns(self, channel_id: str) -> bool:
        """Whether `channel_id` has the shape of this platform's channel ids."""

    def channel_id_problem(self, channel_id: str) -> str | None:
        """Why `channel_id` cannot be one of this platform's channels (e.g. a name where an id
        is needed), in a sentence for the person who typed it; None if it may be."""
        return None

    @abstractmethod
    async def post(
        self,
        channel_id: str,
        content: Content,
        *,
        key: str,
        thread_id: str | None = None,
        still_ours: StillOurs | None = None,
    ) -> Sent:
        """Post `content` in the channel (in the thread `thread_id` when given), tagged with
        the outbox `key` so that `find_post` can find it later."""

    @abstractmethod
    async def find_post(
        self, channel_id: str, key: str, since: datetime, *, thread_id: str | None = None
    ) -> Sent | None:
        """The message tagged `key` posted since `since` in the channel, or in the thread
        `thread_id` when given. Raises PlatformError when it cannot tell."""

    @abstractmethod
    async def fetch_thread(self, channel_id: str, thread_id: str) -> list[ThreadMessage]:
        """Every reply in a thread, excluding its first message. Raises PlatformError when
        the thread cannot be read (never an empty list in its place)."""

    @abstractmethod
    async def user_info(self, user_id: str, *, channel_id: str | None = None) -> UserInfo:
        """What the platform says of a person (admin standing where `channel_id` is, on
        platforms where it depends on the team). Raises PlatformError when it cannot say."""

    @abstractmethod
    async def member_count(self, channel_id: str) -> int | None:
        """People in the channel (bots excluded where the platform can tell), or None."""

    async def message_link(
        self, channel_id: str, message_id: str, *, thread_id: str | None = None
    ) -> str | None:
        """A link that opens the message (a reply in the thread `thread_id`), or None where
        the platform cannot make one. Never a call per message: links come from what the
        platform already knows."""
        return None

    async def prepare(self, channel_ids: Collection[str]) -> None:
        """Before a fan-out to these channels (all of them this platform's): read in bulk what
        each post would otherwise read on its own (Slack: the workspaces' tokens). Nothing by
        default; a failure here costs only the bulk read, each post then reads its own."""
        return None

    @abstractmethod
    async def ensure_channel(self, channel_id: str) -> None:
        """Make sure the bot can post in the channel (joining it where the platform allows);
        PermanentFailure, with a neutral code where it can tell, says why not."""


# --------------------------------------------------------------------------- inbound


@dataclass(frozen=True, slots=True)
class ReplyPosted:
    """A person's new message in a thread (the core decides whether the thread is ours)."""

    channel_id: str
    thread_id: str
    message_id: str
    user_id: str
    text: str  # plain text as the person typed it: no platform escaping or markup
    posted_at: datetime
    workspace_id: str | None = None
    event_id: str | None = None  # the platform's delivery id, for dropping retries


@dataclass(frozen=True, slots=True)
class ReplyEdited:
    """A person's message in a thread, edited: the whole new text."""

    channel_id: str
    thread_id: str
    message_id: str
    user_id: str
    text: str
    posted_at: datetime
    workspace_id: str | None = None
    event_id: str | None = None
    # When the platform says the edit was made; an older edit never overwrites a newer one.
    edited_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReplyRestored:
    """A deleted message brought back (Teams: undelete), with its text: stored again."""

    channel_id: str
    thread_id: str
    message_id: str
    user_id: str
    text: str
    posted_at: datetime
    workspace_id: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyDeleted:
    channel_id: str
    message_id: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Installed:
    """The app was added to a workspace (a Slack workspace, a Teams team)."""

    platform: str
    workspace_id: str
    channel_ids: tuple[str, ...] = ()
    details: tuple[tuple[str, str], ...] = ()  # platform facts worth keeping (service URL…)


@dataclass(frozen=True, slots=True)
class Uninstalled:
    """The app was removed from a workspace, or the workspace is gone: purge its data."""

    platform: str
    workspace_id: str


InboundEvent = ReplyPosted | ReplyEdited | ReplyRestored | ReplyDeleted | Installed | Uninstalled
