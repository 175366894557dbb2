"""The `/leadership` grammar: what each text parses to, what each mistake says, that every
error names a whole command to type instead which itself parses, and that help's examples do."""

from __future__ import annotations

import random
import re
import string
from datetime import date

import pytest

from bot.domain.command_grammar import (
    SLASH,
    SUBCOMMANDS,
    AddAdmin,
    AddFeed,
    AddQuiet,
    Ask,
    Command,
    DigestNow,
    DigestOff,
    Help,
    ListAdmins,
    ListFeeds,
    ListQuestions,
    ListQuiet,
    Pause,
    ReleaseQuiet,
    RemoveAdmin,
    RemoveFeed,
    RemoveQuiet,
    Resume,
    ScheduleOff,
    SetAlerts,
    SetDigest,
    SetLanguage,
    SetSchedule,
    Status,
    is_change,
    parse_command,
    plain_words,
    tokenize,
    with_channel,
)
from bot.domain.help_text import ENTRIES, HelpEntry, example, help_text
from bot.domain.parsing import ChannelId, ChannelName, ParseError, UserId, Word

TODAY = date(2026, 6, 1)
IDS = tuple(f"Q{i}" for i in range(1, 11))
GENERAL = ChannelId("C0123ABCD", "general")
LEADERS = ChannelId("C0LEADERS1", "leaders")
JANE = UserId("U0123ABCD", "jane")


STAFF = ChannelId("C0STAFF01", "staff")
# What a platform's adapter would make of these words when picked from its lists as typed.
MENTIONS: dict[str, Word] = {"#general": GENERAL, "#leaders": LEADERS, "#staff": STAFF}
MENTIONS["@jane"] = JANE


def read(text: str) -> list[Word]:
    """A stand-in adapter: plain words, with the channels and the person above as mentions."""
    return [MENTIONS.get(word, word) for word in tokenize(text)]


def parse(text: str) -> Command:
    return parse_command(read(text), today=TODAY, question_ids=IDS)


GOOD: list[tuple[str, Command]] = [
    # reading
    ("", Help()),
    ("   ", Help()),
    ("help", Help()),
    ("HELP", Help()),
    ("?", Help()),
    ("help schedule", Help(topic="schedule")),
    ("help feed", Help(topic="feeds")),
    ("status", Status()),
    ("Status", Status()),
    ("status #general", Status(channel=GENERAL)),
    (f"{SLASH} status", Status()),
    ("questions", ListQuestions()),
    ("question", ListQuestions()),
    ("feeds", ListFeeds()),
    ("feeds list", ListFeeds()),
    ("admins", ListAdmins()),
    ("admins list", ListAdmins()),
    # ask
    ("ask", Ask()),
    ("ask next", Ask()),
    ("ask Q3", Ask(question_id="Q3")),
    ("ask q3", Ask(question_id="Q3")),
    ("ask 3", Ask(question_id="Q3")),
    ("ask Q10", Ask(question_id="Q10")),
    ("ask Q3 #general", Ask(question_id="Q3", channel=GENERAL)),
    ("ask #general Q3", Ask(question_id="Q3", channel=GENERAL)),
    ("#general ask Q3", Ask(question_id="Q3", channel=GENERAL)),
    ("ask Q3 in #general", Ask(question_id="Q3", channel=GENERAL)),
    ("ask Q3 #all-staff", Ask(question_id="Q3", channel=ChannelName("all-staff"))),
    # schedule
    ("schedule mon 09:00", SetSchedule(weekday=0, time="09:00")),
    ("schedule Monday 9:00", SetSchedule(weekday=0, time="09:00")),
    ("schedule tues 0900", SetSchedule(weekday=1, time="09:00")),
    ("schedule weds 17.30", SetSchedule(weekday=2, time="17:30")),
    ("schedule thurs 9am", SetSchedule(weekday=3, time="09:00")),
    ("schedule fri 9:30 pm", SetSchedule(weekday=4, time="21:30")),
    ("schedule fri 9:30 p.m.", SetSchedule(weekday=4, time="21:30")),
    ("schedule sun 12pm", SetSchedule(weekday=6, time="12:00")),
    ("schedule sun 12am", SetSchedule(weekday=6, time="00:00")),
    ("schedule 9am monday", SetSchedule(weekday=0, time="09:00")),
    ("schedule every monday at 9am", SetSchedule(weekday=0, time="09:00")),
    ("schedule on mondays at 9am", SetSchedule(weekday=0, time="09:00")),
    (
        "schedule mon 09:00 Europe/London",
        SetSchedule(weekday=0, time="09:00", timezone="Europe/London"),
    ),
    (
        "schedule mon 09:00 europe/london",
        SetSchedule(weekday=0, time="09:00", timezone="Europe/London"),
    ),
    ("schedule mon 9am London", SetSchedule(weekday=0, time="09:00", timezone="Europe/London")),
    ("schedule mon 9am UK", SetSchedule(weekday=0, time="09:00", timezone="Europe/London")),
    ("schedule mon 9am Dublin", SetSchedule(weekday=0, time="09:00", timezone="Europe/Dublin")),
    (
        "schedule mon 9am new york",
        SetSchedule(weekday=0, time="09:00", timezone="America/New_York"),
    ),
    (
        "schedule mon 9am Europe/London #general",
        SetSchedule(weekday=0, time="09:00", timezone="Europe/London", channel=GENERAL),
    ),
    (
        "schedule #general mon 9am",
        SetSchedule(weekday=0, time="09:00", channel=GENERAL),
    ),
    ("schedule off", ScheduleOff()),
    ("schedule OFF", ScheduleOff()),
    ("schedule stop", ScheduleOff()),
    ("schedule off #general", ScheduleOff(channel=GENERAL)),
    # pause / resume
    ("pause", Pause()),
    ("pause until 2026-12-01", Pause(until=date(2026, 12, 1))),
    ("pause 2026-12-01", Pause(until=date(2026, 12, 1))),
    ("pause UNTIL 2026-06-02", Pause(until=date(2026, 6, 2))),
    ("pause #general", Pause(channel=GENERAL)),
    ("resume", Resume()),
    ("unpause", Resume()),
    ("resume #general", Resume(channel=GENERAL)),
    # digest
    ("digest now", DigestNow()),
    ("digest now #general", DigestNow(channel=GENERAL)),
    ("digest off", DigestOff()),
    ("digest fri 16:00", SetDigest(weekday=4, time="16:00")),
    ("digest friday 4pm", SetDigest(weekday=4, time="16:00")),
    (
        "digest fri 16:00 #leaders",
        SetDigest(weekday=4, time="16:00", deliver_to=LEADERS),
    ),
    (
        "digest fri 16:00 to #leaders",
        SetDigest(weekday=4, time="16:00", deliver_to=LEADERS),
    ),
    (
        "digest fri 16:00 London #leaders",
        SetDigest(weekday=4, time="16:00", timezone="Europe/London", deliver_to=LEADERS),
    ),
    (
        "digest fri 16:00 #leaders for #general",
        SetDigest(weekday=4, time="16:00", deliver_to=LEADERS, channel=GENERAL),
    ),
    (
        "digest fri 16:00 for #general",
        SetDigest(weekday=4, time="16:00", channel=GENERAL),
    ),
    # feeds
    (
        "feeds add https://www.socitm.net/feed/",
        AddFeed(url="https://www.socitm.net/feed/"),
    ),
    (
        "feeds add https://example.com/feed “public sector” Digital digital",
        AddFeed(url="https://example.com/feed", keywords=("public sector", "Digital")),
    ),
    (
        "feeds add https://example.com/feed CYBERSECURITY",
        AddFeed(url="https://example.com/feed", keywords=("CYBERSECURITY",)),
    ),
    (
        "feeds add https://example.com/feed #general",
        AddFeed(url="https://example.com/feed", channel=GENERAL),
    ),
    (
        'feeds add https://example.com/f?a=1&b=2 "digital trends" ai,cyber',
        AddFeed(url="https://example.com/f?a=1&b=2", keywords=("digital trends", "ai", "cyber")),
    ),
    (
        "feeds add https://example.com/feed R&D <b>",
        AddFeed(url="https://example.com/feed", keywords=("R&D", "<b>")),
    ),
    ("feeds remove 3", RemoveFeed(feed_id=3)),
    ("feeds remove #3", RemoveFeed(feed_id=3)),
    ("feeds rm 12", RemoveFeed(feed_id=12)),
    ("feed delete 12", RemoveFeed(feed_id=12)),
    # alerts
    ("alerts on", SetAlerts(enabled=True)),
    ("alerts ON", SetAlerts(enabled=True)),
    ("alert off", SetAlerts(enabled=False)),
    ("alerts on #general", SetAlerts(enabled=True, channel=GENERAL)),
    # admins
    ("admins add @jane", AddAdmin(user=JANE)),
    ("admins remove @jane", RemoveAdmin(user=JANE)),
    # quiet periods
    ("quiet", ListQuiet()),
    ("quiet list #general", ListQuiet(channel=GENERAL)),
    (
        "quiet add 2026-06-20 2026-07-02",
        AddQuiet(first_day=date(2026, 6, 20), last_day=date(2026, 7, 2)),
    ),
    (
        "quiet add 2026-05-20 2026-06-01 all questions,DIGESTS local elections",
        AddQuiet(
            first_day=date(2026, 5, 20),  # begun already: fine, it has not ended
            last_day=date(2026, 6, 1),
            every_channel=True,
            holds=("questions", "digests"),
            reason="local elections",
        ),
    ),
    (
        'quiet add 2026-06-20 2026-06-20 alerts "by-election" #general',
        AddQuiet(
            first_day=date(2026, 6, 20),
            last_day=date(2026, 6, 20),
            holds=("alerts",),
            reason="by-election",
            channel=GENERAL,
        ),
    ),
    (
        "purdah add 2026-06-20 2026-07-02 mayoral election",
        AddQuiet(first_day=date(2026, 6, 20), last_day=date(2026, 7, 2), reason="mayoral election"),
    ),
    ("quiet remove 3", RemoveQuiet(period_id=3)),
    ("quiet rm #12", RemoveQuiet(period_id=12)),
    ("quiet release", ReleaseQuiet()),
    ("quiet release in #general", ReleaseQuiet(channel=GENERAL)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_good(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_non_breaking_spaces_separate_words() -> None:
    assert parse("schedule\u00a0mon\u00a009:00") == SetSchedule(weekday=0, time="09:00")


def test_plain_text_reads_a_name_as_an_id_where_names_are_ids() -> None:
    assert plain_words("ask Q3 #General") == ["ask", "Q3", "#General"]
    assert plain_words("ask Q3 #General #12", names_are_ids=True) == [
        "ask",
        "Q3",
        ChannelId("general", "general"),
        "#12",
    ]
    assert parse_command("admins add tester", any_id=True) == AddAdmin(user=UserId("tester"))
    with pytest.raises(ParseError, match="is not a person"):
        parse_command("admins add tester")


def test_a_bare_name_is_a_channel_name_for_the_platform_to_find() -> None:
    assert parse("status #nosuch") == Status(channel=ChannelName("nosuch"))


# (text, a phrase the message must contain)
BAD: list[tuple[str, str]] = [
    ("shedule mon 9am", "Did you mean `schedule`? Try `/leadership help`."),
    ("stauts", "Did you mean `status`?"),
    ("qestions", "Did you mean `questions`?"),
    ("frobnicate", "I don't know `frobnicate`."),
    ("help frobnicate", "There is no `frobnicate` command."),
    ("help sched", "Did you mean `schedule`?"),
    ("status please", "I didn't expect `please` there."),
    ("questions all", "I didn't expect"),
    ("resume now", "I didn't expect"),
    ("ask Q11", "There is no Q11: choose Q1–Q10."),
    ("ask 0", "There is no Q0"),
    ("ask banana", "not a question ID"),
    ("ask Q3 Q4", "I didn't expect `Q4` there."),
    ("schedule", "Give a day and a time"),
    ("schedule mon", "Give a day and a time"),
    ("schedule mon 25:00", "past 23:59"),
    ("schedule mon 13pm", "with am/pm use 1–12"),
    ("schedule mnday 9am", "Did you mean `Monday`?"),
    ("schedule xx yy", "not a day of the week"),
    ("schedule mon 9am Londn", "Did you mean `Europe/London`?"),
    ("schedule mon 9am Europe/Londn", "Did you mean `Europe/London`?"),
    ("schedule mon 9am UTC+1", "is an offset"),
    ("schedule mon 9am xyzzy", "not a time zone"),
    ("pause until", "Pause until when?"),
    ("pause until 2020-01-01", "already passed"),
    ("pause until 2026-06-01", "That is today"),
    ("pause until 01/12/2026", "did you mean `2026-12-01`?"),
    ("pause until 2026-02-30", "not a real date"),
    ("pause for a while", "not a date"),
    ("pause until 2026-12-01 2026-12-02", "I didn't expect"),
    ("digest", "Give a day and a time"),
    ("digest nwo", "I don't know `digest nwo`."),
    ("digest fri", "Give a day and a time"),
    ("digest fri 16:00 #leaders #general", "Name one channel at most."),
    ("feeds add", "Give the feed's web address"),
    ("feeds add example.com/feed", "did you mean `https://example.com/feed`?"),
    ("feeds add ftp://example.com/feed", "not a web"),
    ("feeds add https://example.com/feed " + "x" * 101, "100 characters at most"),
    ("feeds add https://example.com/feed " + " ".join(f"k{i}" for i in range(21)), "20 keywords"),
    ("feeds remove", "Give the number of one feed"),
    ("feeds remove x", "`x` is not a feed number."),
    ("feeds remove 0", "`0` is not a feed number."),
    ("feeds remove 1 2", "Give the number of one feed"),
    ("feeds rmove 3", "Did you mean this? Try `/leadership feeds remove 3`."),
    ("feeds frob", "I don't know `feeds frob`."),
    ("alerts", "Say `on` or `off`."),
    ("alerts of", "Did you mean `alerts off`?"),
    ("alerts maybe", "Alerts are `on` or `off`."),
    ("alerts on off", "Alerts are `on` or `off`."),
    ("admins add", "Name one person"),
    ("admins add @nobody", "I can't tell who `@nobody` is"),
    ("admins add jane", "is not a person"),
    ("admins remove", "Name one person"),
    ("#general", "Say what to do in that channel."),
    ("quiet add", "Give the first and last days"),
    ("quiet add 2026-07-01", "Give the first and last days"),
    ("quiet add 01/07/2026 2026-07-02", "did you mean `2026-07-01`?"),
    ("quiet add 2026-05-01 2026-05-02", "2026-05-02 has already passed"),
    ("quiet add 2026-07-02 2026-07-01", "ends (2026-07-01) before it starts (2026-07-02)"),
    ("quiet add 2026-07-01 2026-07-02 questions,alrts", "Did you mean `alerts`?"),
    ("quiet add 2026-07-01 2026-07-02 all #general", "Name a channel or say `all`"),
    ("quiet add 2026-07-01 2026-07-02 #general #leaders", "Name one channel at most."),
    ("quiet remove", "Give the number of one quiet period"),
    ("quiet remove x", "`x` is not a quiet period number."),
    ("quiet release now", "I didn't expect `now` there."),
    ("quiet relase", "Did you mean this? Try `/leadership quiet release`."),
    ("quiet frob", "I don't know `quiet frob`."),
    ("quite", "Did you mean `quiet`?"),
]


@pytest.mark.parametrize(("text", "phrase"), BAD)
def test_bad(text: str, phrase: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(text)
    assert phrase in info.value.message
    assert_says_what_to_type(info.value)


def assert_says_what_to_type(error: ParseError) -> None:
    """One line, with at least one whole `/leadership …` command in backticks that parses
    (once the platform has read its #channel and @person as mentions)."""
    message = error.message
    assert "\n" not in message
    commands = re.findall(rf"`({re.escape(SLASH)}[^`]*)`", message)
    assert commands, f"no example command in {message!r}"
    for command in commands:
        parse(command)  # raises if the example is itself wrong


def test_question_ids_unchecked_without_a_set() -> None:
    assert parse_command("ask Q11") == Ask(question_id="Q11")


def test_pause_dates_unchecked_without_today() -> None:
    assert parse_command("pause until 2020-01-01") == Pause(until=date(2020, 1, 1))


def test_tokenize_keeps_quoted_phrases_whole() -> None:
    assert tokenize('add <a b> "two words" “curly ones” a&b ""') == [
        "add",
        "<a",
        "b>",
        "two words",
        "curly ones",
        "a&b",
    ]


def test_with_channel_replaces_a_looked_up_name() -> None:
    command = parse("ask Q3 #all-staff")
    assert command.channel == ChannelName("all-staff")
    assert with_channel(command, GENERAL) == Ask(question_id="Q3", channel=GENERAL)


READS = (Help, Status, ListQuestions, ListFeeds, ListAdmins, ListQuiet)


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_is_change(text: str, expected: Command) -> None:
    assert is_change(expected) is not isinstance(expected, READS)


def test_audit_action_names_are_distinct() -> None:
    kinds = {type(command) for _, command in GOOD}
    actions = [kind.action for kind in kinds]
    assert len(actions) == len(set(actions)) == 22
    assert all(actions)


def test_never_raises_anything_but_parse_error() -> None:
    # Anything a person (or a fuzzer) can type gets a ParseError at worst, never a crash.
    rng = random.Random(4)
    alphabet = string.ascii_letters + string.digits + " :.#<>@|&;/-_\"“”'`\u00a0\n"
    words = [*SUBCOMMANDS, "add", "remove", "on", "off", "now", "until", "Q3", "mon", "9am"]
    for _ in range(3000):
        parts = [rng.choice(words) for _ in range(rng.randint(0, 3))]
        parts += ["".join(rng.choices(alphabet, k=rng.randint(0, 12)))]
        text = " ".join(parts)
        try:
            parse(text)
        except ParseError as exc:
            assert_says_what_to_type(exc)


# --- help ---------------------------------------------------------------------------------


def test_help_lists_every_subcommand_with_an_example() -> None:
    text = help_text(today=TODAY)
    for name in SUBCOMMANDS:
        assert f"\n  {name}" in text, name
    for entry in ENTRIES:
        assert f"Example: {SLASH} {example(entry, TODAY)}" in text


HELP_COMMANDS: dict[str, type[Command]] = {
    "help [COMMAND]": Help,
    "status": Status,
    "questions": ListQuestions,
    "feeds": ListFeeds,
    "admins": ListAdmins,
    "ask [Qn]": Ask,
    "schedule DAY TIME [ZONE]": SetSchedule,
    "schedule off": ScheduleOff,
    "pause [until YYYY-MM-DD]": Pause,
    "resume": Resume,
    "digest DAY TIME [ZONE] [#channel]": SetDigest,
    "digest now": DigestNow,
    "digest off": DigestOff,
    "feeds add URL [KEYWORDS...]": AddFeed,
    "feeds remove NUMBER": RemoveFeed,
    "alerts on|off": SetAlerts,
    "language cy|en|both": SetLanguage,
    "admins add @person": AddAdmin,
    "admins remove @person": RemoveAdmin,
    "quiet": ListQuiet,
    "quiet add FIRST LAST [all] [questions,alerts,digests] [REASON...]": AddQuiet,
    "quiet remove NUMBER": RemoveQuiet,
    "quiet release": ReleaseQuiet,
}


def test_help_covers_every_command_type() -> None:
    assert [e.usage for e in ENTRIES] == list(HELP_COMMANDS)
    assert len(set(HELP_COMMANDS.values())) == 23


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.usage)
def test_help_examples_parse_to_their_own_command(entry: HelpEntry) -> None:
    typed = example(entry, TODAY)
    assert typed.split()[0] == entry.topic
    command = parse(typed)
    assert type(command) is HELP_COMMANDS[entry.usage]
    assert is_change(command) is entry.changes


def test_help_is_plain_text() -> None:
    # No mrkdwn (bold, italics, code, strike) and no angle brackets Slack would read as links.
    for topic in (None, *SUBCOMMANDS):
        text = help_text(topic, today=TODAY)
        assert not re.search(r"[*_~`<>]", text), topic


def test_help_on_one_topic() -> None:
    text = help_text("schedule", today=TODAY)
    assert "schedule DAY TIME [ZONE]" in text
    assert "schedule off" in text
    assert "feeds add" not in text
    assert help_text("nonsense") == help_text()


def test_help_prefix_for_the_cli() -> None:
    assert "leaderbot-slash ask Q3" in help_text(prefix="leaderbot-slash")


@pytest.mark.parametrize(
    ("typed", "language"),
    [
        ("language cy", "cy"),
        ("language Cymraeg", "cy"),
        ("language en", "en"),
        ("iaith both", "both"),
    ],
)
def test_language_sets_welsh_english_or_both(typed: str, language: str) -> None:
    command = parse(typed)
    assert isinstance(command, SetLanguage) and command.language == language
    assert is_change(command)


@pytest.mark.parametrize("typed", ["language", "language fr", "language cy en", "language cyy"])
def test_a_wrong_language_says_what_to_type(typed: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(typed)
    assert_says_what_to_type(caught.value)
    assert "language" in caught.value.message
