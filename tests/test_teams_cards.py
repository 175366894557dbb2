"""Adaptive Cards for Teams: inert untrusted text, the outbox tag, digests split within size
(nothing dropped), and the cards' shape checked against the Teams SDK's card model."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from microsoft_teams.cards import AdaptiveCard

from bot.domain.chart import chart_alt_text, participation_chart
from bot.domain.content import DigestPost, FeedAlert, Notice, Nudge, QuestionPost
from bot.domain.digest import (
    ChannelRef,
    Digest,
    DigestQuestion,
    DigestReply,
    DigestWindow,
    WeekParticipation,
)
from bot.domain.questions import load_question_set
from bot.platforms.teams import cards
from bot.platforms.teams.digest_cards import MESSAGE_BUDGET_BYTES, digest_cards
from bot.platforms.teams.html_text import html_to_text
from bot.settings import BUNDLED_PROMPTS

QUESTIONS = load_question_set(BUNDLED_PROMPTS)
HOSTILE = (
    "[click me](https://evil.example) ![x](https://evil.example/p.png) <at>everyone</at> **b**"
)
END = datetime(2026, 1, 16, 16, 0, tzinfo=UTC)


def elements(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(card["body"])


def text_blocks(card: dict[str, Any]) -> list[str]:
    return [
        e["text"] for e in elements(card) if e["type"] == "TextBlock" and e.get("isVisible", True)
    ]


def runs(card: dict[str, Any]) -> list[str]:
    return [i["text"] for e in elements(card) if e["type"] == "RichTextBlock" for i in e["inlines"]]


UNESCAPED_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")


def assert_inert(card: dict[str, Any]) -> None:
    for text in text_blocks(card):
        assert not UNESCAPED_LINK.search(text), text
        assert "<at>" not in text, text
    assert "entities" not in card.get("msteams", {})
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["url"].startswith("http")
    AdaptiveCard.model_validate(card)  # the SDK's model of a card accepts it


def test_feed_alert_text_is_inert() -> None:
    alert = FeedAlert(
        title=HOSTILE,
        source=HOSTILE,
        link="javascript:alert(1)",
        summary=HOSTILE + "\n\nsecond paragraph",
        related_question=QUESTIONS.questions[0],
    )
    card = cards.alert_card(alert)

    assert_inert(card)
    assert HOSTILE in runs(card)  # shown as typed, in a TextRun (never parsed as markdown)
    assert "actions" not in card  # no link to a javascript: URL
    assert "second paragraph" not in json.dumps(card)


@pytest.mark.parametrize(
    "content",
    [
        QuestionPost(QUESTIONS.questions[2], QUESTIONS.title),
        Nudge("Q3"),
        Notice(HOSTILE),
        FeedAlert("Digital trends 2026", "Socitm", "https://socitm.net/r", "A report."),
    ],
    ids=["question", "nudge", "notice", "alert"],
)
def test_every_card_is_inert_and_valid(content: object) -> None:
    card = cards.render(content)
    assert card["version"] == "1.5" and card["fallbackText"]
    assert_inert(card)


def test_question_card() -> None:
    q = QUESTIONS.questions[2]
    card = cards.render(QuestionPost(q, QUESTIONS.title))
    assert q.text in runs(card)
    assert any(q.id in text for text in text_blocks(card))
    assert any("Reply in this thread" in text for text in text_blocks(card))
    assert card["actions"][0]["url"] == q.source_url


def test_escape_markdown() -> None:
    escaped = cards.escape_markdown("[a](b) **c** <at>d</at>\n- e\n1. f")
    assert escaped == "\\[a\\]\\(b\\) \\*\\*c\\*\\* \\<at\\>d\\</at\\>\n\\- e\n1\\. f"


def test_tag_round_trip_as_sent_and_as_graph_returns_it() -> None:
    card = cards.tag(cards.render(Notice("hi")), "ask:19:x@thread.tacv2:abc", parts=3)
    assert cards.read_tag(card) == ("ask:19:x@thread.tacv2:abc", 3)
    assert cards.read_tag(json.dumps(card)) == ("ask:19:x@thread.tacv2:abc", 3)
    assert cards.read_tag("not json") == (None, 1)
    hidden = [e for e in card["body"] if e.get("id") == cards.KEY_ELEMENT_ID]
    assert hidden[0]["isVisible"] is False


def digest_post(replies_per_question: int, reply_chars: int) -> DigestPost:
    """A digest built by hand (not with build_digest, which the lead is renaming meanwhile)."""
    window = DigestWindow(END - timedelta(days=7), END)
    items = []
    for n, question in enumerate(QUESTIONS.questions[:2]):
        posted = window.start + timedelta(hours=1 + n)
        replies = tuple(
            DigestReply(
                user_id=f"user-{i}",
                user_name=f"Person {i} {HOSTILE}",
                text=f"reply {question.id}-{i}: " + ("word " * reply_chars)[:reply_chars],
                message_id=str(1000 + i),
                edited=i % 2 == 0,
                posted_at=posted + timedelta(minutes=i),
            )
            for i in range(replies_per_question)
        )
        items.append(
            DigestQuestion(
                question=question,
                posted_at=posted,
                link=f"https://teams.microsoft.com/l/message/x/{n}",
                replies=replies,
                reply_count=len(replies),
                participants=len(replies),
                share=min(1.0, len(replies) / 40),
            )
        )
    weeks = tuple(
        WeekParticipation(date(2026, 1, 12) - timedelta(weeks=w), w, w * 2)
        for w in range(11, -1, -1)
    )
    total = sum(item.reply_count for item in items)
    digest = Digest(
        channel=ChannelRef("19:abc@thread.tacv2", "leaders"),
        window=window,
        questions=tuple(items),
        member_count=40,
        reply_count=total,
        participants=replies_per_question,
        share=min(1.0, replies_per_question / 40),
        not_yet_asked=QUESTIONS.questions[2:],
        participation=weeks,
    )
    return DigestPost(digest, participation_chart(weeks), chart_alt_text(weeks))


def size(card: dict[str, Any]) -> int:
    return len(json.dumps(cards.activity(cards.tag(card, "k" * 60, 99))).encode())


def test_a_small_digest_is_one_card_with_its_chart() -> None:
    post = digest_post(3, 200)
    [card] = digest_cards(post)
    assert_inert(card)
    [image] = [e for e in elements(card) if e["type"] == "Image"]
    assert image["url"].startswith("data:image/png;base64,") and image["altText"] == post.chart_alt
    assert size(card) < MESSAGE_BUDGET_BYTES


def test_a_long_digest_is_split_and_nothing_is_dropped() -> None:
    post = digest_post(40, 3000)
    parts = digest_cards(post)

    assert len(parts) > 3
    for part in parts:
        assert size(part) < MESSAGE_BUDGET_BYTES, "each message well under Teams' limit"
        assert_inert(part)
    everything = "".join(r for part in parts for r in runs(part))
    for thread in post.digest.questions:
        for reply in thread.replies:
            assert reply.text in everything  # whole, in order
    images = [e for part in parts for e in elements(part) if e["type"] == "Image"]
    assert len(images) == 1
    assert "continued (2 of" in json.dumps(parts[1])


def test_html_to_text() -> None:
    html = '<p>Hello&nbsp;<b>there</b> &amp; <at id="0">leaderbot</at></p><div>line<br>two</div>'
    assert html_to_text(html) == "Hello there & leaderbot\n\nline\ntwo"
    assert html_to_text("<script>alert(1)</script>x") == "x"
    assert html_to_text("&lt;at&gt;all&lt;/at&gt;") == "<at>all</at>"
