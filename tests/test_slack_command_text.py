"""Slash-command text as Slack sends it, read into the grammar's neutral words: mentions,
links, ids typed as they stand, and Slack's escaping of &, < and >."""

from __future__ import annotations

import random
import string

import pytest

from bot.domain.command_grammar import (
    AddAdmin,
    AddFeed,
    Ask,
    Command,
    RemoveAdmin,
    SetSchedule,
    Status,
    parse_command,
)
from bot.domain.parsing import ChannelId, ChannelName, ParseError, UserId, Word
from bot.platforms.slack.command_text import command_words
from bot.platforms.slack.text import unescape
from tests.test_command_grammar import GOOD, IDS, TODAY, assert_says_what_to_type


def parse(text: str) -> Command:
    return parse_command(command_words(text), today=TODAY, question_ids=IDS)


def slack_escape(text: str) -> str:
    """What Slack sends, with escaping on, for what a person typed (picking from its lists)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("#leaders", "<#C0LEADERS1|leaders>").replace("#staff", "<#C0STAFF01|staff>")
    text = text.replace("#general", "<#C0123ABCD|general>")
    return text.replace("@jane", "<@U0123ABCD|jane>")


@pytest.mark.parametrize(("text", "expected"), GOOD)
def test_every_command_reads_the_same_from_slack(text: str, expected: Command) -> None:
    assert parse(slack_escape(text)) == expected


WORDS: list[tuple[str, list[Word]]] = [
    ("<#C0123ABCD|general>", [ChannelId("C0123ABCD", "general")]),
    ("<#C123ABC>", [ChannelId("C123ABC")]),
    ("<#C123ABC|>", [ChannelId("C123ABC")]),
    ("<#G0123ABCD|private-group>", [ChannelId("G0123ABCD", "private-group")]),
    ("C0123ABCD", [ChannelId("C0123ABCD")]),
    ("CYBERSECURITY", ["CYBERSECURITY"]),  # no digit: a word, not a channel id
    ("#general", ["#general"]),  # not a mention: the grammar makes it a ChannelName
    ("<@U0123ABCD|jane>", [UserId("U0123ABCD", "jane")]),
    ("<@W0123ABCD>", [UserId("W0123ABCD")]),
    ("U0123ABCD", [UserId("U0123ABCD")]),
    ("<https://example.com/feed|example.com/feed>", ["https://example.com/feed"]),
    ("<https://example.com/f?a=1&amp;b=2>", ["https://example.com/f?a=1&b=2"]),
    ("R&amp;D &lt;b&gt; &amp;lt;", ["R&D", "<b>", "&lt;"]),
    (
        'add <https://x.org/a b|x y> "two words" a&amp;b',
        ["add", "https://x.org/a b", "two words", "a&b"],
    ),
    ("“curly &amp; quoted” x", ["curly & quoted", "x"]),
    ("schedule\u00a0mon\u00a009:00", ["schedule", "mon", "09:00"]),
    ("<!here>", ["<!here>"]),
]


@pytest.mark.parametrize(("text", "expected"), WORDS)
def test_words(text: str, expected: list[Word]) -> None:
    assert command_words(text) == expected


SLACK_GOOD: list[tuple[str, Command]] = [
    ("ask Q3 to <#C0123ABCD>", Ask(question_id="Q3", channel=ChannelId("C0123ABCD"))),
    ("ask Q3 C0123ABCD", Ask(question_id="Q3", channel=ChannelId("C0123ABCD"))),
    ("status <#C0123ABCD|general>", Status(channel=ChannelId("C0123ABCD", "general"))),
    ("status #nosuchchannel", Status(channel=ChannelName("nosuchchannel"))),
    ("admins add <@U0123ABCD>", AddAdmin(user=UserId("U0123ABCD"))),
    ("admin add U0123ABCD", AddAdmin(user=UserId("U0123ABCD"))),
    ("admins rm <@W0123ABCD>", RemoveAdmin(user=UserId("W0123ABCD"))),
    ("schedule\u00a0mon\u00a009:00", SetSchedule(weekday=0, time="09:00")),
    (
        "feeds add <https://www.socitm.net/feed/> digital AI",
        AddFeed(url="https://www.socitm.net/feed/", keywords=("digital", "AI")),
    ),
    (
        'feeds add <https://example.com/f?a=1&amp;b=2|example.com> "digital trends" ai,cyber',
        AddFeed(url="https://example.com/f?a=1&b=2", keywords=("digital trends", "ai", "cyber")),
    ),
    (
        "feeds add https://example.com/feed R&amp;D UNICEF2030",
        AddFeed(url="https://example.com/feed", keywords=("R&D", "UNICEF2030")),
    ),
]


@pytest.mark.parametrize(("text", "expected"), SLACK_GOOD)
def test_good(text: str, expected: Command) -> None:
    assert parse(text) == expected


SLACK_BAD: list[tuple[str, str]] = [
    ("schedule mon 9am <#C0123ABCD|a> <#C0123ABCE|b>", "Name one channel at most."),
    ("admins add <@U0123ABCD> <@U0123ABCE>", "Name one person"),
    ("admins ad <@U0123ABCD>", "Did you mean this? Try `/leadership admins add @jane`."),
    ("status <#c0123>", "is not a channel"),
    ("admins add <@u123>", "is not a person"),
    ("admins add jane", "is not a person"),  # on Slack a bare word is never a person
    ("admins add @jane", "pick them from the list"),
    ("feeds add <mailto:a@b.com|a@b.com>", "is not a web (http/https) address"),
]


@pytest.mark.parametrize(("text", "phrase"), SLACK_BAD)
def test_bad(text: str, phrase: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(text)
    assert phrase in info.value.message
    assert_says_what_to_type(info.value)


def test_never_raises_anything_but_parse_error() -> None:
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + " :.#<>@|&;/-_\"“”'`\u00a0\n"
    pieces = ["<#C0123ABCD|general>", "<@U0123ABCD>", "&amp;", "&lt;", "<https://x.org|x>", "<"]
    words = ["schedule", "admins", "add", "feeds", "ask", "mon", "9am", *pieces]
    for _ in range(3000):
        parts = [rng.choice(words) for _ in range(rng.randint(0, 3))]
        parts += ["".join(rng.choices(alphabet, k=rng.randint(0, 12)))]
        try:
            parse(" ".join(parts))
        except ParseError as exc:
            assert "\n" not in exc.message


def test_unescape_undoes_only_slacks_three_entities_and_the_ampersand_last() -> None:
    assert unescape("R&amp;D &lt;matters&gt;") == "R&D <matters>"
    assert unescape("typed &amp;lt; literally") == "typed &lt; literally"  # & last
    markup = "ask <@U123> in <#C1|leaders> see <https://x.org/?a=1&amp;b=2|R&amp;D>"
    assert unescape(markup) == "ask <@U123> in <#C1|leaders> see <https://x.org/?a=1&b=2|R&D>"
    assert unescape("&quot;&#39;&nbsp;") == "&quot;&#39;&nbsp;"  # Slack sends no others
