from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain.schedule import (
    WeeklyRule,
    bank_holiday,
    next_occurrence,
    occurrence_on,
    occurrences_between,
)

MON, TUE, FRI, SUN = 0, 1, 4, 6


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_wall_clock_time_holds_across_the_clocks_changing() -> None:
    rule = WeeklyRule(weekday=MON, time="09:00")
    winter = occurrence_on(rule, date(2026, 3, 23))  # GMT
    summer = occurrence_on(rule, date(2026, 3, 30))  # BST from 29 March
    assert winter.due_at == utc(2026, 3, 23, 9, 0)
    assert summer.due_at == utc(2026, 3, 30, 8, 0)
    back = occurrence_on(rule, date(2026, 10, 26))  # GMT again from 25 October
    assert back.due_at == utc(2026, 10, 26, 9, 0)


def test_a_time_in_the_spring_gap_posts_once_at_the_shifted_time() -> None:
    rule = WeeklyRule(weekday=SUN, time="01:30")
    occ = occurrence_on(rule, date(2026, 3, 29))  # 01:00-02:00 does not exist in London
    assert occ.due_at == utc(2026, 3, 29, 1, 30)  # = 02:30 BST
    found = occurrences_between(rule, utc(2026, 3, 28), utc(2026, 3, 30))
    assert [o.nominal for o in found] == [date(2026, 3, 29)]


def test_a_time_in_the_autumn_overlap_posts_once() -> None:
    rule = WeeklyRule(weekday=SUN, time="01:30")
    found = occurrences_between(rule, utc(2026, 10, 24), utc(2026, 10, 26))
    assert len(found) == 1
    assert found[0].due_at == utc(2026, 10, 25, 0, 30)  # the first 01:30, still BST


def test_other_time_zones() -> None:
    rule = WeeklyRule(weekday=MON, time="09:00", timezone="America/New_York")
    assert occurrence_on(rule, date(2026, 1, 12)).due_at == utc(2026, 1, 12, 14, 0)


def test_bank_holiday_moves_to_next_working_day_by_default() -> None:
    rule = WeeklyRule(weekday=MON, time="09:00")
    occ = occurrence_on(rule, date(2026, 4, 6))  # Easter Monday, England and Wales
    assert occ.postable
    assert occ.due_at == utc(2026, 4, 7, 8, 0)  # Tuesday, BST
    assert occ.nominal == date(2026, 4, 6)
    assert occ.note and "Easter Monday" in occ.note


def test_bank_holidays_differ_by_nation() -> None:
    scotland = WeeklyRule(weekday=MON, time="09:00", nation="scotland")
    assert occurrence_on(scotland, date(2026, 4, 6)).due_at == utc(2026, 4, 6, 8, 0)
    assert bank_holiday("scotland", date(2026, 8, 3))  # Scotland's summer holiday
    assert bank_holiday("england-and-wales", date(2026, 8, 3)) is None
    assert bank_holiday("northern-ireland", date(2026, 3, 17))  # St Patrick's Day


def test_christmas_moves_past_consecutive_holidays() -> None:
    rule = WeeklyRule(weekday=FRI, time="10:00")
    occ = occurrence_on(rule, date(2026, 12, 25))  # Fri; Mon 28th is the Boxing Day substitute
    assert occ.due_at == utc(2026, 12, 29, 10, 0)


def test_skip_policy_skips_the_holiday() -> None:
    rule = WeeklyRule(weekday=MON, time="09:00", holiday_policy="skip")
    occ = occurrence_on(rule, date(2026, 5, 4))  # Early May bank holiday
    assert occ.status == "holiday" and not occ.postable
    nxt = next_occurrence(rule, utc(2026, 5, 1))
    assert nxt.nominal == date(2026, 5, 11)


def test_pause_until_a_date_then_posts_on_it() -> None:
    rule = WeeklyRule(weekday=MON, time="09:00", paused_until=date(2026, 2, 2))
    assert occurrence_on(rule, date(2026, 1, 26)).status == "paused"
    assert next_occurrence(rule, utc(2026, 1, 14)).nominal == date(2026, 2, 2)


def test_occurrences_between_includes_a_moved_occurrence_once() -> None:
    rule = WeeklyRule(weekday=MON, time="09:00")
    found = occurrences_between(rule, utc(2026, 4, 1), utc(2026, 4, 15))
    assert [(o.nominal, o.due_at.date()) for o in found] == [
        (date(2026, 4, 6), date(2026, 4, 7)),
        (date(2026, 4, 13), date(2026, 4, 13)),
    ]


def test_next_occurrence_is_strictly_after() -> None:
    rule = WeeklyRule(weekday=MON, time="09:00")
    at = utc(2026, 1, 12, 9, 0)
    assert next_occurrence(rule, at).due_at == at + timedelta(days=7)
    assert next_occurrence(rule, at - timedelta(seconds=1)).due_at == at


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("weekday", 7),
        ("time", "25:00"),
        ("time", "9am"),
        ("timezone", "Mars/Olympus"),
        ("nation", "wales"),
    ],
)
def test_bad_rules_are_refused(field: str, value: object) -> None:
    args = {"weekday": MON, "time": "09:00"} | {field: value}
    with pytest.raises(Exception):  # noqa: B017 - ValueError or ZoneInfoNotFoundError
        WeeklyRule(**args)  # type: ignore[arg-type]
