"""The digest builder and its windows, with plain values (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.digest import (
    WEEKS,
    ChannelRef,
    DigestReply,
    DigestWindow,
    QuestionThread,
    WeekParticipation,
    build_digest,
    digest_window,
    participation_by_week,
    participation_series,
    week_start,
    window_since,
)
from bot.domain.questions import Question, QuestionSet

LONDON = ZoneInfo("Europe/London")


def make_set(count: int = 5) -> QuestionSet:
    return QuestionSet(
        edition="test",
        title="Test questions",
        source_url="https://example.org/",
        questions=tuple(
            Question(
                id=f"Q{i}",
                text=f"Question number {i}: what would you change?",
                theme=f"Theme {i}",
                provenance="paraphrased",
                source="tests",
                source_url="https://example.org/",
            )
            for i in range(1, count + 1)
        ),
    )


QS = make_set()
CHANNEL = ChannelRef("C123", "leaders")
# Friday 16:00 digest; the window covers the week before it.
WINDOW = DigestWindow(
    start=datetime(2025, 4, 4, 16, 0, tzinfo=LONDON),
    end=datetime(2025, 4, 11, 16, 0, tzinfo=LONDON),
)
MONDAY = datetime(2025, 4, 7, 9, 0, tzinfo=LONDON)


def reply(user: str, minutes: int, text: str = "An answer", *, ts: str | None = None, **kw):
    posted = MONDAY + timedelta(minutes=minutes)
    return DigestReply(
        user_id=user,
        user_name=kw.pop("name", f"Name {user}"),
        text=text,
        message_id=ts or f"{int(posted.timestamp())}.000100",
        edited=kw.pop("edited", False),
        posted_at=posted,
    )


def build(threads, *, members=40, asked=(), history=()):
    return build_digest(
        channel=CHANNEL,
        window=WINDOW,
        threads=threads,
        member_count=members,
        question_set=QS,
        asked_ids=asked,
        history=history,
    )


def test_counts_participants_and_share() -> None:
    replies = [reply("U1", 30), reply("U2", 10), reply("U1", 50, edited=True), reply("U3", 20)]
    digest = build([QuestionThread(QS.questions[2], MONDAY, "https://x/p", replies)])

    (item,) = digest.questions
    assert item.reply_count == 4
    assert item.participants == 3
    assert item.share == pytest.approx(3 / 40)
    assert digest.reply_count == 4
    assert digest.participants == 3
    assert digest.share == pytest.approx(3 / 40)
    # Sorted by time, whatever order they came in.
    assert [r.user_id for r in item.replies] == ["U2", "U3", "U1", "U1"]
    assert item.replies[-1].edited is True


def test_replies_with_the_same_time_are_ordered_by_ts_numerically() -> None:
    same = MONDAY
    replies = [
        DigestReply("U1", "A", "later", "1712476800.000200", False, same),
        DigestReply("U2", "B", "earlier", "1712476800.000010", False, same),
    ]
    digest = build([QuestionThread(QS.questions[0], MONDAY, None, replies)])
    assert [r.text for r in digest.questions[0].replies] == ["earlier", "later"]


def test_participants_are_distinct_across_questions() -> None:
    first = QuestionThread(QS.questions[0], MONDAY, None, [reply("U1", 1), reply("U2", 2)])
    second = QuestionThread(
        QS.questions[1], MONDAY + timedelta(days=1), None, [reply("U2", 3), reply("U3", 4)]
    )
    digest = build([second, first])
    assert [q.question.id for q in digest.questions] == ["Q1", "Q2"]  # oldest first
    assert digest.reply_count == 4
    assert digest.participants == 3
    assert [q.participants for q in digest.questions] == [2, 2]


@pytest.mark.parametrize("members", [None, 0])
def test_share_is_none_when_member_count_unknown_or_zero(members) -> None:
    digest = build(
        [QuestionThread(QS.questions[0], MONDAY, None, [reply("U1", 1)])], members=members
    )
    assert digest.share is None
    assert digest.questions[0].share is None
    assert digest.member_count == members


def test_share_never_exceeds_one() -> None:
    replies = [reply(f"U{i}", i) for i in range(5)]
    digest = build([QuestionThread(QS.questions[0], MONDAY, None, replies)], members=3)
    assert digest.share == 1.0


def test_empty_digest() -> None:
    digest = build([QuestionThread(QS.questions[0], MONDAY, None, [])])
    assert digest.is_empty
    assert digest.reply_count == 0 and digest.participants == 0
    assert digest.share == 0.0
    assert digest.questions[0].replies == ()

    nothing = build([])
    assert nothing.questions == ()
    assert nothing.is_empty
    assert len(nothing.participation) == WEEKS


def test_missing_display_name_falls_back_to_user_id() -> None:
    replies = [reply("U9", 1, name="  "), reply("U8", 2, name=" Sam ")]
    digest = build([QuestionThread(QS.questions[0], MONDAY, None, replies)])
    assert [r.user_name for r in digest.questions[0].replies] == ["U9", "Sam"]


def test_not_yet_asked_in_set_order_excluding_asked_and_this_window() -> None:
    digest = build([QuestionThread(QS.questions[3], MONDAY, None, [])], asked=["q2", " Q1 "])
    assert [q.id for q in digest.not_yet_asked] == ["Q3", "Q5"]

    every = build([], asked=QS.ids)
    assert every.not_yet_asked == ()


def test_participation_has_twelve_points_oldest_first_with_zeros() -> None:
    this_week = date(2025, 4, 7)
    history = [
        WeekParticipation(this_week, 5, 9),
        WeekParticipation(this_week - timedelta(weeks=3), 2, 2),
        WeekParticipation(this_week - timedelta(weeks=30), 7, 7),  # too old: ignored
    ]
    digest = build([], history=history)
    series = digest.participation
    assert len(series) == 12
    assert series[-1].week_start == this_week
    assert series[0].week_start == this_week - timedelta(weeks=11)
    assert [p.week_start for p in series] == sorted(p.week_start for p in series)
    assert [p.participants for p in series] == [0] * 8 + [2, 0, 0, 5]
    assert [p.replies for p in series] == [0] * 8 + [2, 0, 0, 9]
    assert all(p.week_start.weekday() == 0 for p in series)


def test_participation_with_no_history_is_all_zero() -> None:
    series = build([]).participation
    assert len(series) == 12
    assert {p.participants for p in series} == {0}


def test_window_ending_monday_midnight_charts_the_week_before() -> None:
    window = DigestWindow(
        datetime(2025, 3, 31, tzinfo=LONDON), datetime(2025, 4, 7, 0, 0, tzinfo=LONDON)
    )
    digest = build_digest(
        channel=CHANNEL,
        window=window,
        threads=[],
        member_count=None,
        question_set=QS,
        asked_ids=(),
    )
    assert digest.participation[-1].week_start == date(2025, 3, 31)


def test_duplicate_week_in_history_is_an_error() -> None:
    week = date(2025, 4, 7)
    with pytest.raises(ValueError, match="twice"):
        participation_series([WeekParticipation(week, 1, 1), WeekParticipation(week, 2, 2)], week)


def test_participation_by_week_groups_by_local_iso_week() -> None:
    # Sunday 23:30 UTC in summer is Monday 00:30 in London: next week there.
    sunday_night = datetime(2025, 4, 6, 23, 30, tzinfo=UTC)
    rows = [
        ("U1", sunday_night),
        ("U1", datetime(2025, 4, 8, 12, tzinfo=UTC)),
        ("U2", datetime(2025, 4, 9, 12, tzinfo=UTC)),
        ("U3", datetime(2025, 4, 2, 12, tzinfo=UTC)),
    ]
    weeks = participation_by_week(rows, LONDON)
    assert weeks == [
        WeekParticipation(date(2025, 3, 31), 1, 1),
        WeekParticipation(date(2025, 4, 7), 2, 3),
    ]
    assert weeks[1].iso_week == "2025-W15"
    assert week_start(sunday_night) == date(2025, 3, 31)  # in UTC it is still Sunday


def test_window_validation() -> None:
    with pytest.raises(ValueError):
        DigestWindow(datetime(2025, 4, 1), datetime(2025, 4, 2))  # naive
    with pytest.raises(ValueError):
        DigestWindow(WINDOW.end, WINDOW.start)
    assert MONDAY in WINDOW
    assert WINDOW.end not in WINDOW  # half-open
    assert WINDOW.start in WINDOW
    assert WINDOW.occurrence == date(2025, 4, 11)


def test_digest_window_on_the_day_after_the_time() -> None:
    now = datetime(2025, 4, 11, 15, 5, tzinfo=UTC)  # Fri 16:05 BST
    window = digest_window(now, LONDON, 4, time(16, 0))
    assert window.end == datetime(2025, 4, 11, 16, 0, tzinfo=LONDON)
    assert window.start == datetime(2025, 4, 4, 16, 0, tzinfo=LONDON)
    assert window.occurrence == date(2025, 4, 11)


def test_digest_window_before_the_time_is_last_weeks() -> None:
    now = datetime(2025, 4, 11, 14, 0, tzinfo=UTC)  # Fri 15:00 BST: not yet due
    window = digest_window(now, LONDON, 4, time(16, 0))
    assert window.end == datetime(2025, 4, 4, 16, 0, tzinfo=LONDON)


def test_digest_window_exactly_at_the_time_and_midweek() -> None:
    due = datetime(2025, 4, 11, 16, 0, tzinfo=LONDON)
    assert digest_window(due, LONDON, 4, time(16, 0)).end == due
    tuesday = datetime(2025, 4, 15, 10, 0, tzinfo=LONDON)
    assert digest_window(tuesday, LONDON, 4, time(16, 0)).end == due


def test_digest_window_across_the_clocks_changing_is_seven_calendar_days() -> None:
    # Clocks went forward on Sunday 30 March 2025.
    now = datetime(2025, 4, 4, 17, 0, tzinfo=LONDON)
    window = digest_window(now, LONDON, 4, time(16, 0))
    assert window.start == datetime(2025, 3, 28, 16, 0, tzinfo=LONDON)
    # Subtracting in UTC: Python subtracts datetimes sharing a tzinfo as wall-clock times.
    assert window.end.astimezone(UTC) - window.start.astimezone(UTC) == timedelta(hours=167)
    # Consecutive windows meet exactly.
    following = digest_window(now + timedelta(days=7), LONDON, 4, time(16, 0))
    assert following.start == window.end


def test_digest_window_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        digest_window(datetime(2025, 4, 4), LONDON, 4, time(16))
    with pytest.raises(ValueError):
        digest_window(datetime(2025, 4, 4, tzinfo=UTC), LONDON, 7, time(16))


def test_window_since() -> None:
    now = datetime(2025, 4, 11, 12, 0, tzinfo=UTC)
    window = window_since(date(2025, 4, 1), now, LONDON)
    assert window.start == datetime(2025, 4, 1, 0, 0, tzinfo=LONDON)
    assert window.end == now
    with pytest.raises(ValueError):
        window_since(date(2025, 5, 1), now, LONDON)
