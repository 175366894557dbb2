"""Welsh and English, on every platform (console, Slack on its fake, Teams on its fake).

A channel set to `cy` gets the weekly question, its nudge, the digest and feed alerts in Welsh;
`both` gets Welsh first, then English; `en` (the default) stays English. The posts go the
whole way: recorded in the outbox, built, stamped with the channel's language, rendered by the
adapter and stored by the platform; the checks read what a person would see.
"""

from __future__ import annotations

import pytest

from bot.domain.language import Language
from bot.services import channels, outbox
from bot.services.ask import ask_and_deliver
from bot.services.digest import post_digest_now, window_ending
from tests.contract.harness import Harness

WELSH_Q1 = "Pa bartneriaethau y gallech eu ffurfio"
ENGLISH_Q1 = "Which partnerships could you form"
WELSH_INVITATION = "Atebwch yn yr edefyn hwn"
ENGLISH_INVITATION = "Reply in this thread"
WELSH_NUDGE = "Nodyn bach i'ch atgoffa"
ENGLISH_NUDGE = "A gentle reminder"
WELSH_DIGEST = "Crynodeb arweinyddiaeth"
ENGLISH_DIGEST = "Leadership digest"
WELSH_ALERT = "Darllen yr adroddiad"
ENGLISH_ALERT = "Read the report"


def flat(text: str) -> str:
    """Whitespace collapsed (the console wraps lines; cards and blocks split sections)."""
    return " ".join(text.split())


async def seen_text(harness: Harness, key: str) -> str:
    """Everything a reader sees of the bot's post tagged `key` (all its parts)."""
    texts = [
        harness.rendered_text(m)
        for m in await harness.messages_in_channel()
        if m.by_bot and m.key is not None and m.key.startswith(key)
    ]
    assert texts, f"nothing posted under {key}"
    return flat("\n".join(texts))


async def post_everything(harness: Harness, ctx, language: Language | None) -> dict[str, str]:
    """Set the channel's language (None: leave the default), then post a question, its
    nudge, a digest and an alert through the outbox; what a reader sees of each."""
    if language is not None:
        await channels.set_language(ctx, harness.channel_id, language, actor="test")
    asked = await ask_and_deliver(ctx, harness.channel_id, "Q1")
    assert asked.delivered, asked.report
    question = asked.post
    replier = (await harness.add_people(1))[0]
    await harness.user_says(question.message_id, replier, "Ateb / an answer")

    nudge_key = f"nudge:{question.key}"
    await outbox.enqueue(
        ctx,
        key=nudge_key,
        kind="nudge",
        channel_id=harness.channel_id,
        due_at=ctx.clock(),
        question_id="Q1",
        thread_id=question.message_id,
    )
    alert_key = "alert:language-test"
    await outbox.enqueue(
        ctx,
        key=alert_key,
        kind="alert",
        channel_id=harness.channel_id,
        due_at=ctx.clock(),
        payload={
            "title": "Digital Trends 2026",
            "source": "Socitm",
            "link": "https://socitm.net/reports/trends-2026",
            "summary": "The new report.",
            "published": "2026-01-12T09:00:00+00:00",
            "question_id": "Q1",
        },
    )
    report = await outbox.deliver_due(ctx, only_keys=[nudge_key, alert_key])
    assert sorted(report.sent) == sorted([nudge_key, alert_key]), report

    ctx.clock.advance(hours=1)
    window = window_ending(ctx.clock(), ctx.settings.timezone)
    digest_row, digest_report = await post_digest_now(ctx, harness.channel_id, window, None)
    assert digest_report.sent or digest_report.found, digest_report
    return {
        "question": await seen_text(harness, question.key),
        "nudge": await seen_text(harness, nudge_key),
        "alert": await seen_text(harness, alert_key),
        "digest": await seen_text(harness, digest_row.key),
    }


async def test_a_welsh_channel_gets_everything_in_welsh(
    harness: Harness, make_context, sqlite_url
) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    seen = await post_everything(harness, ctx, "cy")

    assert WELSH_Q1 in seen["question"] and WELSH_INVITATION in seen["question"]
    assert ENGLISH_Q1 not in seen["question"] and ENGLISH_INVITATION not in seen["question"]
    assert WELSH_NUDGE in seen["nudge"] and ENGLISH_NUDGE not in seen["nudge"]
    assert WELSH_ALERT in seen["alert"] or "Adroddiad newydd" in seen["alert"]
    assert "Yn ymwneud â" in seen["alert"] and "Related to" not in seen["alert"]
    assert WELSH_DIGEST in seen["digest"] and ENGLISH_DIGEST not in seen["digest"]
    assert WELSH_Q1 in seen["digest"] and "1 ateb gan 1 person" in seen["digest"]
    assert "replies" not in seen["digest"] and "reply from" not in seen["digest"]
    # The dates follow the language (Babel, locale cy): January is Ionawr, abbreviated "Ion".
    assert "Ion" in seen["digest"] and "Jan" not in seen["digest"]


async def test_a_bilingual_channel_gets_welsh_then_english(
    harness: Harness, make_context, sqlite_url
) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    seen = await post_everything(harness, ctx, "both")

    question = seen["question"]
    assert question.index(WELSH_Q1) < question.index(ENGLISH_Q1)
    assert question.index(WELSH_INVITATION) < question.index(ENGLISH_INVITATION)
    assert seen["nudge"].index(WELSH_NUDGE) < seen["nudge"].index(ENGLISH_NUDGE)
    assert "Yn ymwneud â" in seen["alert"] and "Related to" in seen["alert"]
    assert seen["alert"].index("Yn ymwneud â") < seen["alert"].index("Related to")
    digest = seen["digest"]
    assert digest.index(WELSH_DIGEST) < digest.index(ENGLISH_DIGEST)
    assert digest.index(WELSH_Q1) < digest.index(ENGLISH_Q1)
    assert digest.index("1 ateb gan 1 person") < digest.index("1 reply from 1 person")


async def test_an_english_channel_stays_english(harness: Harness, make_context, sqlite_url) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    seen = await post_everything(harness, ctx, None)

    assert ENGLISH_Q1 in seen["question"] and WELSH_Q1 not in seen["question"]
    assert ENGLISH_NUDGE in seen["nudge"] and WELSH_NUDGE not in seen["nudge"]
    assert "Related to question Q1" in seen["alert"]
    assert ENGLISH_DIGEST in seen["digest"] and WELSH_DIGEST not in seen["digest"]
    assert "1 reply from 1 person" in seen["digest"]


@pytest.mark.parametrize("language", ["cy", "both"])
async def test_the_language_is_read_when_the_post_is_sent(
    harness: Harness, make_context, sqlite_url, language: Language
) -> None:
    """A question recorded before the channel changed language is written in the new one."""
    ctx = await make_context(sqlite_url, platform=harness.platform)
    row = await outbox.enqueue(
        ctx,
        key="ask:language-late",
        kind="question",
        channel_id=harness.channel_id,
        due_at=ctx.clock(),
        question_id="Q1",
    )
    assert row is not None
    await channels.set_language(ctx, harness.channel_id, language, actor="test")
    await outbox.deliver_due(ctx, only_keys=[row.key])
    assert WELSH_Q1 in await seen_text(harness, row.key)


async def test_a_feed_failure_notice_is_written_in_the_channels_language(
    harness: Harness, make_context, sqlite_url
) -> None:
    """The notice keeps its msgid and values, so it is written when it is sent."""
    from bot.watch.alerts import FEED_FAILING

    ctx = await make_context(sqlite_url, platform=harness.platform)
    await channels.set_language(ctx, harness.channel_id, "both", actor="test")
    params = {
        "id": "3",
        "source": "Socitm",
        "url": "https://socitm.net/feed/",
        "failures": "5",
        "since": "2026-01-14 09:00",
        "reason": "HTTP 503",
    }
    row = await outbox.enqueue(
        ctx,
        key="notice:feed:3:language",
        kind="notice",
        channel_id=harness.channel_id,
        due_at=ctx.clock(),
        payload={"msgid": FEED_FAILING, "params": params, "text": FEED_FAILING.format(**params)},
    )
    assert row is not None
    await outbox.deliver_due(ctx, only_keys=[row.key])
    seen = await seen_text(harness, row.key)
    assert seen.index("Mae ffrwd 3 (Socitm") < seen.index("Feed 3 (Socitm")
    assert "wedi methu 5 gwaith yn olynol" in seen
