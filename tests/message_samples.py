"""One of every kind of post the bot sends, and the words a screen reader or a notification
should give for each: shared by the Slack and Teams fallback-text tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.content import Content, DigestPost, FeedAlert, Notice, Nudge, QuestionPost
from bot.domain.digest_render import summary_line
from bot.domain.questions import Question
from tests.test_teams_cards import digest_post

QUESTION = Question(
    "Q3",
    "What would you stop doing to fund digital change?",
    "Harnessing data",
    "quoted",
    "PublicTechnology",
    "https://socitm.net/",
)


@dataclass(frozen=True)
class Sample:
    content: Content
    fallback: str
    """What the first message's text fallback must say (platform escaping undone)."""


SMALL_DIGEST = digest_post(2, 40)
LONG_DIGEST = digest_post(40, 3000)  # several messages on both platforms

SAMPLES = {
    "question": Sample(
        QuestionPost(QUESTION, "Public Sector Digital Trends 2025"),
        f"Q3: {QUESTION.text}",
    ),
    "nudge": Sample(Nudge("Q3"), Nudge("Q3").text),
    "alert": Sample(
        FeedAlert(
            "Local Digital Index 2026",
            "Socitm",
            "https://socitm.net/resource-hub/local-digital-index/",
            "Councils' digital maturity, measured.",
            datetime(2026, 1, 12, tzinfo=UTC),
        ),
        "New report: Local Digital Index 2026 (Socitm)",
    ),
    "notice": Sample(Notice("Digest paused until 6 January."), "Digest paused until 6 January."),
    "digest": Sample(
        SMALL_DIGEST,
        f"Leadership digest for {SMALL_DIGEST.digest.channel.label}: "
        + summary_line(SMALL_DIGEST.digest),
    ),
}


def continued(post: DigestPost, number: int, total: int) -> str:
    return f"Leadership digest for {post.digest.channel.label}, continued ({number} of {total})"
