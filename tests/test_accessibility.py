"""The HTML digest meets WCAG 2.2 AA: axe-core in a real (headless) chromium finds nothing.

Each page is a digest as `leaderbot digest --format html` writes it: an empty week, a typical
week, a week with many questions and replies, hostile and very long reply text, with and without
the chart, an incomplete digest, each platform's channel, and the real command's output. axe-core
runs the rules tagged wcag2a, wcag2aa, wcag21a, wcag21aa and wcag22aa, plus its best practices
(landmarks, heading order). What axe-core cannot judge is listed in docs/accessibility-statement.md.

Skips locally without chromium, chromedriver or axe-core (`make a11y-deps`); CI sets
LEADERBOT_TEST_CHROMIUM, and there a missing tool fails instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.chart import participation_chart
from bot.domain.digest import (
    ChannelRef,
    Digest,
    DigestReply,
    DigestWindow,
    QuestionThread,
    WeekParticipation,
    build_digest,
)
from bot.domain.digest_render import render_html
from bot.domain.language import translator
from bot.domain.questions import Question, QuestionSet
from bot.domain.themes import Theme
from tests.browser_axe import Browser, describe, find_tools, open_browser, required

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2025, 4, 7, 9, 0, tzinfo=LONDON)
WINDOW = DigestWindow(
    datetime(2025, 4, 4, 16, 0, tzinfo=LONDON), datetime(2025, 4, 11, 16, 0, tzinfo=LONDON)
)
QS = QuestionSet(
    edition="test",
    title="Test",
    source_url="https://example.org/",
    questions=tuple(
        Question(f"Q{i}", f"Question {i}: how ready are you?", f"Theme {i}", "quoted", "t", "u")
        for i in range(1, 11)
    ),
)
HOSTILE = (
    '<script>alert("x")</script> & <!channel> <@U1> [click](javascript:alert(1)) '
    '"><img src=x onerror=alert(1)> \u202eevil\u202c \x1b[2J\x07 <h1>not a heading</h1> '
    '<a href="https://evil.example/">a link</a> <main>second main</main> \u200b\ufeff'
)
# Rules that must have run and passed on every page: proof that axe looked at what matters.
ALWAYS_PASSES = {
    "html-has-lang",
    "html-lang-valid",
    "document-title",
    "color-contrast",
    "landmark-one-main",
    "page-has-heading-one",
    "heading-order",
    "region",
}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    tools = find_tools()
    if isinstance(tools, str):
        if required():
            pytest.fail(tools)
        pytest.skip(tools)
    yield from open_browser(tools, tmp_path_factory.mktemp("chromium-profile"))


def reply(user: str, minutes: int, text: str, name: str = "", edited: bool = False) -> DigestReply:
    posted = MONDAY + timedelta(minutes=minutes)
    return DigestReply(
        user, name or f"Person {user}", text, f"17440{minutes:05d}.000100", edited, posted
    )


def digest(
    threads: list[QuestionThread],
    *,
    channel: ChannelRef | None = None,
    history: list[WeekParticipation] | None = None,
    unread_threads: int = 0,
) -> Digest:
    built = build_digest(
        channel=channel or ChannelRef("C123", "leaders"),
        window=WINDOW,
        threads=threads,
        member_count=40,
        question_set=QS,
        asked_ids=[t.question.id for t in threads],
        history=history or [],
    )
    if unread_threads:
        from dataclasses import replace

        built = replace(built, unread_threads=unread_threads)
    return built


def thread(n: int, replies: list[DigestReply], link: str | None = None) -> QuestionThread:
    return QuestionThread(
        QS.questions[n - 1],
        MONDAY + timedelta(hours=n),
        link if link is not None else f"https://t.slack.com/archives/C123/p{n}",
        replies,
    )


TYPICAL = digest(
    [
        thread(
            2,
            [
                reply("U1", 5, "We are partly ready.\n\nThe data team is two people."),
                reply("U2", 9, "Not yet.", edited=True),
                reply("U3", 30, "Yes — our place-based dashboards went live in March."),
            ],
        )
    ],
    history=[
        WeekParticipation(date(2025, 3, 10), 6, 9),
        WeekParticipation(date(2025, 3, 24), 4, 4),
        WeekParticipation(date(2025, 4, 7), 3, 3),
    ],
)

BUSY = digest(
    [
        thread(n, [reply(f"U{n}{i:02d}", i, f"Reply {i} to question {n}.") for i in range(40)])
        for n in (3, 4, 5)
    ],
    history=[
        WeekParticipation(date(2025, 1, 20) + timedelta(weeks=w), 30 + w, 60) for w in range(12)
    ],
)

HOSTILE_DIGEST = digest(
    [
        thread(
            1,
            [
                reply("U1", 1, HOSTILE, name='<img src=x onerror="alert(1)">'),
                reply("U2", 2, "x" * 20_000),  # one unbroken word: must still reflow
                reply("U3", 3, ("A long reply. " * 1500).strip()),
                reply("U4", 4, "Emoji 🎉👩🏽‍💻, Cymraeg: ŵ ŷ â, العربية, 中文"),
                reply("U5", 5, "", name=""),
            ],
            link="javascript:alert(1)",
        )
    ],
    channel=ChannelRef("C999", '<b>"chan"</b> & co'),
)

# The "what people said" section: themes with quotes, one linked to its reply, one not.
THEMED = digest(
    [
        QuestionThread(
            QS.questions[1],
            MONDAY,
            "https://t.slack.com/archives/C123/p2",
            [reply(f"U{n}", n, f"Shared platforms and data quality, {n}.") for n in range(6)],
            (
                Theme(
                    "shared platforms",
                    4,
                    3,
                    "Shared platforms with the neighbours, please.",
                    "1744000001.000100",
                    "https://t.slack.com/archives/C123/p1744000001000100?thread_ts=2&cid=C123",
                ),
                Theme("data quality", 3, 3, f"Data quality {HOSTILE}", "1744000002.000100"),
            ),
        )
    ]
)

PAGES = {
    "empty week, no question": (digest([]), False),
    "empty week, question without replies": (digest([thread(1, [])]), False),
    "typical": (TYPICAL, False),
    "typical with the chart": (TYPICAL, True),
    "themes and quotes, with the chart": (THEMED, True),
    "many questions and replies, with the chart": (BUSY, True),
    "hostile and long replies, with the chart": (HOSTILE_DIGEST, True),
    "incomplete digest": (digest([thread(2, [reply("U1", 5, "Hi")])], unread_threads=2), True),
    "no participation yet, with the chart": (digest([thread(1, [])]), True),
    "Teams channel": (
        digest(
            [thread(6, [reply("29:1abc", 3, "From Teams")], "https://teams.microsoft.com/l/m/1")],
            channel=ChannelRef("19:abc@thread.tacv2", "Leadership"),
        ),
        True,
    ),
    "console channel": (
        digest([thread(7, [reply("console", 3, "Typed")])], channel=ChannelRef("console")),
        True,
    ),
}


def check_page(browser: Browser, page: Path, *, width: int = 1024) -> dict:
    results = browser.check(page, width=width)
    assert results["testEngine"]["name"] == "axe-core"
    assert results["violations"] == [], describe(results["violations"])
    # Nothing left for a person to judge either: axe-core decided every check it ran.
    assert results["incomplete"] == [], describe(results["incomplete"])
    passed = {rule["id"] for rule in results["passes"]}
    assert passed >= ALWAYS_PASSES, ALWAYS_PASSES - passed
    return results


@pytest.mark.parametrize("name", list(PAGES))
def test_html_digest_has_no_axe_violations(browser: Browser, tmp_path: Path, name: str) -> None:
    built, with_chart = PAGES[name]
    chart = participation_chart(built.participation) if with_chart else None
    page = tmp_path / "digest.html"
    page.write_text(render_html(built, chart), encoding="utf-8")
    results = check_page(browser, page)
    passed = {rule["id"] for rule in results["passes"]}
    if with_chart:
        assert {"image-alt", "th-has-data-cells", "td-headers-attr"} <= passed
    if any(q.link and q.link.startswith("https://") for q in built.questions):
        assert "link-name" in passed


def test_hostile_digest_reflows_at_320_css_pixels(browser: Browser, tmp_path: Path) -> None:
    # WCAG 1.4.10: at 320 px wide nothing may need scrolling sideways, even a 20,000-character
    # word. (The chart scales down; the data table is narrow.)
    page = tmp_path / "digest.html"
    built, _ = PAGES["hostile and long replies, with the chart"]
    page.write_text(render_html(built, participation_chart(built.participation)), "utf-8")
    check_page(browser, page, width=320)
    assert browser.scroll_width() <= 320


def test_welsh_language_tag_is_valid_to_axe(browser: Browser, tmp_path: Path) -> None:
    page = tmp_path / "digest.html"
    page.write_text(render_html(TYPICAL, lang="cy"), encoding="utf-8")
    check_page(browser, page)
    assert '<html lang="cy">' in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("language", ["cy", "both"])
@pytest.mark.parametrize("name", ["typical with the chart", "incomplete digest", "Teams channel"])
def test_welsh_and_bilingual_digests_have_no_axe_violations(
    browser: Browser, tmp_path: Path, language: str, name: str
) -> None:
    """A Welsh page says so; a bilingual one marks each half with its language (WCAG 3.1.2)."""
    built, with_chart = PAGES[name]
    t = translator(language)
    chart = participation_chart(built.participation, t=t) if with_chart else None
    page = tmp_path / "digest.html"
    page.write_text(render_html(built, chart, t=t), encoding="utf-8")
    check_page(browser, page)
    text = page.read_text(encoding="utf-8")
    assert '<html lang="cy">' in text and "Crynodeb arweinyddiaeth" in text
    if language == "both":  # every label in two marked halves
        assert '<span lang="cy">Crynodeb' in text and '<span lang="en-GB">Leadership' in text
    # These test questions have no Welsh wording: shown once, in English, marked as English.
    assert 'lang="en-GB"><p>Question' in text


def test_axe_catches_a_broken_page(browser: Browser, tmp_path: Path) -> None:
    # The check can fail: a page without a language, a title or alt text is caught.
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<h3>Skipped levels</h3><p style="color:#bbb">faint</p><a href="#"></a></body></html>',
        encoding="utf-8",
    )
    results = browser.check(page)
    found = {v["id"] for v in results["violations"]}
    assert {"html-has-lang", "document-title", "image-alt", "color-contrast", "link-name"} <= found


def test_leaderbot_digest_format_html_has_no_axe_violations(
    browser: Browser, tmp_path: Path
) -> None:
    # The real command, end to end: a question posted on the console, its digest as HTML.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    env = {k: v for k, v in env.items() if not k.startswith("LEADERBOT_")}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"

    def leaderbot(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    leaderbot("ask", "--channel", "general", "--question", "Q4")
    page = tmp_path / "digest.html"
    page.write_text(
        leaderbot("digest", "--channel", "general", "--format", "html"), encoding="utf-8"
    )
    assert "<img" in page.read_text(encoding="utf-8")  # the chart is in it
    results = check_page(browser, page)
    assert "image-alt" in {rule["id"] for rule in results["passes"]}
