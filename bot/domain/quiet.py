"""Pre-election quiet periods: dates when a council holds back what the bot would publish.

Councils restrict publicity before elections. A quiet period holds some kinds of post
(questions, digests, alerts) in one channel or in all, from its first day to its last
(inclusive, in the bot's time zone). What it holds is recorded as `held`, never posted and
never silently lost. Pure: the store and the outbox ask `holds`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

# What an admin names, and the kinds of outbox row each holds (a nudge goes with its question).
HOLDABLE: dict[str, frozenset[str]] = {
    "questions": frozenset({"question", "nudge"}),
    "digests": frozenset({"digest"}),
    "alerts": frozenset({"alert"}),
}
ALL_HOLDS = tuple(HOLDABLE)


class QuietError(ValueError):
    """A quiet period that cannot be: the message says what to type instead."""


@dataclass(frozen=True, slots=True)
class QuietPeriod:
    id: int
    first_day: date
    last_day: date
    channel_id: str | None  # None: every channel
    holds: tuple[str, ...]
    reason: str

    def holds_post(self, kind: str, channel_id: str, day: date) -> bool:
        return (
            self.first_day <= day <= self.last_day
            and (self.channel_id is None or self.channel_id == channel_id)
            and any(kind in HOLDABLE[name] for name in self.holds)
        )


def parse_holds(text: str | None) -> tuple[str, ...]:
    """`questions,alerts,digests` (any order, any subset); None or empty: all three."""
    if not text or not text.strip():
        return ALL_HOLDS
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in HOLDABLE]
    if unknown:
        raise QuietError(
            f"{', '.join(unknown)} cannot be held: say which of {', '.join(ALL_HOLDS)} "
            "(e.g. --hold questions,digests)"
        )
    return tuple(name for name in ALL_HOLDS if name in names)


def check_dates(first_day: date, last_day: date) -> None:
    if last_day < first_day:
        raise QuietError(
            f"the period ends ({last_day}) before it starts ({first_day}): give --from the "
            "first day and --to the last"
        )


def holding(
    periods: Iterable[QuietPeriod], kind: str, channel_id: str, day: date
) -> QuietPeriod | None:
    """The quiet period that holds a post of `kind` in `channel_id` due on `day`, if any."""
    return next((p for p in periods if p.holds_post(kind, channel_id, day)), None)
