"""Matching, themes, link normalisation and item identity: pure, with plain values.

The five seed articles (shared/seeds/) are real cases: each appears here as a feed would carry
it, its headline as the title and its opening paragraphs as the summary.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.feed_match import (
    FeedItem,
    Keywords,
    MatchRules,
    RulesError,
    display_link,
    html_to_text,
    item_keys,
    match_item,
    normalise_link,
    one_paragraph,
    relate_question,
)
from bot.domain.questions import load_question_set
from bot.settings import BUNDLED_PROMPTS
from bot.watch.catalogue import load_catalogue, load_rules

RULES = load_rules()
QUESTIONS = load_question_set(BUNDLED_PROMPTS).questions

SEEDS = {
    "000 UKAuthority 2025": FeedItem(
        title="Socitm sets out four measures for public sector digital innovation",
        summary=(
            "The Society for Innovation, Technology and Modernisation (Socitm) has outlined "
            "four measures to support digital innovation by public sector organisations."
        ),
        link="https://www.ukauthority.com/articles/socitm-sets-out-four-measures/",
    ),
    "001 UKAuthority 2023": FeedItem(
        title="Socitm sees cause for optimism in public sector digital outlook",
        summary=(
            "Socitm has said there is an optimistic outlook among public service digital "
            "leaders, despite pressures and uncertainty."
        ),
    ),
    "002 UKAuthority 2022": FeedItem(
        title="Socitm highlights need for ‘recalibration’ of public sector digital",
        summary=(
            "Digital stakeholders in the public sector need to address some changing "
            "priorities in the coming year, according to public sector IT association Socitm."
        ),
    ),
    "003 Socitm press release": FeedItem(
        title="Industry bodies unite to drive local digital leadership",
        summary=(
            "Public sector leaders urged to be role models of digital innovation across and "
            "beyond local government\n\nSenior local leaders should make digital innovation "
            "central to their transformation programmes, says four key local government "
            "representative bodies.\n\nIn a new paper released today, Socitm, Solace, the LGA, "
            "and the Local CIO Council jointly call for local leaders to champion digital "
            "innovation in their own authorities, as a vital step in building shared services "
            "and delivering placed-based policy."
        ),
    ),
    "004 PublicTechnology 2025": FeedItem(
        title="‘Local authorities can become the orchestrators of change’",
        summary=(
            "An annual study from Socitm shines a light on the new, and familiar, tech trends "
            "currently shaping frontline public services. PublicTechnology talks to the sector "
            "body to find out more."
        ),
    ),
}

UNRELATED = [
    FeedItem(title="Council launches new bin collection app", summary="Residents can book."),
    FeedItem(
        title="GDS publishes report on GOV.UK One Login",
        summary="The Government Digital Service has set out its plans.",
    ),
    FeedItem(
        title="Socitm appoints new president",
        summary="The association has welcomed its new president, who takes office in May.",
    ),
    FeedItem(title="Sociology report finds", summary="A socitmish word is not the name."),
    FeedItem(title="Local government reorganisation: what next", summary="Analysis."),
]


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_article_matches(name: str) -> None:
    match = match_item(SEEDS[name], RULES)
    assert match.matched, f"{name}: {match.reason}"


@pytest.mark.parametrize("item", UNRELATED, ids=lambda i: i.title[:30])
def test_unrelated_items_do_not_match(item: FeedItem) -> None:
    assert not match_item(item, RULES).matched


def test_reasons_say_why() -> None:
    assert match_item(UNRELATED[0], RULES).reason == "does not name Socitm"
    assert match_item(UNRELATED[2], RULES).reason == "names Socitm but has no report cue"
    assert "report cue" in match_item(SEEDS["000 UKAuthority 2025"], RULES).reason


def test_long_and_old_names_and_categories_count() -> None:
    old = FeedItem(title="Society of IT Management survey results", summary="")
    assert match_item(old, RULES).matched
    via_category = FeedItem(
        title="New research on council websites", summary="", categories=("Socitm",)
    )
    assert match_item(via_category, RULES).matched
    spaced = FeedItem(title="society for innovation technology and modernisation publishes")
    assert match_item(spaced, RULES).matched


def test_keywords_widen_require_and_exclude() -> None:
    plain = FeedItem(title="Digital trends for councils", summary="A look ahead.")
    assert not match_item(plain, RULES).matched
    assert match_item(plain, RULES, Keywords.parse(["digital trends"])).matched

    report = SEEDS["000 UKAuthority 2025"]
    assert not match_item(report, RULES, Keywords.parse(["+cyber"])).matched
    assert match_item(report, RULES, Keywords.parse(["+innovation"])).matched
    excluded = match_item(report, RULES, Keywords.parse(["-measures"]))
    assert not excluded.matched and "excluded" in excluded.reason


def test_publisher_is_subject_implies_the_name() -> None:
    item = FeedItem(title="New paper on local digital leadership", summary="Released today.")
    assert not match_item(item, RULES).matched
    assert match_item(item, RULES, publisher_is_subject=True).matched
    webinar = FeedItem(title="Join our webinar", summary="Book now.")
    assert not match_item(webinar, RULES, publisher_is_subject=True).matched


def test_keywords_round_trip() -> None:
    words = ["digital", "+report", "-webinar"]
    assert Keywords.parse(words).as_list() == words
    assert Keywords.parse(["", "+", "  two   words "]).widen == ("two words",)


def test_rules_are_validated() -> None:
    with pytest.raises(RulesError):
        MatchRules.from_mapping({"match": {"names": ["Socitm"], "cues": []}})
    with pytest.raises(RulesError):
        MatchRules.from_mapping({"match": {"names": "Socitm", "cues": ["report"]}})


# --- themes --------------------------------------------------------------------------------


def test_items_relate_to_a_question_by_theme() -> None:
    cyber = FeedItem(
        title="Socitm publishes cyber security briefing",
        summary="Councils must prepare for ransomware attacks on their systems.",
    )
    question = relate_question(cyber, QUESTIONS, RULES)
    assert question is not None and question.theme == "Cyber security"

    skills = FeedItem(
        title="Socitm research on hiring and keeping digital staff",
        summary="Skills gaps and shortages persist; creative recruitment helps.",
    )
    question = relate_question(skills, QUESTIONS, RULES)
    assert question is not None and question.id == "Q3"

    data = FeedItem(title="Socitm report: harnessing place-based data insights", summary="")
    question = relate_question(data, QUESTIONS, RULES)
    assert question is not None and question.id == "Q4"

    reform = FeedItem(title="Socitm outlines shared services and local government reform")
    question = relate_question(reform, QUESTIONS, RULES)
    assert question is not None and question.id == "Q10"


def test_every_theme_in_the_rules_exists_in_the_question_set() -> None:
    themes = {q.theme for q in QUESTIONS}
    assert {theme for theme, _ in RULES.themes} == themes


def test_no_theme_no_question() -> None:
    assert (
        relate_question(FeedItem(title="Socitm publishes annual report"), QUESTIONS, RULES) is None
    )


# --- links and identity --------------------------------------------------------------------


def test_normalise_link_strips_tracking_and_noise() -> None:
    a = "HTTPS://WWW.UKAuthority.com:443/articles/x/?utm_source=rss&utm_medium=feed&fbclid=1#top"
    b = "http://www.ukauthority.com/articles/x?gclid=abc"
    assert (
        normalise_link(a, RULES)
        == normalise_link(b, RULES)
        == ("https://www.ukauthority.com/articles/x")
    )
    assert normalise_link("https://e.com/p?b=2&a=1&utm_x=3", RULES) == "https://e.com/p?a=1&b=2"
    for bad in ("javascript:alert(1)", "ftp://e.com/x", "file:///etc/passwd", "", None, "nope"):
        assert normalise_link(bad, RULES) is None


def test_display_link_keeps_scheme_and_path_but_not_tracking() -> None:
    assert (
        display_link("https://E.com/a/b/?id=7&utm_campaign=x#frag", RULES)
        == "https://e.com/a/b/?id=7"
    )
    assert display_link("https://user:pw@e.com/x", RULES) == "https://e.com/x"
    assert display_link("javascript:alert(1)", RULES) is None


def test_item_keys_alias_changed_guids_and_two_feeds() -> None:
    when = datetime(2025, 1, 28, 9, tzinfo=UTC)
    first = FeedItem(title="Socitm report", guid="abc", link="https://e.com/r?utm_source=a")
    changed_guid = FeedItem(title="Socitm report", guid="xyz", link="https://e.com/r/")
    other_feed = FeedItem(title="Socitm report", guid="1", link="http://e.com/r#x")
    keys = set(item_keys(first, "1", RULES))
    assert keys & set(item_keys(changed_guid, "1", RULES))
    assert keys & set(item_keys(other_feed, "2", RULES))
    # Guids are per feed: "1" in feed A is not "1" in feed B.
    assert not set(item_keys(FeedItem(title="x", guid="1"), "1", RULES)) & set(
        item_keys(FeedItem(title="y", guid="1"), "2", RULES)
    )
    # Title + date catches a story whose guid and link both changed.
    moved_a = FeedItem(
        title="Socitm: the Report!", guid="a", link="https://a.com/1", published=when
    )
    moved_b = FeedItem(title="socitm the report", guid="b", link="https://b.com/2", published=when)
    assert set(item_keys(moved_a, "1", RULES)) & set(item_keys(moved_b, "1", RULES))
    assert item_keys(FeedItem(title=""), "1", RULES) == ()


# --- text ----------------------------------------------------------------------------------


def test_html_is_stripped_to_one_clean_paragraph() -> None:
    html = (
        "<p>First <b>para</b> &amp; more<script>alert(1)</script></p>"
        "<p>Second\u202e para</p><img src=x onerror=alert(1)>"
    )
    text = html_to_text(html)
    assert text == "First para & more\n\nSecond para"
    assert one_paragraph(text, 400) == "First para & more"
    long = one_paragraph("word " * 200, 50)
    assert len(long) <= 50 and long.endswith("…")


def test_catalogue_loads_and_marks_unconfirmed_urls() -> None:
    catalogue = load_catalogue()
    names = {entry.name for entry in catalogue}
    assert {"Socitm", "UKAuthority", "PublicTechnology", "LocalGov", "GOV.UK"} <= names
    assert all(entry.url.startswith("https://") for entry in catalogue)
    assert any(not entry.confirmed for entry in catalogue)
