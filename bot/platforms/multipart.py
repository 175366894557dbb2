"""A post made of several messages (a long digest), the same on every platform: its head,
then each further part in the head's thread, each tagged with `<key>#<n>`.

Once the head is out the post counts as made, so nothing here raises to the outbox for a part
(it would post the head again): a part is retried a few times, looked for after an uncertain
attempt, and given up with a note in the thread rather than dropped silently. Each adapter
supplies how to send, how to look, and how to wait; this module owns the rules.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.domain.digest import Digest
from bot.domain.language import ENGLISH, Translator
from bot.port import DeliveryUnknown, PlatformError, RateLimited, StillOurs

log = logging.getLogger(__name__)

PART_ATTEMPTS = 4  # tries for each further part (and, on Slack, for the chart)
LONGEST_PART_WAIT_S = 60.0  # a longer Retry-After gives that part up (the thread says so)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class TakenOver(Exception):
    """Another sender took the post over part-way (and resumes it): stop posting."""


async def send_head(
    send: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]], key: str
) -> T:
    """Send the head; after an uncertain attempt, look for it, so the parts can follow now.
    When that cannot be told, the uncertainty goes to the outbox, which looks again later."""
    try:
        return await send()
    except DeliveryUnknown as exc:
        try:
            found = await find()
        except PlatformError:
            raise exc from None
        if found is None:
            raise
        log.info("post %s: head arrived despite the error", key)
        return found


async def send_part(
    *,
    key: str,
    send: Callable[[], Awaitable[object]],
    is_there: Callable[[], Awaitable[bool]],
    sleep: Sleep,
    still_ours: StillOurs | None,
    pause_s: float = 0.0,
) -> bool:
    """One further part, retried; False if it could not be posted. Raises TakenOver if, just
    before a send, the post turns out to be another sender's. `pause_s` is waited before each
    attempt (platforms that pace per message)."""
    unknown = False
    for attempt in range(1, PART_ATTEMPTS + 1):
        if pause_s:
            await sleep(pause_s)  # the head (or the last part) just went
        if still_ours is not None and not await still_ours():
            raise TakenOver(key)
        try:
            if unknown and await is_there():
                return True  # the last attempt arrived after all
            await send()
            return True
        except RateLimited as exc:
            if exc.retry_after > LONGEST_PART_WAIT_S:
                log.error("part %s: rate limited for %.0f s, given up", key, exc.retry_after)
                return False
            log.info("part %s: rate limited, waiting %.1f s", key, exc.retry_after)
            await sleep(exc.retry_after)
        except DeliveryUnknown as exc:
            unknown = True
            log.warning("part %s: attempt %d unknown (%s)", key, attempt, exc)
            await sleep(min(0.5 * 2**attempt, 8.0))
        except PlatformError as exc:
            log.error("part %s could not be posted: %s", key, exc)
            return False
    with contextlib.suppress(PlatformError):
        if unknown and await is_there():
            return True
    log.error("part %s: not posted after %d attempts", key, PART_ATTEMPTS)
    return False


def missing_parts_text(
    digest: Digest, missing: list[int], total: int, command: str, t: Translator = ENGLISH
) -> str:
    """What the thread says when parts could not be posted: which, and how to get the whole
    digest (`command` is the CLI line, as the platform shows code)."""
    numbers = ", ".join(str(n) for n in missing)
    return t.gettext(
        "Parts {numbers} of {total} of this digest could not be posted. The full digest: {command}"
    ).format(numbers=numbers, total=total, command=command)


def full_digest_command(digest: Digest) -> str:
    since = digest.window.start.astimezone(digest.window.tz).date().isoformat()
    return f"leaderbot digest --channel {digest.channel.id} --since {since}"
