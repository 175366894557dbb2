"""Personal data stays out of the logs and goes with an uninstall.

At DEBUG (`leaderbot -v`, LEADERBOT_LOG_LEVEL=DEBUG) no log record holds a reply's text, its
author's user id or a profile field, whichever library logs it (database statements and rows,
Slack request bodies). An uninstall also drops the audit entries about the workspace's
channels and people and the processed event ids. Real HTTP to the bot, SQLite in a temp dir.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.cli import QUIET_LOGGERS, _configure_logging
from bot.platforms.slack.platform import SlackPlatform
from bot.runtime import serving
from bot.services import audit
from bot.services.admin import add_bot_admin
from bot.services.ask import ask_and_deliver
from bot.services.context import Context, Platforms
from bot.services.inbound import Inbound
from bot.services.privacy import forget_user
from bot.services.reply_writer import writer_for
from bot.serving import HttpServer
from bot.store.models import AuditEntry, BotAdmin, ProcessedEvent, Reply
from tests.fakes import eventually
from tests.fakes.signing import FORM, command_body, event_body, signed_headers
from tests.fakes.slack_api import FakeMessage, FakeSlack

SECRET = "signing-secret-for-privacy"
PERSON = "U0PRIVATE9"
NAME = "Wilhelmina Quartermaine"
REPLY = "my confidential view on the 7f3a restructure"


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Logging as `leaderbot -v` sets it up, every logger captured at DEBUG; restored after."""
    names = [*QUIET_LOGGERS, "sqlalchemy.engine"]
    saved = {name: logging.getLogger(name).level for name in names}
    _configure_logging(None, verbose=True)
    caplog.set_level(logging.DEBUG)  # the root logger: everything that propagates
    try:
        yield caplog
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user(PERSON, "wilhelmina", display_name=NAME, real_name=NAME)
        server.add_user("U0ADMIN", "admin", is_admin=True)
        server.add_channel("C1", "leadership", members=[PERSON, "U0ADMIN"])
        yield server


@dataclass
class Bot:
    ctx: Context
    server: HttpServer
    fake: FakeSlack
    http: aiohttp.ClientSession

    async def post(self, body: str, content_type: str = "application/json") -> int:
        headers = signed_headers(body, SECRET, content_type=content_type)
        url = f"http://127.0.0.1:{self.server.port}/slack/events"
        async with self.http.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def reply_through_events(self) -> FakeMessage:
        question = await ask_and_deliver(self.ctx, "C1")
        assert question.post.message_id
        reply = self.fake.add_message("C1", REPLY, user=PERSON, thread_ts=question.post.message_id)
        event = {**reply.to_api(), "channel": "C1", "channel_type": "channel"}
        assert await self.post(event_body(event, event_id="EvPrivate")) == 200
        writer = writer_for(self.ctx)
        await eventually(lambda: _is_true(writer.written >= 1))
        await writer.drain()
        async with self.ctx.db.read() as session:
            assert await session.scalar(select(func.count()).select_from(Reply)) == 1
        return reply


async def _is_true(value: bool) -> bool:
    return value


@pytest.fixture
async def bot(fake: FakeSlack, make_context: Any, tmp_path: Path) -> AsyncIterator[Bot]:
    ctx = await make_context(
        f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db",
        SLACK_BOT_TOKEN=fake.bot_token,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
    )
    async with SlackPlatform.pooled(ctx.settings) as platform:
        ctx.platforms = Platforms([platform])
        async with (
            serving(ctx, Inbound(ctx), host="127.0.0.1", port=0) as server,
            aiohttp.ClientSession() as http,
        ):
            yield Bot(ctx, server, fake, http)
        await Inbound(ctx).close()


def leaks(caplog: pytest.LogCaptureFixture, *secrets: str) -> list[str]:
    found = []
    for record in caplog.records:
        text = " ".join(
            [record.getMessage(), str(record.args), record.exc_text or "", str(record.msg)]
        )
        found += [f"{record.name}: {secret}" for secret in secrets if secret in text]
    return found


async def test_a_reply_and_its_erasure_at_debug_log_no_text_user_id_or_name(
    bot: Bot, debug_logging: pytest.LogCaptureFixture
) -> None:
    await bot.reply_through_events()
    # The person types a command: their profile is looked up (users.info) and cached.
    command = command_body(
        "/leadership", "schedule mon 09:00", user_id=PERSON, channel_id="C1", team_id="T0FAKE"
    )
    assert await bot.post(command, FORM) == 200
    await eventually(lambda: _is_true(bool(bot.fake.calls("users.info"))))
    erasure = await forget_user(bot.ctx, PERSON)
    assert erasure.replies == 1
    assert debug_logging.records, "nothing was captured"
    assert leaks(debug_logging, REPLY, PERSON, NAME) == []


async def test_even_the_database_statement_log_shows_no_parameters(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator who turns SQLAlchemy's statement log on (INFO) sees statements only."""
    saved = logging.getLogger("sqlalchemy.engine").level
    caplog.set_level(logging.INFO)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        await bot.reply_through_events()
        await forget_user(bot.ctx, PERSON)
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(saved)
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)
    assert leaks(caplog, REPLY, PERSON) == []


async def test_uninstall_purges_audit_entries_about_the_workspace_and_its_processed_events(
    bot: Bot,
) -> None:
    await bot.reply_through_events()
    # A command through the bot: its replay-guard id is a processed event of the workspace.
    assert await bot.post(command_body("/leadership", "help", channel_id="C1"), FORM) == 200
    await add_bot_admin(bot.ctx, PERSON, actor="U0ADMIN")
    async with bot.ctx.db.write() as session:

        def entry(actor: str, channel: str | None, after: dict[str, Any]) -> None:
            audit.record(
                session, bot.ctx, actor=actor, action="test", channel_id=channel,
                before=None, after=after,
            )  # fmt: skip

        entry(PERSON, None, {"feed": 3})  # by the person, no channel
        entry("cli", "C1", {"alerts": True})  # about the workspace's channel
        entry("cli", None, {"user": PERSON, "replies_deleted": 0})  # naming the person
        entry("cli", None, {"feed": 9, "url": "https://example.org/feed"})  # nobody's: stays
    async with bot.ctx.db.read() as session:
        ids = set((await session.scalars(select(ProcessedEvent.event_id))).all())
    assert "EvPrivate" in ids and any(i.startswith("cmd:T0FAKE:") for i in ids)

    assert await bot.post(event_body({"type": "app_uninstalled"}, event_id="EvGone")) == 200

    async def purged() -> bool:
        async with bot.ctx.db.read() as session:
            events = await session.scalar(select(func.count()).select_from(ProcessedEvent))
            replies = await session.scalar(select(func.count()).select_from(Reply))
        return (events, replies) == (0, 0)

    await eventually(purged)
    async with bot.ctx.db.read() as session:
        left = (await session.scalars(select(AuditEntry))).all()
        admins = (await session.scalars(select(BotAdmin.user_id))).all()
    assert [(e.actor, e.after) for e in left] == [
        ("cli", {"feed": 9, "url": "https://example.org/feed"})
    ]
    assert PERSON not in admins
