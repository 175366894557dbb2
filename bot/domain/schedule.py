"""Weekly schedules: when each occurrence is due, across DST changes and UK bank holidays.

Pure: give it a rule and a time range, get occurrences. An occurrence is named by its
*nominal* local date (the date the rule names), which stays its identity even when a bank
holiday moves it to the next working day; that is what makes it post exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

HolidayPolicy = Literal["move", "skip"]
NATIONS: dict[str, str] = {
    "england-and-wales": "ENG",  # Wales shares England's bank holidays
    "scotland": "SCT",
    "northern-ireland": "NIR",
}
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    weekday: int  # Monday = 0
    time: str  # "HH:MM" wall clock in `timezone`
    timezone: str = "Europe/London"
    nation: str = "england-and-wales"
    holiday_policy: HolidayPolicy = "move"
    paused_until: date | None = None  # occurrences before this date are not posted

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0-6 (Monday=0), not {self.weekday}")
        _parse_hhmm(self.time)
        ZoneInfo(self.timezone)
        if self.nation not in NATIONS:
            raise ValueError(f"nation must be one of {', '.join(NATIONS)}")

    def describe(self) -> str:
        text = f"{DAY_NAMES[self.weekday]}s at {self.time} {self.timezone}"
        if self.holiday_policy == "skip":
            text += ", skipping bank holidays"
        return text


@dataclass(frozen=True, slots=True)
class Occurrence:
    nominal: date  # the rule's date; the occurrence's identity
    due_at: datetime  # aware UTC, after any bank-holiday move
    status: Literal["due", "holiday", "paused"]
    note: str | None = None  # why it moved or is skipped
    # When it would have been due had nothing moved it. Weekly windows (a digest's week) are
    # cut here, so a bank holiday moves a post without moving the week it covers.
    nominal_at: datetime | None = None

    @property
    def postable(self) -> bool:
        return self.status == "due"


def _parse_hhmm(value: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"time must be HH:MM (24-hour), not {value!r}") from None


@lru_cache(maxsize=64)
def _bank_holidays(nation: str, year: int) -> dict[date, str]:
    return dict(holidays.country_holidays("GB", subdiv=NATIONS[nation], years=year))


def bank_holiday(nation: str, day: date) -> str | None:
    """The bank holiday's name if `day` is one in `nation`, else None."""
    return _bank_holidays(nation, day.year).get(day)


def next_working_day(nation: str, day: date) -> date:
    candidate = day + timedelta(days=1)
    while candidate.weekday() >= 5 or bank_holiday(nation, candidate):
        candidate += timedelta(days=1)
    return candidate


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Wall-clock time on a date in a zone, as UTC.

    In the spring-forward gap (01:30 on the last Sunday of March in London) fold=0 gives the
    pre-transition offset, i.e. the time the clock would have shown: 02:30 BST. In the autumn
    overlap fold=0 picks the first of the two 01:30s. Either way each date gives one instant.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def occurrence_on(rule: WeeklyRule, nominal: date) -> Occurrence:
    if nominal.weekday() != rule.weekday:
        raise ValueError(f"{nominal} is not a {DAY_NAMES[rule.weekday]}")
    zone = ZoneInfo(rule.timezone)
    at = _parse_hhmm(rule.time)
    planned = local_to_utc(nominal, at, zone)
    if rule.paused_until is not None and nominal < rule.paused_until:
        note = f"paused until {rule.paused_until.isoformat()}"
        return Occurrence(nominal, planned, "paused", note, planned)
    holiday = bank_holiday(rule.nation, nominal)
    if holiday is None:
        return Occurrence(nominal, planned, "due", None, planned)
    if rule.holiday_policy == "skip":
        return Occurrence(nominal, planned, "holiday", f"{holiday}: skipped", planned)
    moved = next_working_day(rule.nation, nominal)
    note = f"{holiday}: moved to {DAY_NAMES[moved.weekday()]} {moved.isoformat()}"
    return Occurrence(nominal, local_to_utc(moved, at, zone), "due", note, planned)


def occurrences_between(rule: WeeklyRule, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences whose due time falls in [start, end), in order, skipped ones included."""
    zone = ZoneInfo(rule.timezone)
    # A moved occurrence can be due up to ~2 weeks after its nominal date (Christmas), so look
    # back far enough that its nominal week is considered.
    first = start.astimezone(zone).date() - timedelta(days=14)
    first += timedelta(days=(rule.weekday - first.weekday()) % 7)
    last = end.astimezone(zone).date()
    found: list[Occurrence] = []
    nominal = first
    while nominal <= last:
        occ = occurrence_on(rule, nominal)
        if start <= occ.due_at < end:
            found.append(occ)
        nominal += timedelta(days=7)
    return sorted(found, key=lambda o: o.due_at)


def next_occurrence(rule: WeeklyRule, after: datetime) -> Occurrence:
    """The first postable occurrence due strictly after `after`."""
    start = after + timedelta(microseconds=1)
    if rule.paused_until is not None:
        # Jump over the pause rather than walk week by week through it.
        resume = local_to_utc(rule.paused_until, time(0, 0), ZoneInfo(rule.timezone))
        start = max(start, resume - timedelta(days=14))
    for occ in occurrences_between(rule, start, start + timedelta(weeks=6)):
        if occ.postable and occ.due_at > after:
            return occ
    raise ValueError("no postable occurrence in six weeks after the pause")  # not reachable
