"""`leaderbot run` on Slack: the runtime starts its listeners' work and stops cleanly."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.platforms.slack.platform import SlackPlatform
from bot.runtime import serving
from bot.services.ask import ask_and_deliver
from bot.services.inbound import Inbound
from bot.store.models import Reply
from tests.conftest import make_settings
from tests.fakes import eventually
from tests.fakes.slack_api import FakeSlack


async def test_start_reconciles_this_weeks_threads(sqlite_url, make_context, clock) -> None:
    async with FakeSlack() as fake:
        fake.add_channel("C1", "leaders")
        fake.add_user("U1", "priya")
        env = {
            "SLACK_BOT_TOKEN": fake.bot_token,
            "SLACK_API_URL": fake.url,
            "SLACK_SIGNING_SECRET": "s",
            "LEADERBOT_PORT": 0,
        }
        async with SlackPlatform.pooled(make_settings(**env)) as platform:
            ctx = await make_context(sqlite_url, platform=platform, **env)
            asked = await ask_and_deliver(ctx, "C1")
            # A reply Slack never told us about (the bot was down).
            fake.add_message(
                "C1",
                "We share a data team with the county.",
                user="U1",
                thread_ts=asked.post.message_id,
            )
            async with serving(ctx, Inbound(ctx), host="127.0.0.1", port=0):

                async def stored() -> bool:
                    async with ctx.db.read() as session:
                        return await session.scalar(select(func.count(Reply.id))) == 1

                await eventually(stored, within=10)
