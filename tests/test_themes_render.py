"""The digest's "what people said" in every format: markdown, console text, HTML, JSON, Slack
blocks and Teams cards (pure renderers: a Digest in, text out)."""

from __future__ import annotations

import json
from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from bot.domain.content import DigestPost
from bot.domain.digest import (
    ChannelRef,
    Digest,
    DigestReply,
    DigestWindow,
    QuestionThread,
    build_digest,
)
from bot.domain.digest_render import (
    OPEN_REPLY,
    THEMES_HEADING,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_text,
)
from bot.domain.language import translator
from bot.domain.questions import Question, QuestionSet
from bot.domain.themes import Theme
from bot.platforms.slack.digest_blocks import digest_messages
from bot.platforms.teams.digest_cards import digest_cards

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2025, 4, 7, 9, 0, tzinfo=LONDON)
WINDOW = DigestWindow(
    datetime(2025, 4, 4, 16, 0, tzinfo=LONDON), datetime(2025, 4, 11, 16, 0, tzinfo=LONDON)
)
QS = QuestionSet(
    edition="test",
    title="Test",
    source_url="https://example.org/",
    questions=(Question("Q1", "How ready are you?", "Readiness", "quoted", "t", "u"),),
)
LINK = "https://example.slack.com/archives/C1/p1744016460000100?thread_ts=1744016400.000100&cid=C1"
HOSTILE = '<script>alert("x")</script> & <!channel> <@U1> [click](javascript:alert(1))'
THEMES = (
    Theme(
        "shared platforms", 3, 3, "We should move to shared platforms.", "1744016460.000100", LINK
    ),
    Theme("data quality", 2, 2, f"Data quality {HOSTILE}", "1744016520.000100", None),
)


def digest(themes: tuple[Theme, ...] = THEMES) -> Digest:
    replies = [
        DigestReply(f"U{n}", f"Person {n}", f"Reply {n}", f"17440164{n}0.000100", False, MONDAY)
        for n in range(5)
    ]
    thread = QuestionThread(QS.questions[0], MONDAY, "https://example.org/q", replies, themes)
    return build_digest(
        channel=ChannelRef("C1", "leaders"),
        window=WINDOW,
        threads=[thread],
        member_count=10,
        question_set=QS,
        asked_ids=(),
    )


def test_markdown_lists_each_theme_with_its_counts_quote_and_the_replys_link() -> None:
    text = render_markdown(digest())
    assert f"### {THEMES_HEADING}" in text
    assert "- **shared platforms** (3 replies from 3 people): “We should move to shared" in text
    assert f"[{OPEN_REPLY} quoted for “shared platforms”](<{LINK}>)" in text
    # The second has no link, and its hostile quote is escaped as markdown.
    line = next(x for x in text.splitlines() if x.startswith("- **data quality**"))
    assert OPEN_REPLY not in line and "\\<script\\>" in line and "<script>" not in line


def test_console_text_shows_themes_before_the_replies() -> None:
    text = render_text(digest())
    assert text.index(THEMES_HEADING) < text.index("Reply 0")
    assert "  - shared platforms (3 replies from 3 people)" in text
    assert f"    {LINK}" in text


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str | None, str]] = []
        self._href: str | None = None
        self.scripts = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data) -> None:
        if self._href is not None:
            self.links.append((self._href, data))
            self._href = None


def test_html_has_a_themes_section_linking_the_quoted_reply_and_no_markup_from_replies() -> None:
    page = render_html(digest())
    parser = _Links()
    parser.feed(page)
    assert (LINK, f"{OPEN_REPLY} quoted for “shared platforms”") in parser.links
    assert parser.scripts == 0
    assert '<section class="themes" aria-labelledby="q-Q1-themes">' in page
    assert f'<h3 id="q-Q1-themes">{THEMES_HEADING}</h3>' in page
    assert "&lt;script&gt;" in page


def test_json_lists_each_questions_themes_with_the_quoted_replys_ts_and_link() -> None:
    data = json.loads(render_json(digest()))
    assert data["themes"] == [
        {
            "question": "Q1",
            "phrase": "shared platforms",
            "replies": 3,
            "people": 3,
            "quote": "We should move to shared platforms.",
            "ts": "1744016460.000100",
            "permalink": LINK,
        },
        {
            "question": "Q1",
            "phrase": "data quality",
            "replies": 2,
            "people": 2,
            "quote": f"Data quality {HOSTILE}",
            "ts": "1744016520.000100",
            "permalink": None,
        },
    ]
    assert len(data["questions"][0]["replies"]) == 5  # the replies are all still there


def test_no_themes_means_no_section_anywhere() -> None:
    plain = digest(())
    for text in (render_markdown(plain), render_text(plain), render_html(plain)):
        assert THEMES_HEADING not in text
    assert json.loads(render_json(plain))["themes"] == []
    assert "data quality" not in render_csv(digest())  # CSV stays one row per reply


def test_slack_blocks_quote_each_theme_escaped_with_a_link_to_the_reply() -> None:
    [message] = digest_messages(digest())
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    [first] = [t for t in texts if "shared platforms" in t]
    assert first.startswith("• *shared platforms* (3 replies from 3 people)")
    assert f"<{LINK.replace('&', '&amp;')}|{OPEN_REPLY} quoted for “shared platforms”>" in first
    [second] = [t for t in texts if "data quality" in t]
    assert "<!channel>" not in second and "&lt;!channel&gt;" in second
    assert OPEN_REPLY not in second


def test_teams_cards_quote_as_text_runs_with_a_button_to_the_reply() -> None:
    post = DigestPost(digest=digest(), chart_png=None, chart_alt="")
    [card] = digest_cards(post)
    body = json.dumps(card)
    assert THEMES_HEADING in body
    runs = [
        e["inlines"][0]["text"]
        for e in card["body"]
        if e.get("type") == "RichTextBlock" and "“" in e["inlines"][0]["text"]
    ]
    assert runs == ["“We should move to shared platforms.”", f"“Data quality {HOSTILE}”"]
    buttons = [a for e in card["body"] if e.get("type") == "ActionSet" for a in e["actions"]]
    title = f"{OPEN_REPLY} quoted for “shared platforms”"
    assert buttons == [{"type": "Action.OpenUrl", "title": title, "url": LINK}]


def test_a_long_digest_keeps_its_themes_in_the_first_message() -> None:
    replies = [
        DigestReply(f"U{n}", f"Person {n}", "x " * 1500, f"{n}.1", False, MONDAY) for n in range(60)
    ]
    thread = QuestionThread(QS.questions[0], MONDAY, None, replies, THEMES)
    long = build_digest(
        channel=ChannelRef("C1", "leaders"),
        window=WINDOW,
        threads=[thread],
        member_count=None,
        question_set=QS,
        asked_ids=(),
    )
    messages = digest_messages(long)
    assert len(messages) > 1
    assert THEMES_HEADING in json.dumps(messages[0]) and "shared platforms" in json.dumps(
        messages[0]
    )
    cards = digest_cards(DigestPost(digest=long, chart_png=None, chart_alt=""))
    assert len(cards) > 1 and THEMES_HEADING in json.dumps(cards[0])


def test_themes_are_written_in_the_channels_language() -> None:
    welsh = render_markdown(digest(), translator("cy"))
    assert "### Beth ddywedodd pobl" in welsh and THEMES_HEADING not in welsh
    assert "- **shared platforms** (3 ateb gan 3 person)" in welsh  # the phrase is as said
    assert "[Agor yr ateb a ddyfynnwyd ar gyfer “shared platforms”]" in welsh
    both = render_html(digest(), t=translator("both"))
    assert both.index('<span lang="cy">Beth ddywedodd pobl') < both.index(
        f'<span lang="en-GB">{THEMES_HEADING}'
    )
    [head] = digest_messages(digest(), translator("cy"))
    assert "Beth ddywedodd pobl" in json.dumps(head["blocks"], ensure_ascii=False)
    cards = digest_cards(DigestPost(digest(), b"", "", language="cy"))
    assert "Agor yr ateb a ddyfynnwyd" in json.dumps(cards, ensure_ascii=False)
