"""The seam of the platform contract suite: one `Harness` per platform.

A harness gives a test the adapter under test (`platform`) and what the test needs to act as the
platform's side of the conversation: people who reply in threads, people in the channel, faults,
and raw views of what the platform stored, so that a check can be written once for every
adapter. Everything platform-specific (ids, escaping, limits, how a fault is injected) lives in
the harness, never in the tests.

To add a platform (Teams): subclass `Harness` in `tests/contract/<name>.py`, write an async
context manager that starts its fakes and yields the harness, and add it to `HARNESSES` in
`tests/contract/conftest.py`. Every check in `test_platform_contract.py` then runs against it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.port import ChatPlatform

# Before anything a test posts (every platform stamps posts with the real time), and fixed: a
# `since` that never depends on today's date.
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Seen:
    """One message as the platform stored it, in neutral terms, for assertions."""

    message_id: str
    thread_id: str | None  # the thread's first message id for a reply; None at top level
    by_bot: bool
    key: str | None  # the outbox key the adapter tagged it with, if it is one of ours
    raw: Any  # the platform's own record (FakeMessage, ConsoleMessage, a Teams activity…)


class Harness(ABC):
    """The adapter under test plus the platform's side of things. Subclass once per platform."""

    name: str
    platform: ChatPlatform
    channel_id: str  # a channel the bot is in (and may post to), empty at the start
    # An id of this platform's shape for a channel that does not exist (or the bot cannot
    # see): posting there must raise PermanentFailure.
    unknown_channel_id: str
    # An id of this platform's shape for a thread that does not exist in `channel_id`.
    missing_thread_id: str
    # The most characters one message may show (None: the platform has no limit).
    max_message_chars: int | None = None

    # ------------------------------------------------------------------ acting as people

    @abstractmethod
    async def user_says(self, thread_id: str, user_id: str, text: str) -> str:
        """A person replies `text` (as typed) in the thread, on the platform's side (not
        through the adapter). Returns the reply's message id."""

    @abstractmethod
    async def add_people(self, n: int) -> list[str]:
        """Add `n` people to `channel_id` (known to the platform, with display names).
        Returns their user ids."""

    def expected_member_count(self) -> int | None:
        """What `member_count(channel_id)` should say now, or None if the platform cannot
        tell (the check then accepts None or any count)."""
        return None

    def display_name_of(self, user_id: str) -> str | None:
        """The display name the platform holds for a person added by `add_people`."""
        return None

    # ------------------------------------------------------------------ faults

    async def make_uncertain_next_post(self) -> bool:
        """The next post is carried out but its answer is lost (the adapter must raise
        DeliveryUnknown). False if the platform has no such fault (the check is skipped)."""
        return False

    async def make_rate_limited_next_post(self, retry_after: float) -> bool:
        """The next post is refused with a rate limit of `retry_after` s. False if the
        platform has no rate limits to inject (the check is skipped)."""
        return False

    # ------------------------------------------------------------------ raw views

    @abstractmethod
    async def messages_in_channel(self) -> list[Seen]:
        """Every message stored in `channel_id`, top level and thread replies, oldest first."""

    async def thread(self, thread_id: str) -> list[Seen]:
        """The thread's first message and its replies, oldest first."""
        return [
            m
            for m in await self.messages_in_channel()
            if m.message_id == thread_id or m.thread_id == thread_id
        ]

    @abstractmethod
    def rendered_text(self, message: Seen) -> str:
        """What a reader sees of the message: plain text, the platform's escaping undone and
        its markup (links, mentions) reduced to their visible text."""

    @abstractmethod
    def markup_problems(self, message: Seen, *, allowed_links: set[str]) -> list[str]:
        """Why what the platform stored or sent could turn untrusted text into a mention, a
        link (other than to `allowed_links`) or markup: empty when it stays inert."""

    @abstractmethod
    def limit_problems(self, message: Seen) -> list[str]:
        """How the message breaks the platform's limits (size, blocks, sections): empty when
        it fits."""
