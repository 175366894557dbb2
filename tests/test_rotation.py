from datetime import UTC, datetime, timedelta

from bot.domain.rotation import next_question

IDS = ("Q1", "Q2", "Q3", "Q4")
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def week(n: int) -> datetime:
    return T0 + timedelta(weeks=n)


def test_never_asked_first_in_set_order() -> None:
    assert next_question(IDS, []) == "Q1"
    assert next_question(IDS, [("Q1", week(0))]) == "Q2"
    assert next_question(IDS, [("Q2", week(0))]) == "Q1"


def test_then_the_one_asked_longest_ago() -> None:
    history = [("Q1", week(0)), ("Q2", week(1)), ("Q3", week(2)), ("Q4", week(3))]
    assert next_question(IDS, history) == "Q1"
    history.append(("Q1", week(4)))
    assert next_question(IDS, history) == "Q2"


def test_a_full_cycle_asks_every_question_once() -> None:
    history: list[tuple[str, datetime]] = []
    for n in range(8):
        history.append((next_question(IDS, history), week(n)))
    assert [q for q, _ in history] == list(IDS) * 2


def test_never_the_same_twice_in_a_row() -> None:
    # An ad-hoc ask of Q4 right after Q1..Q3: Q4 is now newest, so it is not next.
    history = [("Q1", week(0)), ("Q2", week(1)), ("Q3", week(2)), ("Q4", week(2))]
    assert next_question(IDS, history) == "Q1"
    # Even if the only never-asked question was just asked... there is none; and with all
    # asked at the same instant, the most recent by order is still excluded.
    assert next_question(("Q1", "Q2"), [("Q2", week(5)), ("Q1", week(1))]) == "Q1"
    assert next_question(("Q1", "Q2"), [("Q1", week(5)), ("Q2", week(1))]) == "Q2"


def test_ids_outside_the_set_are_ignored_and_a_single_question_repeats() -> None:
    assert next_question(IDS, [("Q99", week(0))]) == "Q1"
    assert next_question(("Q1",), [("Q1", week(0))]) == "Q1"
