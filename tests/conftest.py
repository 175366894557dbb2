"""Shared fixtures: databases (SQLite always, PostgreSQL when its URL is set), contexts."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.clock import ManualClock
from bot.domain.questions import load_question_set
from bot.platforms.console.platform import ConsolePlatform
from bot.port import ChatPlatform
from bot.runtime import CONTENT_BUILDERS
from bot.services.context import Context, Platforms
from bot.settings import BUNDLED_PROMPTS, Settings
from bot.store.db import Database
from bot.watch.catalogue import load_catalogue
from tests.scratch_database import scratch_database

POSTGRES_ENV = "LEADERBOT_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV)

pytest.register_assert_rewrite("tests.slack_harness")


def make_settings(**overrides: Any) -> Settings:
    """Settings for tests: nothing from the environment or a .env file leaks in."""
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": None,
        "SLACK_SIGNING_SECRET": None,
        "SLACK_APP_TOKEN": None,
        "SLACK_CLIENT_ID": None,
        "SLACK_CLIENT_SECRET": None,
        "SLACK_STATE_SECRET": None,
        "LEADERBOT_SECRET_KEY": None,
        "DATABASE_URL": "sqlite+aiosqlite:///:memory:",
        "LEADERBOT_PER_CHANNEL_INTERVAL": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def postgres_database() -> Any:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    assert POSTGRES_URL is not None
    return scratch_database(POSTGRES_URL)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """Each test that takes this runs on SQLite and on PostgreSQL (skipped without its URL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db"
        return
    if not POSTGRES_URL:
        pytest.skip(f"set {POSTGRES_ENV} to run against PostgreSQL")
    async with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db"


@pytest.fixture
def clock() -> ManualClock:
    # A Wednesday in winter (GMT), far from bank holidays.
    return ManualClock(datetime(2026, 1, 14, 12, 0, tzinfo=UTC))


@pytest.fixture
def console_out() -> io.StringIO:
    return io.StringIO()


ContextFactory = Callable[..., Any]


@pytest.fixture
async def make_context(clock: ManualClock) -> AsyncIterator[ContextFactory]:
    """Build Contexts over a database URL; each is disposed at the end of the test."""
    opened: list[Database] = []
    questions = load_question_set(BUNDLED_PROMPTS)

    async def factory(url: str, platform: ChatPlatform | None = None, **settings: Any) -> Context:
        db = Database(url)
        await db.upgrade()
        opened.append(db)
        return Context(
            settings=make_settings(DATABASE_URL=url, **settings),
            db=db,
            # The default console keeps its threads in the test's database, as `run` does.
            platforms=Platforms([platform or ConsolePlatform(io.StringIO(), user="tester", db=db)]),
            questions=questions,
            builders=CONTENT_BUILDERS,
            clock=clock,
            feed_catalogue=load_catalogue,  # as bot.runtime wires it
        )

    yield factory
    for db in opened:
        await db.dispose()


LEADERS = "C0LEADERS"


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    """The fake Slack Web API with the leadership channel (test modules may override it)."""
    from tests.fakes.slack_api import FakeSlack

    async with FakeSlack() as slack:
        slack.add_channel(LEADERS, "leadership-team")
        yield slack


@pytest.fixture
async def slack_context(fake: Any, make_context: ContextFactory) -> AsyncIterator[ContextFactory]:
    """Build Contexts on Slack (a pooled client pointed at the `fake`) over a database URL."""
    from bot.platforms.slack.platform import SlackPlatform

    env = {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_API_URL": fake.url}
    async with AsyncExitStack() as stack:

        async def factory(url: str, **settings: Any) -> Context:
            platform = await stack.enter_async_context(
                SlackPlatform.pooled(make_settings(**env, **settings))
            )
            return await make_context(url, platform=platform, **env, **settings)

        yield factory


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield
