"""The channels this process knows the bot is in, so that setting or resuming a schedule
does not call conversations.join every time (a Slack round trip: most of a `schedule`
answer's time).

A channel is remembered after a join or a post there succeeds (the app has no
chat:write.public, so a post proves membership), for MEMBERSHIP_TTL_S, and forgotten at once
when a post or a join there fails because the bot is no longer in it (removed, the channel
archived or gone). The key is (workspace, channel): with many workspaces a channel id is
only unique within its workspace's view (a channel shared between two workspaces has one id
in both, and each workspace's bot joins on its own).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from bot.port import CHANNEL_NOT_FOUND, NEEDS_INVITE, NOT_INSTALLED, PlatformError

# Trusted this long after the last proof. The bot can be removed from a channel without a
# post failing (nothing is posted between commands); after this the next command joins again
# (one call), so a removal is noticed within minutes at worst, and a council's burst of
# commands in one channel costs one join.
MEMBERSHIP_TTL_S = 10 * 60.0
# Bounded: a deployment with more channels than this forgets the least recently proven.
MEMBERSHIP_CAPACITY = 50_000
# The codes of a failure that means the bot is not (or no longer) in the channel:
# not_in_channel (NEEDS_INVITE), channel_not_found, is_archived, the app uninstalled.
GONE_CODES = frozenset({NEEDS_INVITE, CHANNEL_NOT_FOUND, NOT_INSTALLED, "is_archived"})

Key = tuple[str, str]  # (workspace id, "" for a single-workspace install; channel id)


def gone(exc: PlatformError) -> bool:
    """Whether a failed post or join says the bot is not in the channel (any more)."""
    return exc.code in GONE_CODES


class Memberships:
    """Which channels the bot is known to be in, each until MEMBERSHIP_TTL_S after its last
    proof (a successful join or post)."""

    def __init__(
        self,
        *,
        ttl_s: float = MEMBERSHIP_TTL_S,
        capacity: int = MEMBERSHIP_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self.clock = clock
        self._until: OrderedDict[Key, float] = OrderedDict()

    @staticmethod
    def key(workspace_id: str | None, channel_id: str) -> Key:
        return (workspace_id or "", channel_id)

    def known(self, workspace_id: str | None, channel_id: str) -> bool:
        key = self.key(workspace_id, channel_id)
        until = self._until.get(key)
        if until is None:
            return False
        if until <= self.clock():
            del self._until[key]
            return False
        return True

    def remember(self, workspace_id: str | None, channel_id: str) -> None:
        key = self.key(workspace_id, channel_id)
        self._until.pop(key, None)  # to the end: the most recently proven is kept longest
        self._until[key] = self.clock() + self.ttl_s
        while len(self._until) > self.capacity:
            self._until.popitem(last=False)

    def forget(self, workspace_id: str | None, channel_id: str) -> None:
        self._until.pop(self.key(workspace_id, channel_id), None)
