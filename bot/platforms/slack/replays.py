"""Replayed slash commands and interactions: acked, then dropped.

Two checks, split around the ack so that the ack never waits for the database:
1. before the ack (`SlackServer`): a bounded map in memory, instant; a replay this process has
   seen is acked and dropped there;
2. after the ack, before anything is carried out (each listener, `first_time(context)` right
   after `await ack()`): an insert into `processed_events` (`cmd:<team>:<signature>`), so that
   another process sharing the database refuses the replay too. A replay is still acked with
   200 either way (Slack would retry otherwise).

The server passes the second check to the listeners in Bolt's request context; a request that
came another way (Socket Mode, tests calling listeners directly) has none and goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import conflict_insert
from bot.store.models import ProcessedEvent

if TYPE_CHECKING:
    from bot.store.db import Database

log = logging.getLogger(__name__)

REPLAY_WINDOW_S = 5 * 60  # Slack's signature window: an older replay fails its signature
# Bolt's request context: the database check of this request, awaited after the ack.
CONTEXT_KEY = "leaderbot_replay_check"
REPLAY_DROPPED = "replayed request acked and dropped (seen within 5 minutes)"


class ReplayGuard:
    """Which signed commands and interactions were seen within Slack's 5-minute window: a
    bounded map in memory, and `processed_events` in the database (when given) so that
    another process sharing the database refuses the replay too."""

    def __init__(
        self,
        db: Database | None,
        *,
        window_s: float = REPLAY_WINDOW_S,
        capacity: int = 20_000,
        db_timeout_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.window_s = window_s
        self.capacity = capacity
        self.db_timeout_s = db_timeout_s
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time_in_memory(self, key: str) -> bool:
        """Whether this process has not seen `key` within the window (and remember it)."""
        now = self.clock()
        while self._seen:
            oldest, expires = next(iter(self._seen.items()))
            if expires > now:
                break
            del self._seen[oldest]
        if key in self._seen:
            return False
        self._seen[key] = now + self.window_s
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    async def first_time_in_database(self, key: str) -> bool:
        """Whether no process sharing the database has recorded `key` (and record it). If
        the database cannot say within the timeout: True (this process still refused the
        replays it saw itself)."""
        if self.db is None:
            return True
        try:
            async with asyncio.timeout(self.db_timeout_s):
                return await self._record(key)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("replay check in the database failed (%s): going on", type(exc).__name__)
            return True

    async def first_time(self, key: str) -> bool:
        """Both checks at once (for callers that have no ack to send first)."""
        return self.first_time_in_memory(key) and await self.first_time_in_database(key)

    def deferred(self, key: str) -> dict[str, Any] | None:
        """Bolt's request context carrying the database check of `key`, or None if there is
        no database to check."""
        if self.db is None:
            return None
        return {CONTEXT_KEY: lambda: self.first_time_in_database(key)}

    async def _record(self, key: str) -> bool:
        assert self.db is not None
        async with self.db.write() as session:
            result = await session.execute(
                conflict_insert(session, ProcessedEvent)
                .values(event_id=key)
                .on_conflict_do_nothing(index_elements=["event_id"])
            )
        return bool(result.rowcount)


async def first_time(context: Mapping[str, Any]) -> bool:
    """In a listener, right after `await ack()`: whether to carry the request out, False for a
    replay another process sharing the database has seen (logged once)."""
    check: Callable[[], Awaitable[bool]] | None = context.get(CONTEXT_KEY)
    if check is None or await check():
        return True
    log.warning(REPLAY_DROPPED)
    return False
