"""Block Kit for the digest: within Slack's limits, split across messages, nothing lost."""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.digest import (
    ChannelRef,
    Digest,
    DigestReply,
    DigestWindow,
    QuestionThread,
    WeekParticipation,
    build_digest,
)
from bot.domain.questions import Question, QuestionSet
from bot.platforms.slack.blocks import escape_mrkdwn
from bot.platforms.slack.digest_blocks import (
    HEADER_LIMIT,
    MAX_BLOCKS,
    MESSAGE_TEXT_BUDGET,
    SECTION_LIMIT,
    digest_messages,
    slack_len,
    split_text,
)

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2025, 4, 7, 9, 0, tzinfo=LONDON)
WINDOW = DigestWindow(
    datetime(2025, 4, 4, 16, 0, tzinfo=LONDON), datetime(2025, 4, 11, 16, 0, tzinfo=LONDON)
)


def question_set(count: int = 10, text_len: int = 60) -> QuestionSet:
    return QuestionSet(
        edition="t",
        title="t",
        source_url="https://example.org/",
        questions=tuple(
            Question(
                f"Q{i}", f"Q{i} " + "w" * text_len, f"Theme {i}", "quoted", "src", "https://e/"
            )
            for i in range(1, count + 1)
        ),
    )


QS = question_set()


def reply(i: int, text: str, name: str | None = None, edited: bool = False) -> DigestReply:
    posted = MONDAY + timedelta(minutes=i)
    return DigestReply(
        f"U{i % 37}", name or f"Person {i % 37}", text, f"{1744000000 + i}.000100", edited, posted
    )


def digest_of(
    replies: list[DigestReply], *, qs: QuestionSet = QS, asked: tuple[str, ...] = ()
) -> Digest:
    return build_digest(
        channel=ChannelRef("C123", "leaders"),
        window=WINDOW,
        threads=[QuestionThread(qs.questions[0], MONDAY, "https://t.slack.com/p1", replies)],
        member_count=50,
        question_set=qs,
        asked_ids=asked,
        history=[WeekParticipation(date(2025, 4, 7), 37, len(replies))],
    )


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def sections(messages: list[dict[str, Any]]) -> list[str]:
    return [
        block["text"]["text"]
        for message in messages
        for block in message["blocks"]
        if block["type"] == "section"
    ]


def all_texts(block: dict[str, Any]) -> list[str]:
    if block["type"] in ("section", "header"):
        return [block["text"]["text"]]
    if block["type"] == "context":
        return [element["text"] for element in block["elements"]]
    return []


def check_limits(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        assert set(message) == {"text", "blocks"}
        assert message["text"]
        blocks = message["blocks"]
        assert 1 <= len(blocks) <= MAX_BLOCKS
        assert sum(slack_len(t) for b in blocks for t in all_texts(b)) <= MESSAGE_TEXT_BUDGET
        for block in blocks:
            if block["type"] == "header":
                assert block["text"]["type"] == "plain_text"
                assert 0 < len(block["text"]["text"]) <= HEADER_LIMIT
            if block["type"] in ("section", "context"):
                for text in all_texts(block):
                    assert 0 < len(text) <= SECTION_LIMIT
                    assert slack_len(text) <= SECTION_LIMIT
        json.dumps(message)  # serialisable as is


def reassembled(messages: list[dict[str, Any]]) -> str:
    # Pieces of one reply sit in consecutive sections with nothing added between them.
    return "".join(unescape(text) for text in sections(messages))


def test_small_digest_is_one_message() -> None:
    messages = digest_of([reply(1, "Ready."), reply(2, "Not yet.", edited=True)])
    messages = digest_messages(messages)
    assert len(messages) == 1
    check_limits(messages)
    blocks = messages[0]["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Leadership digest: #leaders", "emoji": True},
    }
    text = json.dumps(messages, ensure_ascii=False)
    assert "*2* replies from *2* people" in text
    assert "4%" in text  # 2 of 50 members
    assert "Not yet asked here (9)" in text
    assert "*Person 1* · <!date^" in text
    assert "_edited_" in text
    assert "<https://t.slack.com/p1|Open the thread>" in text
    assert messages[0]["text"].startswith("Leadership digest for #leaders: 2 replies")
    # Replies come straight after their question; the not-yet-asked list follows them.
    assert text.index("Not yet.") < text.index("Not yet asked here")
    assert text.index("Q1 · Theme 1") < text.index("Ready.")


def test_empty_digest_reads_well() -> None:
    messages = digest_messages(digest_of([], asked=QS.ids))
    assert len(messages) == 1
    check_limits(messages)
    text = json.dumps(messages)
    assert "No replies yet." in text
    assert "Nobody has replied yet" in text
    assert "Every question in the set has been asked here." in text
    assert "Replies to" not in text


def test_four_hundred_replies_split_within_limits_and_nothing_lost() -> None:
    rng = random.Random(7)
    words = ["budget", "data", "<@U999>", "&", "<!channel>", "AI", "résumé", "🙂", "\n", "*bold*"]
    replies = []
    for i in range(400):
        length = rng.choice([20, 80, 300, 900, 2500])
        body = " ".join(rng.choice(words) for _ in range(length // 6))
        replies.append(reply(i, f"[reply {i:03d}] {body} [end {i:03d}]"))
    # And a few very long ones, longer than a section and than a message.
    replies.append(reply(500, "[long A] " + "x" * 7000 + " [end A]"))
    replies.append(reply(501, "[long B] " + ("<&> " * 3000) + "[end B]"))
    replies.append(reply(502, "[long C] " + ("word " * 5000) + "[end C]"))
    digest = digest_of(replies)
    messages = digest_messages(digest)

    assert len(messages) > 2
    check_limits(messages)
    whole = reassembled(messages)
    for r in digest.questions[0].replies:
        assert r.text in whole, r.text[:20]
    # In order, too.
    positions = [whole.index(r.text) for r in digest.questions[0].replies]
    assert positions == sorted(positions)
    # Mentions never survive as markup.
    raw = json.dumps(messages)
    assert "<!channel>" not in raw and "<@U999>" not in raw
    # The head says the rest is in the thread; continuations say what they continue.
    head = json.dumps(messages[0])
    assert "continues in this thread" in head
    for number, message in enumerate(messages[1:], start=2):
        assert message["text"].endswith(f"({number} of {len(messages)})")
        first = message["blocks"][0]
        assert first["type"] == "context" or "Replies to Q1" in first["text"]["text"]


def test_single_reply_longer_than_a_section_is_split_not_truncated() -> None:
    text = "A" * 2000 + "\n" + "B" * 2000 + " " + "C" * 2500
    messages = digest_messages(digest_of([reply(1, text)]))
    check_limits(messages)
    reply_sections = [
        s for s in sections(messages) if "A" * 10 in s or "B" * 10 in s or "C" * 10 in s
    ]
    assert len(reply_sections) >= 3
    assert text in reassembled(messages)


def test_huge_head_overflows_into_the_thread() -> None:
    qs = question_set(count=60, text_len=480)  # 60 not-yet-asked questions of ~500 chars
    messages = digest_messages(digest_of([reply(1, "Short.")], qs=qs))
    assert len(messages) >= 2
    check_limits(messages)
    text = "".join(json.dumps(m) for m in messages)
    for q in qs.questions[1:]:
        assert q.text in text
    assert "continues in this thread" in json.dumps(messages[0])


def test_hostile_names_and_text_are_escaped() -> None:
    hostile = "<!channel> <@U1|boss> <https://evil.example|bank> & co"
    messages = digest_messages(digest_of([reply(1, hostile, name="<!here> Eve")]))
    raw = json.dumps(messages)
    assert "<!channel>" not in raw and "<!here>" not in raw and "<https://evil" not in raw
    assert "&lt;!channel&gt; &lt;@U1|boss&gt; &lt;https://evil.example|bank&gt; &amp; co" in raw
    assert "*&lt;!here&gt; Eve*" in raw
    # The only links and specials are the ones we build.
    specials = set(re.findall(r"<([!@#]?[a-z]+)", raw))
    assert specials <= {"!date", "https"}


def test_every_mrkdwn_text_object_is_verbatim() -> None:
    # Without verbatim, Slack would auto-link the bare URL and parse @channel / @everyone.
    typed = "see https://evil.example and www.evil.example @channel @everyone #general"
    messages = digest_messages(digest_of([reply(i, typed) for i in range(120)]))
    assert len(messages) > 1
    objects = [
        obj
        for message in messages
        for block in message["blocks"]
        for obj in [block.get("text"), *block.get("elements", [])]
        if isinstance(obj, dict) and obj.get("type") == "mrkdwn"
    ]
    assert objects and all(obj.get("verbatim") is True for obj in objects)
    assert any(typed in obj["text"] for obj in objects)  # escaping unchanged: nothing to escape


def test_long_channel_name_header_is_clipped_to_150() -> None:
    digest = build_digest(
        channel=ChannelRef("C1", "x" * 400),
        window=WINDOW,
        threads=[],
        member_count=None,
        question_set=QS,
        asked_ids=(),
    )
    messages = digest_messages(digest)
    check_limits(messages)
    header = messages[0]["blocks"][0]["text"]["text"]
    assert len(header) == HEADER_LIMIT and header.endswith("…")
    assert "No question was posted in this window." in json.dumps(messages)


@pytest.mark.parametrize(
    "text",
    ["", "short", "a" * 3000, "a" * 3001, "&" * 1000, "🙂" * 2000, ("word " * 2000).strip()],
)
def test_split_text_roundtrip_and_limits(text: str) -> None:
    pieces = split_text(text, 600, first_limit=500)
    assert "".join(pieces) == text
    assert slack_len(escape_mrkdwn(pieces[0])) <= 500
    assert all(slack_len(escape_mrkdwn(p)) <= 600 for p in pieces[1:])
    assert all(p for p in pieces[1:])  # no empty continuation pieces


def test_split_prefers_word_boundaries() -> None:
    pieces = split_text("word " * 300, 100)
    assert all(p.endswith(" ") for p in pieces[:-1])
