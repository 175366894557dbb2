"""Where each Teams channel lives: its team's Entra group id, connector URL and tenant.

Teams says these only in activities (installationUpdate, conversationUpdate and every channel
message carry them), so they are recorded here as they come (`bot.store.models_teams`), and
read back for every post and Graph read. Until a team's own connector URL is known,
TEAMS_SERVICE_URL is used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select

from bot.store.db import Database
from bot.store.models_teams import TeamsChannel, TeamsTeam


@dataclass(frozen=True, slots=True)
class TeamFacts:
    group_id: str
    tenant_id: str
    service_url: str
    installed: bool
    thread_id: str | None = None
    name: str | None = None


def _facts(row: TeamsTeam) -> TeamFacts:
    return TeamFacts(
        group_id=row.group_id,
        tenant_id=row.tenant_id,
        service_url=row.service_url,
        installed=row.installed,
        thread_id=row.thread_id,
        name=row.name,
    )


class TeamsDirectory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record_team(
        self,
        *,
        group_id: str,
        tenant_id: str,
        service_url: str,
        thread_id: str | None = None,
        name: str | None = None,
        installed: bool | None = None,
        channels: Iterable[tuple[str, str | None]] = (),
    ) -> None:
        """Create or update a team and map channels to it. `installed` None: unchanged (a
        plain message says where the team is, not whether the app is still there); a new
        team learned from a message counts as installed, since the bot received it."""
        async with self.db.write() as session:
            team = await session.get(TeamsTeam, group_id)
            if team is None:
                team = TeamsTeam(
                    group_id=group_id,
                    tenant_id=tenant_id,
                    service_url=service_url,
                    installed=True if installed is None else installed,
                )
                session.add(team)
            else:
                team.tenant_id = tenant_id
                team.service_url = service_url
                if installed is not None:
                    team.installed = installed
            team.thread_id = thread_id or team.thread_id
            team.name = name or team.name
            await session.flush()
            for channel_id, channel_name in channels:
                row = await session.get(TeamsChannel, channel_id)
                if row is None:
                    session.add(
                        TeamsChannel(channel_id=channel_id, group_id=group_id, name=channel_name)
                    )
                else:
                    row.group_id = group_id
                    row.name = channel_name or row.name

    async def forget_channel(self, channel_id: str) -> None:
        async with self.db.write() as session:
            await session.execute(delete(TeamsChannel).where(TeamsChannel.channel_id == channel_id))

    async def forget_team(self, group_id: str) -> None:
        """The app left the team: drop it and its channels."""
        async with self.db.write() as session:
            await session.execute(delete(TeamsChannel).where(TeamsChannel.group_id == group_id))
            await session.execute(delete(TeamsTeam).where(TeamsTeam.group_id == group_id))

    async def team(self, group_id: str) -> TeamFacts | None:
        async with self.db.read() as session:
            row = await session.get(TeamsTeam, group_id)
        return None if row is None else _facts(row)

    async def team_of(self, channel_id: str) -> TeamFacts | None:
        """The team a channel belongs to, if the bot has heard of it."""
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(TeamsTeam)
                    .join(TeamsChannel, TeamsChannel.group_id == TeamsTeam.group_id)
                    .where(TeamsChannel.channel_id == channel_id)
                )
            ).scalar_one_or_none()
        return None if row is None else _facts(row)

    async def installed_teams(self) -> list[TeamFacts]:
        async with self.db.read() as session:
            rows = await session.scalars(select(TeamsTeam).where(TeamsTeam.installed))
            return [_facts(row) for row in rows.all()]

    async def channels_of(self, group_id: str) -> list[str]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(TeamsChannel.channel_id).where(TeamsChannel.group_id == group_id)
            )
            return list(rows.all())
