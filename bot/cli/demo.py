"""`leaderbot demo`: the whole loop on the console with a throwaway database.

A question is posted, sample replies arrive in its thread (one is edited, one deleted), and
the digest is built and posted by the same code the bot runs every week.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from bot.platforms.console.platform import ConsolePlatform
from bot.port import ReplyDeleted, ReplyEdited, ReplyPosted
from bot.runtime import open_context
from bot.services.ask import ask_and_deliver
from bot.services.collect import record
from bot.services.context import Platforms
from bot.services.digest import post_digest_now, window_ending
from bot.settings import Settings

CHANNEL = "leadership-team"
SAMPLE_PEOPLE = {
    "U01PRIYA": "Priya Shah (Head of Digital)",
    "U02GARETH": "Gareth Jones (CIO)",
    "U03AOIFE": "Aoife Byrne (Data Lead)",
    "U04SAM": "Sam Okafor (Service Design)",
}
SAMPLE_REPLIES = [
    (
        "U01PRIYA",
        "We've started a joint digital inclusion programme with the NHS trust and two "
        "housing associations: shared hubs, one referral route.",
    ),
    (
        "U02GARETH",
        "Honestly we talk about partnerships more than we do them. The blocker is "
        "data sharing agreements, not appetite.",
    ),
    (
        "U03AOIFE",
        "Our social progress index pilot needs the police and fire data to be useful; "
        "that is the partnership I'd prioritise.",
    ),
    (
        "U04SAM",
        "Residents! We co-designed the new bins service with a citizens' panel and it "
        "cut failed collections by a third.",
    ),
]


async def run_demo(settings: Settings) -> int:
    with tempfile.TemporaryDirectory(prefix="leaderbot-demo-") as tmp:
        demo_settings = settings.model_copy(
            update={
                "database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
                "slack_bot_token": None,
                "slack_app_token": None,
                "per_channel_interval_s": 0.0,
            }
        )
        platform = ConsolePlatform(sys.stdout, user="U01PRIYA", names=SAMPLE_PEOPLE)
        async with open_context(demo_settings, platforms=Platforms([platform])) as ctx:
            platform.db = ctx.db  # the console keeps its threads where the bot keeps its data
            print("leaderbot demo: a question, some replies, and the digest.\n")
            asked = await ask_and_deliver(ctx, CHANNEL)
            if not asked.delivered or asked.post.message_id is None:
                print(f"demo: the question was not posted: {asked.post.error}", file=sys.stderr)
                return 1
            thread_id = asked.post.message_id
            typed = []
            for user_id, text in SAMPLE_REPLIES:
                message = await platform.add_reply(CHANNEL, thread_id, user_id, text)
                typed.append(message)
                await record(
                    ctx,
                    ReplyPosted(
                        CHANNEL, thread_id, message.message_id, user_id, text, message.posted_at
                    ),
                )
                print(f"  ↳ {SAMPLE_PEOPLE[user_id]}: {text}")
            # People change their minds: an edit and a deletion, as a platform would send them.
            edited = typed[-3]
            new_text = edited.text + " (Edit: the agreements are now signed.)"
            await platform.edit_reply(CHANNEL, edited.message_id, new_text)
            await record(
                ctx,
                ReplyEdited(
                    CHANNEL,
                    thread_id,
                    edited.message_id,
                    edited.user_id or "",
                    new_text,
                    edited.posted_at,
                ),
            )
            print(f"  ✎ {SAMPLE_PEOPLE[edited.user_id or '']} edited their reply")
            gone = typed[-1]
            await platform.delete_reply(CHANNEL, gone.message_id)
            await record(ctx, ReplyDeleted(CHANNEL, gone.message_id))
            print(f"  ✗ {SAMPLE_PEOPLE[gone.user_id or '']} deleted their reply")
            window = window_ending(ctx.clock() + timedelta(minutes=1), settings.timezone)
            _, report = await post_digest_now(ctx, CHANNEL, window, None)
            if not report.sent:
                print("demo: the digest was not posted", file=sys.stderr)
                return 1
            print("That was the weekly loop. `leaderbot run` starts the bot for real.")
    return 0
