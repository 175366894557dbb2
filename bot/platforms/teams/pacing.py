"""Staying within Teams' per-conversation limits for a bot: 7 messages a second and 60 in 30
seconds (Microsoft: "Rate limiting for bots"). The outbox already spaces posts per channel;
this keeps a post made of several messages (a long digest) within the limits too, and every
other send this process makes to the same channel."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

# (messages, seconds) pairs, each a sliding window that must never be exceeded.
LIMITS: tuple[tuple[int, float], ...] = ((7, 1.0), (60, 30.0))


class ConversationPacer:
    def __init__(
        self,
        limits: tuple[tuple[int, float], ...] = LIMITS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._longest = max(seconds for _, seconds in limits)

    def _wait_needed(self, times: deque[float], now: float) -> float:
        wait = 0.0
        for count, seconds in self.limits:
            recent = [t for t in times if t > now - seconds]
            if len(recent) >= count:
                # The oldest message that still counts must leave the window first.
                wait = max(wait, recent[-count] + seconds - now)
        return wait

    async def wait(self, conversation: str) -> None:
        """Return once one more message may be sent to `conversation`; counts it as sent."""
        lock = self._locks.setdefault(conversation, asyncio.Lock())
        async with lock:
            times = self._sent.setdefault(conversation, deque())
            while True:
                now = self._clock()
                while times and times[0] <= now - self._longest:
                    times.popleft()
                delay = self._wait_needed(times, now)
                if delay <= 0:
                    times.append(now)
                    return
                await self._sleep(delay)
