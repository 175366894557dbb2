"""The value parsers: a table of good inputs, a table of bad ones, and the rule that every error
is one line containing an example (in backticks) that the same parser accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import partial
from zoneinfo import available_timezones

import pytest

from bot.domain.parsing import (
    ChannelId,
    ChannelName,
    ParseError,
    UserId,
    Word,
    day_name,
    describe_ids,
    is_meridiem,
    looks_like_channel,
    parse_channel,
    parse_date,
    parse_day,
    parse_nation,
    parse_question_id,
    parse_time,
    parse_url,
    parse_user,
    parse_zone,
    show,
    word_text,
)

TODAY = date(2026, 6, 1)
IDS = tuple(f"Q{i}" for i in range(1, 11))


def assert_helpful(error: ParseError, parser: Callable[[str], object]) -> None:
    """One line, and at least one backticked example that `parser` accepts."""
    assert "\n" not in error.message
    assert error.message == str(error)
    examples = re.findall(r"`([^`]+)`", error.message)
    assert examples, error.message
    good = []
    for example in examples:
        try:
            parser(example)
        except ParseError:
            continue
        good.append(example)
    assert good, f"no example in {error.message!r} parses"


# --- days ---------------------------------------------------------------------------------

DAYS_OK = [
    ("mon", 0),
    ("Monday", 0),
    ("MONDAY", 0),
    (" mon ", 0),
    ("mon,", 0),
    ("Mondays", 0),
    ("mo", 0),
    ("tue", 1),
    ("tues", 1),
    ("Tuesday", 1),
    ("wed", 2),
    ("weds", 2),
    ("Wednesday", 2),
    ("thu", 3),
    ("thur", 3),
    ("thurs", 3),
    ("Thursday", 3),
    ("fri", 4),
    ("Friday", 4),
    ("fri.", 4),
    ("sat", 5),
    ("Saturday", 5),
    ("sun", 6),
    ("sunday", 6),
]


@pytest.mark.parametrize(("text", "expected"), DAYS_OK)
def test_day_good(text: str, expected: int) -> None:
    assert parse_day(text) == expected


@pytest.mark.parametrize("text", ["", "m", "xx", "Wendesday", "munday", "mon,wed", "7", "weekday"])
def test_day_bad(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_day(text)
    assert_helpful(info.value, parse_day)


def test_day_misspelling_suggests() -> None:
    with pytest.raises(ParseError) as info:
        parse_day("Wendesday")
    assert "Did you mean `Wednesday`?" in info.value.message
    assert info.value.suggestion == "wed"
    assert day_name(2) == "Wednesday"


# --- times --------------------------------------------------------------------------------

TIMES_OK = [
    ("09:00", "09:00"),
    ("9:00", "09:00"),
    ("0900", "09:00"),
    ("930", "09:30"),
    ("17.30", "17:30"),
    ("17:30", "17:30"),
    ("17h30", "17:30"),
    ("00:00", "00:00"),
    ("23:59", "23:59"),
    ("9", "09:00"),
    ("17", "17:00"),
    ("9am", "09:00"),
    ("9AM", "09:00"),
    ("9 am", "09:00"),
    ("9a.m.", "09:00"),
    ("9 a.m.", "09:00"),
    ("9:30 pm", "21:30"),
    ("9:30pm", "21:30"),
    ("9.30pm", "21:30"),
    ("5pm", "17:00"),
    ("12pm", "12:00"),
    ("12am", "00:00"),
    ("12:30am", "00:30"),
    ("12:15pm", "12:15"),
    ("1am", "01:00"),
    ("11pm", "23:00"),
    ("noon", "12:00"),
    ("Midday", "12:00"),
    ("midnight", "00:00"),
]


@pytest.mark.parametrize(("text", "expected"), TIMES_OK)
def test_time_good(text: str, expected: str) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "25:00", "24:00", "9:60", "13pm", "0am", "00pm", "9:5", "99999", "nine", "9:00:00", "am"],
)
def test_time_bad(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_time(text)
    assert_helpful(info.value, parse_time)


def test_time_24_hints_midnight() -> None:
    with pytest.raises(ParseError, match="00:00"):
        parse_time("24:00")


@pytest.mark.parametrize(("text", "expected"), [("pm", True), ("a.m.", True), ("9pm", False)])
def test_is_meridiem(text: str, expected: bool) -> None:
    assert is_meridiem(text) is expected


# --- time zones ---------------------------------------------------------------------------

ZONES_OK = [
    ("Europe/London", "Europe/London"),
    ("europe/london", "Europe/London"),
    ("EUROPE/LONDON", "Europe/London"),
    (" Europe/London ", "Europe/London"),
    ("London", "Europe/London"),
    ("london", "Europe/London"),
    ("Edinburgh", "Europe/London"),
    ("Belfast", "Europe/London"),
    ("Cardiff", "Europe/London"),
    ("UK", "Europe/London"),
    ("GB", "Europe/London"),
    ("GMT", "Europe/London"),
    ("BST", "Europe/London"),
    ("Europe/Belfast", "Europe/London"),
    ("Dublin", "Europe/Dublin"),
    ("Europe/Dublin", "Europe/Dublin"),
    ("UTC", "UTC"),
    ("america/new_york", "America/New_York"),
    ("New York", "America/New_York"),
    ("Paris", "Europe/Paris"),
    ("Isle of Man", "Europe/Isle_of_Man"),
    ("Jersey", "Europe/Jersey"),
]


@pytest.mark.parametrize(("text", "expected"), ZONES_OK)
def test_zone_good(text: str, expected: str) -> None:
    assert parse_zone(text) == expected
    assert parse_zone(text) in available_timezones()


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("Europe/Londn", "Europe/London"),
        ("Londn", "Europe/London"),
        ("Edinbrugh", "Europe/London"),
        ("europe/pari", "Europe/Paris"),
        ("Amercia/New_York", "America/New_York"),
    ],
)
def test_zone_near_miss_suggests_but_refuses(text: str, suggestion: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_zone(text)
    assert info.value.suggestion == suggestion
    assert f"Did you mean `{suggestion}`" in info.value.message
    assert_helpful(info.value, parse_zone)


@pytest.mark.parametrize(
    "text", ["", "xyzzy", "UTC+1", "+01:00", "GMT-5", "Indianapolis", "Mars/Olympus_Mons"]
)
def test_zone_bad(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_zone(text)
    assert_helpful(info.value, parse_zone)


def test_zone_never_suggests_inverted_etc_offsets() -> None:
    # Etc/GMT+1 is UTC-1: suggesting it for "GMT+1" would set the wrong clock.
    for text in ("UTC+1", "GMT+1", "etc/gmt+11x"):
        try:
            parse_zone(text)
        except ParseError as exc:
            assert "Etc/" not in exc.message


# --- channels and people ------------------------------------------------------------------

# Mentions arrive as ChannelId / UserId words, read by each platform's adapter (Slack's are
# tested in test_slack_command_text.py); plain text knows only `#name` and, where names are
# ids, a bare word.

CHANNELS_OK = [
    (ChannelId("C0123ABCD", "general"), ChannelId("C0123ABCD", "general")),
    (ChannelId("19:abc@thread.tacv2"), ChannelId("19:abc@thread.tacv2")),
    ("#general", ChannelName("general")),
    (" #general ", ChannelName("general")),
    ("#All-Staff", ChannelName("all-staff")),
    ("#team_leaders", ChannelName("team_leaders")),
]


@pytest.mark.parametrize(("word", "expected"), CHANNELS_OK)
def test_channel_good(word: Word, expected: object) -> None:
    assert parse_channel(word) == expected


@pytest.mark.parametrize(
    "word", ["", "general", "#", "C0123ABCD", "<#C123|x>", "# general", UserId("U0123ABCD")]
)
def test_channel_bad(word: Word) -> None:
    with pytest.raises(ParseError) as info:
        parse_channel(word)
    assert_helpful(info.value, parse_channel)


def test_channel_any_id_for_platforms_whose_names_are_ids() -> None:
    assert parse_channel("console", any_id=True) == ChannelId("console")
    assert parse_channel("19:abc@thread.tacv2", any_id=True) == ChannelId("19:abc@thread.tacv2")
    assert parse_channel(ChannelId("C123ABC", "x"), any_id=True) == ChannelId("C123ABC", "x")
    for bad in ("two words", "<#C123|x>", "@jane"):
        with pytest.raises(ParseError):
            parse_channel(bad, any_id=True)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        (ChannelId("C123ABC", "x"), True),
        ("#general", True),
        ("C0123ABCD", False),  # an id typed as it stands is the adapter's to recognise
        ("CYBERSECURITY", False),
        ("#12", False),  # a feed number
        ("general", False),
        ("digital", False),
        (UserId("U0123ABCD"), False),
    ],
)
def test_looks_like_channel(word: Word, expected: bool) -> None:
    assert looks_like_channel(word) is expected


def test_user_is_a_mention_or_where_names_are_ids_a_word() -> None:
    assert parse_user(UserId("U0123ABCD", "jane")) == UserId("U0123ABCD", "jane")
    assert parse_user("tester", any_id=True) == UserId("tester")
    assert parse_user(" 29:1abc ", any_id=True) == UserId("29:1abc")


@pytest.mark.parametrize(
    ("word", "any_id"),
    [
        ("", False),
        ("jane", False),
        ("U0123ABCD", False),
        ("@jane", False),
        ("@jane", True),
        ("two words", True),
        (ChannelId("C0123ABCD", "general"), True),
        ("", True),
    ],
)
def test_user_bad(word: Word, any_id: bool) -> None:
    with pytest.raises(ParseError) as info:
        parse_user(word, any_id=any_id)
    assert "\n" not in info.value.message and "`@Jane Smith`" in info.value.message


def test_word_text_reads_a_mention_back() -> None:
    assert word_text("plain") == "plain"
    assert word_text(UserId("U1", "jane")) == "@jane"
    assert word_text(UserId("U1")) == "U1"
    assert word_text(ChannelId("C1", "general")) == "#general"
    assert word_text(ChannelId("C1")) == "C1"


# --- dates --------------------------------------------------------------------------------

DATES_OK = [
    ("2026-12-01", date(2026, 12, 1)),
    ("2026-6-1", date(2026, 6, 1)),
    (" 2027-01-31 ", date(2027, 1, 31)),
    ("2028-02-29", date(2028, 2, 29)),
]


@pytest.mark.parametrize(("text", "expected"), DATES_OK)
def test_date_good(text: str, expected: date) -> None:
    assert parse_date(text) == expected
    assert parse_date(text, today=TODAY) == expected


@pytest.mark.parametrize(
    "text", ["", "tomorrow", "2026-13-01", "2026-02-30", "2027-02-29", "01/12/2026", "26-12-01"]
)
def test_date_bad(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_date(text, today=TODAY)
    assert_helpful(info.value, partial(parse_date, today=TODAY))


def test_date_uk_order_gets_iso_suggestion() -> None:
    with pytest.raises(ParseError) as info:
        parse_date("01/12/2026")
    assert info.value.suggestion == "2026-12-01"


def test_date_past_is_refused_only_with_today() -> None:
    assert parse_date("2020-01-01") == date(2020, 1, 1)
    assert parse_date("2026-06-01", today=TODAY) == TODAY
    with pytest.raises(ParseError) as info:
        parse_date("2026-05-31", today=TODAY)
    assert "already passed" in info.value.message
    assert_helpful(info.value, partial(parse_date, today=TODAY))


# --- nations, questions, URLs -------------------------------------------------------------

NATIONS_OK = [
    ("england-and-wales", "england-and-wales"),
    ("England", "england-and-wales"),
    ("wales", "england-and-wales"),
    ("eng", "england-and-wales"),
    ("England and Wales", "england-and-wales"),
    ("England & Wales", "england-and-wales"),
    ("england_and_wales", "england-and-wales"),
    ("scotland", "scotland"),
    ("sco", "scotland"),
    ("Scotland", "scotland"),
    ("northern-ireland", "northern-ireland"),
    ("Northern Ireland", "northern-ireland"),
    ("NI", "northern-ireland"),
    ("N. Ireland", "northern-ireland"),
]


@pytest.mark.parametrize(("text", "expected"), NATIONS_OK)
def test_nation_good(text: str, expected: str) -> None:
    assert parse_nation(text) == expected


@pytest.mark.parametrize("text", ["", "france", "scotlnd", "ireland", "uk"])
def test_nation_bad(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_nation(text)
    assert_helpful(info.value, parse_nation)


@pytest.mark.parametrize(
    ("text", "expected"), [("Q3", "Q3"), ("q3", "Q3"), ("3", "Q3"), ("Q03", "Q3"), ("Q10", "Q10")]
)
def test_question_id_good(text: str, expected: str) -> None:
    assert parse_question_id(text, IDS) == expected


@pytest.mark.parametrize("text", ["Q11", "11", "Q0", "banana", "", "Q", "QQ3"])
def test_question_id_bad(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_question_id(text, IDS)
    assert_helpful(info.value, partial(parse_question_id, ids=IDS))


def test_question_id_out_of_range_message() -> None:
    with pytest.raises(ParseError) as info:
        parse_question_id("Q11", IDS)
    assert "There is no Q11: choose Q1–Q10." in info.value.message
    assert parse_question_id("Q11") == "Q11"  # without a set, only the shape is checked


def test_describe_ids() -> None:
    assert describe_ids(IDS) == "Q1–Q10"
    assert describe_ids(("Q1", "Q3")) == "Q1, Q3"


URLS_OK = [
    ("https://www.socitm.net/feed/", "https://www.socitm.net/feed/"),
    ("http://example.com/rss", "http://example.com/rss"),
    ("https://example.com/f?a=1&b=2", "https://example.com/f?a=1&b=2"),
    ("HTTPS://Example.com/feed", "HTTPS://Example.com/feed"),
]


@pytest.mark.parametrize(("text", "expected"), URLS_OK)
def test_url_good(text: str, expected: str) -> None:
    assert parse_url(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "example.com/feed",
        "ftp://example.com/feed",
        "mailto:a@b.com",
        "<https://www.socitm.net/feed/>",  # a link's markup is the adapter's to remove
        "https://",
        "javascript:alert(1)",
        "not a url",
    ],
)
def test_url_bad(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_url(text)
    assert_helpful(info.value, parse_url)


def test_show_keeps_echo_short_and_on_one_line() -> None:
    assert show("a\nb`c") == "a b'c"
    assert len(show("x" * 500)) == 40
