"""Slack: every post carries a text fallback beside its blocks (what screen readers and
notifications use), the chart its alt text, and App Home buttons their accessibility labels.
Asserted on what the fake Slack Web API received."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import pytest

from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.platform import SlackPlatform
from tests.fakes.slack_api import FakeSlack
from tests.message_samples import LONG_DIGEST, SAMPLES, continued
from tests.slack_harness import ADMIN, MEMBER, Slack
from tests.slack_harness import slack as slack  # the running app: a shared fixture
from tests.test_app_home import buttons, open_home
from tests.test_slack_platform import RecordingSleep, settings_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_channel("C1", "leadership")
        yield server


@pytest.fixture
def platform(fake: FakeSlack) -> SlackPlatform:
    return SlackPlatform(build_web_client(settings_for(fake)), sleep=RecordingSleep())


def fallback(body: dict) -> str:
    """The `text` of a chat.postMessage as a reader gets it (Slack's three escapes undone)."""
    text = body.get("text")
    assert isinstance(text, str) and text.strip(), f"no text fallback beside {body.get('blocks')}"
    return html.unescape(text)


@pytest.mark.parametrize("kind", list(SAMPLES))
async def test_every_post_type_has_a_meaningful_text_fallback(
    fake: FakeSlack, platform: SlackPlatform, kind: str
) -> None:
    sample = SAMPLES[kind]
    await platform.post("C1", sample.content, key=f"k-{kind}")

    first, *rest = fake.calls("chat.postMessage")
    assert first.body["blocks"], "the fallback is beside blocks, not instead of them"
    assert fallback(first.body).startswith(sample.fallback)
    assert "<!" not in first.body["text"] and "<@" not in first.body["text"]
    for call in rest:
        fallback(call.body)


async def test_a_long_digest_names_each_part_and_its_chart_has_alt_text(
    fake: FakeSlack, platform: SlackPlatform
) -> None:
    await platform.post("C1", LONG_DIGEST, key="digest")

    calls = fake.calls("chat.postMessage")
    assert len(calls) > 2
    texts = [fallback(call.body) for call in calls]
    assert texts[0].startswith("Leadership digest for #leaders: ")
    assert texts[1:] == [continued(LONG_DIGEST, n, len(calls)) for n in range(2, len(calls) + 1)]
    [chart] = fake.files.values()
    assert chart.alt_txt == LONG_DIGEST.chart_alt
    assert chart.alt_txt.startswith("Bar chart of people taking part per week")
    assert chart.title == "People taking part per week, last 12 weeks"


async def test_admin_answers_are_text(slack: Slack) -> None:
    # A command's answer is plain mrkdwn text (no blocks), so the text is the whole answer.
    n, _ = await slack.command("status", user=MEMBER)
    answer = await slack.catcher.reply(n)
    assert "blocks" not in answer
    assert "Weekly question: not set" in answer["text"]


async def test_app_home_buttons_have_accessibility_labels_naming_the_channel(
    slack: Slack,
) -> None:
    await slack.say("schedule mon 09:00", user=ADMIN)
    view = (await open_home(slack, ADMIN))["view"]

    labels = {b["text"]["text"]: b.get("accessibility_label") for b in buttons(view)}
    assert labels == {
        "Change schedule": "Change the weekly question schedule of #leadership",
        "Change digest": "Change the digest of #leadership",
        "Pause": "Pause the weekly question in #leadership",
        "Set up a channel": "Set up the weekly question in another channel",
    }
    assert all(len(label) <= 75 for label in labels.values())


def test_a_prerendered_message_without_a_text_fallback_is_refused() -> None:
    from bot.platforms.slack.blocks import render

    with pytest.raises(ValueError, match="text fallback"):
        render({"text": " ", "blocks": [{"type": "divider"}]})
    assert render({"text": "Digest", "blocks": [{"type": "divider"}]})["text"] == "Digest"
