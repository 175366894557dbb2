"""FakeTeams for the benchmarks: a fixed latency on every call, and teams of channels set up
both in the fake and in the bot's directory (as their install activities would record them).

FakeTeams (tests/fakes/teams_api.py) has per-call Delay faults but no standing latency; this
subclass adds one without touching the test fake."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.platforms.teams.directory import TeamsDirectory
from bot.store.db import Database
from tests.fakes.teams_api import Call, FakeTeams, Handler


class LatentTeams(FakeTeams):
    """FakeTeams answering every request `latency` seconds late (tokens and Graph included)."""

    def __init__(self, *, latency: float = 0.05, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency = latency

    async def _respond(
        self, operation: str, request: web.Request, call: Call, handler: Handler
    ) -> web.Response | None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        return await super()._respond(operation, request, call, handler)


def teams_settings(fake: FakeTeams) -> dict[str, str]:
    return {
        "TEAMS_APP_ID": fake.app_id,
        "TEAMS_APP_PASSWORD": fake.app_password,
        "TEAMS_TENANT_ID": fake.tenant_id,
        "TEAMS_LOGIN_URL": fake.login_url,
        "TEAMS_OPENID_METADATA_URL": fake.openid_metadata_url,
        "TEAMS_SERVICE_URL": fake.service_url,
        "TEAMS_GRAPH_URL": fake.graph_url,
    }


def spread_channels(fake: FakeTeams, channels: int, teams: int) -> list[tuple[str, list[str]]]:
    """`channels` channels over `teams` installed teams (their General channels included):
    [(group id, [channel id, …]), …]."""
    placed: list[tuple[str, list[str]]] = []
    for t in range(teams):
        group = f"00000000-0000-0000-0000-{t:012d}"
        team = fake.add_team(group, f"Council {t}")
        placed.append((group, [team.thread_id]))
    for n in range(channels - teams):
        group, ids = placed[n % teams]
        ids.append(fake.add_channel(group, name=f"channel {n}").id)
    return placed


async def record_teams(db: Database, fake: FakeTeams, placed: list[tuple[str, list[str]]]) -> None:
    directory = TeamsDirectory(db)
    for group, ids in placed:
        await directory.record_team(
            group_id=group,
            tenant_id=fake.tenant_id,
            service_url=fake.service_url,
            installed=True,
            channels=[(cid, None) for cid in ids],
        )
