"""Teams: every post's activity carries a `summary` (the notification's words) beside its
Adaptive Card, and every card a `fallbackText` and `speak` in plain words; the chart has alt
text and every button a title that says where it goes. Asserted on what FakeTeams received."""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.domain.clock import ManualClock
from tests.fakes.teams_api import FakeTeams, Message
from tests.message_samples import LONG_DIGEST, SAMPLES, SMALL_DIGEST, continued
from tests.teams_support import (
    LEADERS,
    OWNER,
    TeamsBed,
    real_now_clock,
    record_team,
    setup_team,
    teams_bed,
)
from tests.test_teams_inbound import Bot, install, running_bot

ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
def clock() -> ManualClock:
    return real_now_clock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    async with FakeTeams() as teams:
        setup_team(teams)
        yield teams


@pytest.fixture
async def bed(fake: FakeTeams, sqlite_url: str, clock: ManualClock) -> AsyncIterator[TeamsBed]:
    async with teams_bed(fake, sqlite_url, clock) as bed:
        await record_team(bed.platform, fake)
        yield bed


def spoken(message: Message) -> tuple[str, dict[str, Any]]:
    """(the activity's summary, its card), checking the card says the same in plain words."""
    activity = message.activity
    assert activity is not None
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == ADAPTIVE
    card = attachment["content"]
    summary = activity.get("summary")
    assert isinstance(summary, str) and summary.strip(), "no summary beside the card"
    assert card["fallbackText"] == summary
    assert html.unescape(card["speak"]) == summary  # SSML: the same words, escaped
    for action in card.get("actions", []):
        assert action["title"].strip() and action["title"] not in {"Open", "Link", "Click here"}
    return summary, card


def bot_messages(fake: FakeTeams) -> list[Message]:
    messages = []
    for root in fake.messages(LEADERS):
        messages += [m for m in fake.thread(LEADERS, root.id) if m.by_bot]
    return messages


@pytest.mark.parametrize("kind", list(SAMPLES))
async def test_every_post_type_has_a_summary_fallback_and_speech(
    fake: FakeTeams, bed: TeamsBed, kind: str
) -> None:
    sample = SAMPLES[kind]
    await bed.platform.post(LEADERS, sample.content, key=f"k-{kind}")

    first, *rest = bot_messages(fake)
    summary, card = spoken(first)
    assert summary.startswith(sample.fallback)
    for message in rest:
        spoken(message)
    headings = [e["text"] for e in card["body"] if e.get("style") == "heading"]
    if kind == "question":
        assert [a["title"] for a in card["actions"]] == ["Read the report"]
        assert headings == ["Q3 · This week's leadership question"]
    if kind == "alert":
        assert headings == ["New report"]
    if kind == "digest":
        [image] = [e for e in card["body"] if e["type"] == "Image"]
        assert image["altText"].startswith("Bar chart of people taking part per week")
        assert headings[0] == "Leadership digest: \\#leaders"  # escaped markdown
        assert any(h.startswith("Replies to ") for h in headings)
        titles = [a["title"] for a in card["actions"]]
        assert titles == [f"Open the {q.question.id} thread" for q in SMALL_DIGEST.digest.questions]


async def test_a_long_digest_names_each_part(fake: FakeTeams, bed: TeamsBed) -> None:
    await bed.platform.post(LEADERS, LONG_DIGEST, key="digest")

    summaries = [spoken(message)[0] for message in bot_messages(fake)]
    total = len(summaries)
    assert total > 2
    assert summaries[0].startswith("Leadership digest for #leaders: ")
    assert summaries[1:] == [continued(LONG_DIGEST, n, total) for n in range(2, total + 1)]


@pytest.fixture
async def bot(fake: FakeTeams, sqlite_url: str, clock: ManualClock) -> AsyncIterator[Bot]:
    async with running_bot(fake, sqlite_url, clock) as running:
        yield running


async def test_admin_answers_have_a_plain_summary(fake: FakeTeams, bot: Bot) -> None:
    # A command's answer is markdown in the card; its summary and speech are the plain words.
    await install(fake, bot)
    message_id = fake.user_post(LEADERS, OWNER, "schedule mon 09:00", mention_bot=True)
    status, _ = await fake.send_activity(bot.url, fake.message_activity(LEADERS, message_id))
    assert status == 200
    await bot.settle()
    [answer] = [m for m in fake.thread(LEADERS, message_id) if m.by_bot]

    summary, card = spoken(answer)
    [shown] = [e["text"] for e in card["body"] if e.get("isVisible", True)]
    assert "**" in shown or "`" in shown  # the card itself has markdown...
    assert "**" not in summary and "`" not in summary and "\\" not in summary  # ...not the summary
    assert summary.startswith("Done: ")
    assert json.dumps(card).count("leaderbot-key") == 1


def test_a_card_without_a_fallback_is_refused() -> None:
    from bot.platforms.teams.cards import card

    with pytest.raises(ValueError, match="fallback"):
        card([], fallback="  ")
