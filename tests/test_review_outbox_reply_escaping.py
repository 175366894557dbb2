"""Review: reply text is stored in Slack's escaped wire form and escaped again on the way out.

Slack sends message text with &, < and > as &amp; &lt; &gt; (bot/domain/command_grammar.py
unescapes slash-command text for that reason). Replies are stored as received, so the Slack
digest escapes them a second time (readers see "R&amp;D") and the JSON/CSV/Markdown exports
carry Slack entities instead of the text people wrote.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.domain.digest_render import render
from bot.platforms.slack.digest_blocks import digest_messages
from bot.platforms.slack.listeners.events import parse_message_event
from bot.platforms.slack.platform import SlackPlatform
from bot.platforms.slack.text import unescape
from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_thread
from bot.services.digest import build_channel_digest, window_ending
from bot.services.reply_writer import apply_batch
from bot.store.models import Reply
from tests.conftest import make_settings
from tests.fakes.slack_api import FakeSlack


async def test_reply_text_is_not_double_escaped(sqlite_url, make_context, clock):
    ctx = await make_context(sqlite_url)
    asked = await ask_and_deliver(ctx, "C1")
    ts = asked.post.message_id
    assert ts
    # What Slack delivers when someone types:  R&D <matters>
    body = {
        "event_id": "Ev1",
        "team_id": "T1",
        "event": {
            "type": "message",
            "channel": "C1",
            "user": "U1",
            "ts": f"{float(ts) + 1:.6f}",
            "thread_ts": ts,
            "text": "R&amp;D &lt;matters&gt;",
        },
    }
    await apply_batch(ctx, [parse_message_event(body)])
    window = window_ending(clock() + timedelta(minutes=1), "Europe/London")
    digest = await build_channel_digest(ctx, "C1", window, reconcile=False)

    exported = json.loads(render(digest, "json"))["questions"][0]["replies"][0]["text"]
    assert exported == "R&D <matters>"
    shown = [
        block["text"]["text"]
        for message in digest_messages(digest)
        for block in message["blocks"]
        if block.get("type") == "section" and "matters" in block["text"]["text"]
    ]
    assert shown and all("&amp;amp;" not in text and "&amp;lt;" not in text for text in shown)


def test_unescape_undoes_only_slacks_three_entities() -> None:
    assert unescape("R&amp;D &lt;matters&gt;") == "R&D <matters>"
    assert unescape("typed &amp;lt; literally") == "typed &lt; literally"  # & last
    markup = "ask <@U123> in <#C1|leaders> see <https://x.org/?a=1&amp;b=2|R&amp;D>"
    assert unescape(markup) == "ask <@U123> in <#C1|leaders> see <https://x.org/?a=1&b=2|R&D>"
    assert unescape("&quot;&#39;&nbsp;") == "&quot;&#39;&nbsp;"  # Slack sends no others


async def test_reconciled_replies_are_unescaped_too(sqlite_url, make_context) -> None:
    async with FakeSlack() as fake:
        fake.add_channel("C0LEADERS", "leadership-team")
        settings = make_settings(SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
        async with SlackPlatform.pooled(settings) as platform:
            ctx = await make_context(
                sqlite_url,
                platform=platform,
                SLACK_BOT_TOKEN=fake.bot_token,
                SLACK_API_URL=fake.url,
            )
            asked = await ask_and_deliver(ctx, "C0LEADERS")
            assert asked.post.message_id
            # The fake keeps text as given: give it Slack's wire form.
            fake.add_message(
                "C0LEADERS",
                "R&amp;D &lt;matters&gt; <@U2>",
                user="U1",
                thread_ts=asked.post.message_id,
            )
            await reconcile_thread(ctx, asked.post)
            async with ctx.db.read() as session:
                texts = (await session.scalars(select(Reply.text))).all()
    assert texts == ["R&D <matters> <@U2>"]
