"""Shared set-up for the Teams tests: a FakeTeams with one installed team, and Contexts whose
only platform is a TeamsPlatform pointed at it (real HTTP on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.domain.clock import ManualClock
from bot.domain.questions import load_question_set
from bot.platforms.teams.directory import TeamsDirectory
from bot.platforms.teams.http import TeamsHttp, build_client
from bot.platforms.teams.platform import TeamsPlatform
from bot.platforms.teams.tokens import TokenProvider
from bot.runtime import CONTENT_BUILDERS
from bot.services.context import Context, Platforms
from bot.settings import BUNDLED_PROMPTS
from bot.store.db import Database
from tests.conftest import make_settings
from tests.fakes.teams_api import FakeTeams

GROUP = "11111111-2222-3333-4444-555555555555"
LEADERS = "19:0123456789abcdef0123456789abcdef@thread.tacv2"
OWNER = "aaaaaaaa-0000-0000-0000-000000000001"
STAFF = "aaaaaaaa-0000-0000-0000-000000000002"


def real_now_clock() -> ManualClock:
    """The fake stamps messages with the real time, as Teams does; the bot's clock must agree
    (in production both are the real time). No date is baked in."""
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def teams_env(fake: FakeTeams) -> dict[str, Any]:
    return {
        "TEAMS_APP_ID": fake.app_id,
        "TEAMS_APP_PASSWORD": fake.app_password,
        "TEAMS_TENANT_ID": fake.tenant_id,
        "TEAMS_LOGIN_URL": fake.login_url,
        "TEAMS_OPENID_METADATA_URL": fake.openid_metadata_url,
        "TEAMS_SERVICE_URL": fake.service_url,
        "TEAMS_GRAPH_URL": fake.graph_url,
    }


async def no_wait(_seconds: float) -> None:
    """Reads and digest parts wait out rate limits with this: the test need not."""


def setup_team(fake: FakeTeams) -> None:
    fake.add_team(GROUP, "Leadership", general_channel_id=LEADERS)
    fake.add_member(GROUP, OWNER, "Olive Owner", owner=True)
    fake.add_member(GROUP, STAFF, "Sam Staff")


async def record_team(platform: TeamsPlatform, fake: FakeTeams) -> None:
    await platform.directory.record_team(
        group_id=GROUP,
        tenant_id=fake.tenant_id,
        service_url=fake.service_url,
        installed=True,
        channels=[(LEADERS, "General")],
    )


@dataclass
class TeamsBed:
    ctx: Context
    platform: TeamsPlatform
    db: Database


@asynccontextmanager
async def teams_bed(
    fake: FakeTeams, url: str, clock: ManualClock, *, read_attempts: int = 2, **settings: Any
) -> AsyncIterator[TeamsBed]:
    """A Context on Teams over the database at `url`, closed on exit."""
    env = teams_env(fake) | {"DATABASE_URL": url} | settings
    config = make_settings(**env)
    async with AsyncExitStack() as stack:
        db = Database(url)
        stack.push_async_callback(db.dispose)
        await db.upgrade()
        client = await stack.enter_async_context(build_client())
        tokens = TokenProvider(
            client,
            login_url=config.teams_login_url,
            tenant_id=fake.tenant_id,
            app_id=fake.app_id,
            app_password=fake.app_password,
        )
        api = TeamsHttp(
            client,
            tokens,
            graph_url=config.teams_graph_url,
            sleep=no_wait,
            read_attempts=read_attempts,
        )
        platform = TeamsPlatform(
            api,
            TeamsDirectory(db),
            app_id=fake.app_id,
            tenant_id=fake.tenant_id,
            default_service_url=config.teams_service_url,
        )
        ctx = Context(
            settings=config,
            db=db,
            platforms=Platforms([platform]),
            questions=load_question_set(BUNDLED_PROMPTS),
            builders=CONTENT_BUILDERS,
            clock=clock,
        )
        yield TeamsBed(ctx, platform, db)
