"""POST /api/messages against FakeTeams: tokens, activities -> stored replies, installs,
uninstalls, @mention commands. Real HTTP both ways (the fake POSTs to the bot's route)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.domain.clock import ManualClock
from bot.platforms.teams.auth import BotFrameworkAuth
from bot.platforms.teams.inbound import MESSAGES_PATH, TeamsInbound
from bot.services.ask import ask_and_deliver
from bot.services.collect import reconcile_thread
from bot.services.inbound import Inbound
from bot.store.models import BotAdmin, Channel, Post, Reply, Schedule
from bot.store.models_teams import TeamsChannel, TeamsTeam
from tests.fakes.teams_api import FakeTeams
from tests.teams_support import (
    GROUP,
    LEADERS,
    OWNER,
    STAFF,
    TeamsBed,
    real_now_clock,
    setup_team,
    teams_bed,
)


@pytest.fixture
def clock() -> ManualClock:
    return real_now_clock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    async with FakeTeams() as teams:
        setup_team(teams)
        teams.add_channel(GROUP, "19:feedfeedfeedfeedfeedfeedfeedfeed@thread.tacv2", "Ideas")
        yield teams


@dataclass
class Bot:
    bed: TeamsBed
    inbound: Inbound
    handler: TeamsInbound
    url: str

    async def settle(self) -> None:
        """Every command answered and every queued reply written."""
        await self.handler.idle()
        await self.inbound.writer.drain()


@asynccontextmanager
async def running_bot(
    fake: FakeTeams, url: str, clock: ManualClock, **settings: Any
) -> AsyncIterator[Bot]:
    """The bot's /api/messages on 127.0.0.1, port 0, over a Context on Teams."""
    async with teams_bed(fake, url, clock, **settings) as bed:
        inbound = Inbound(bed.ctx)
        auth = BotFrameworkAuth(
            bed.platform.api.client, metadata_url=fake.openid_metadata_url, app_id=fake.app_id
        )
        handler = TeamsInbound(bed.ctx, inbound, bed.platform, auth)
        await handler.start()
        app = web.Application()
        handler.routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield Bot(bed, inbound, handler, f"http://127.0.0.1:{port}{MESSAGES_PATH}")
        finally:
            await handler.stop()
            await inbound.close()
            await runner.cleanup()


@pytest.fixture
async def bot(fake: FakeTeams, sqlite_url: str, clock: ManualClock) -> AsyncIterator[Bot]:
    async with running_bot(fake, sqlite_url, clock) as running:
        yield running


async def install(fake: FakeTeams, bot: Bot) -> None:
    status, _ = await fake.send_activity(bot.url, fake.installation_activity(GROUP, "add"))
    assert status == 200


async def replies(bot: Bot) -> dict[str, Reply]:
    await bot.settle()
    async with bot.bed.db.read() as session:
        return {r.message_id: r for r in (await session.scalars(select(Reply))).all()}


async def count(bot: Bot, model: type) -> int:
    async with bot.bed.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def question(fake: FakeTeams, bot: Bot) -> str:
    await install(fake, bot)
    result = await ask_and_deliver(bot.bed.ctx, LEADERS, "Q2")
    assert result.delivered and result.post.message_id
    return result.post.message_id


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize(
    "token_kwargs",
    [
        {"signed_by": "stranger"},
        {"expires_in": -3600},
        {"audience": "someone-else"},
        {"issuer": "https://evil.example"},
        {"service_url": "https://evil.example/teams/"},
    ],
    ids=["forged", "expired", "wrong-audience", "wrong-issuer", "wrong-serviceurl"],
)
async def test_a_bad_token_is_refused_and_touches_nothing(
    fake: FakeTeams, bot: Bot, token_kwargs: dict
) -> None:
    root = await question(fake, bot)
    reply = fake.user_reply(LEADERS, root, STAFF, "my answer")
    token = fake.inbound_token(**token_kwargs)

    status, _ = await fake.send_activity(
        bot.url, fake.message_activity(LEADERS, reply), token=token
    )
    uninstall = fake.installation_activity(GROUP, "remove")
    status_2, _ = await fake.send_activity(bot.url, uninstall, token=token)

    assert (status, status_2) == (401, 401)
    assert await replies(bot) == {}
    assert await count(bot, TeamsTeam) == 1  # the uninstall did nothing


async def test_no_token_is_refused(fake: FakeTeams, bot: Bot) -> None:
    status, _ = await fake.send_activity(
        bot.url, fake.installation_activity(GROUP, "add"), token=None
    )
    assert status == 401
    assert await count(bot, TeamsTeam) == 0


async def test_bad_json_and_bad_activities_are_400(fake: FakeTeams, bot: Bot) -> None:
    token = fake.inbound_token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(bot.url, data=b"{not json", headers=headers) as response,
    ):
        assert response.status == 400
    activity = fake.installation_activity(GROUP, "add")
    del activity["channelData"]["team"]["aadGroupId"]
    status, _ = await fake.send_activity(bot.url, activity)
    assert status == 400
    assert await count(bot, TeamsTeam) == 0


# --------------------------------------------------------------------------- install


async def test_install_records_the_team_and_its_channels(fake: FakeTeams, bot: Bot) -> None:
    await install(fake, bot)

    team = await bot.bed.platform.directory.team(GROUP)
    assert team is not None and team.installed and team.service_url == fake.service_url
    channels = set(await bot.bed.platform.directory.channels_of(GROUP))
    assert channels == set(fake.teams[GROUP].channels)  # General and Ideas, through Graph
    async with bot.bed.db.read() as session:
        core = set((await session.scalars(select(Channel.id))).all())
    assert core == channels


async def test_the_bot_joining_a_team_installs_it_too(fake: FakeTeams, bot: Bot) -> None:
    activity = fake.conversation_update_activity(GROUP, "teamMemberAdded")
    status, _ = await fake.send_activity(bot.url, activity)
    assert status == 200
    assert await bot.bed.platform.directory.team_of(LEADERS) is not None


# --------------------------------------------------------------------------- replies


async def test_replies_edits_deletions_and_bots(fake: FakeTeams, bot: Bot) -> None:
    root = await question(fake, bot)
    first = fake.user_reply(LEADERS, root, STAFF, "Fewer <b>meetings</b> & more doing")
    second = fake.user_reply(LEADERS, root, OWNER, "to be deleted")
    top_level = fake.user_post(LEADERS, STAFF, "not a reply")

    for message_id in (first, first, second, top_level):  # `first` twice: a duplicate
        status, _ = await fake.send_activity(bot.url, fake.message_activity(LEADERS, message_id))
        assert status == 200
    stored = await replies(bot)
    assert set(stored) == {first, second}
    assert stored[first].text == "Fewer <b>meetings</b> & more doing"  # as typed
    assert stored[first].user_id == STAFF and stored[first].workspace_id == GROUP
    assert stored[first].thread_id == root

    fake.user_edit(LEADERS, first, "Fewer meetings, more doing")
    await fake.send_activity(bot.url, fake.edit_activity(LEADERS, first))
    fake.user_delete(LEADERS, second)
    await fake.send_activity(bot.url, fake.delete_activity(LEADERS, second))
    stored = await replies(bot)
    assert set(stored) == {first}
    assert stored[first].text == "Fewer meetings, more doing" and stored[first].edited

    # The bot's own message in the thread (a nudge) is not a reply.
    bot_activity = fake.message_activity(LEADERS, first)
    bot_activity["id"] = "99999999999"
    bot_activity["from"] = {"id": f"28:{fake.app_id}", "name": "leaderbot"}
    await fake.send_activity(bot.url, bot_activity)
    assert set(await replies(bot)) == {first}


async def test_an_undeleted_reply_is_back_in_the_digest(fake: FakeTeams, bot: Bot) -> None:
    root = await question(fake, bot)
    reply = fake.user_reply(LEADERS, root, STAFF, "back again")
    await fake.send_activity(bot.url, fake.message_activity(LEADERS, reply))
    fake.user_delete(LEADERS, reply)
    await fake.send_activity(bot.url, fake.delete_activity(LEADERS, reply))
    fake.user_undelete(LEADERS, reply)

    status, _ = await fake.send_activity(bot.url, fake.undelete_activity(LEADERS, reply))

    assert status == 200
    stored = await replies(bot)
    assert set(stored) == {reply} and stored[reply].text == "back again"
    # A late copy of the deletion's original event does not undo the undelete either way;
    # a second deletion deletes it again.
    fake.user_delete(LEADERS, reply)
    await fake.send_activity(bot.url, fake.delete_activity(LEADERS, reply))
    assert await replies(bot) == {}


async def test_a_lost_reply_is_found_by_reconciliation(fake: FakeTeams, bot: Bot) -> None:
    root = await question(fake, bot)
    heard = fake.user_reply(LEADERS, root, STAFF, "heard")
    lost = fake.user_reply(LEADERS, root, OWNER, "never delivered to the bot")
    await fake.send_activity(bot.url, fake.message_activity(LEADERS, heard))
    assert set(await replies(bot)) == {heard}
    async with bot.bed.db.read() as session:
        post = (await session.scalars(select(Post).where(Post.message_id == root))).one()

    result = await reconcile_thread(bot.bed.ctx, post)

    assert result.added == 1
    stored = await replies(bot)
    assert set(stored) == {heard, lost}
    assert stored[lost].text == "never delivered to the bot" and stored[lost].user_id == OWNER


# --------------------------------------------------------------------------- commands


async def command(fake: FakeTeams, bot: Bot, user: str, text: str) -> str:
    """Post "@leaderbot <text>" as `user`; returns the text of the bot's answer in the thread."""
    message_id = fake.user_post(LEADERS, user, text, mention_bot=True)
    status, _ = await fake.send_activity(bot.url, fake.message_activity(LEADERS, message_id))
    assert status == 200
    await bot.settle()
    answers = [m for m in fake.thread(LEADERS, message_id) if m.by_bot]
    assert len(answers) == 1, "one answer, in the command's thread"
    return json.dumps(answers[0].attachments[0]["content"])


async def question_schedules(bot: Bot) -> int:
    async with bot.bed.db.read() as session:
        query = select(func.count()).select_from(Schedule).where(Schedule.kind == "question")
        return int(await session.scalar(query) or 0)


async def test_a_member_cannot_change_settings(fake: FakeTeams, bot: Bot) -> None:
    await install(fake, bot)

    answer = await command(fake, bot, STAFF, "schedule mon 09:00")

    assert "Only" in answer or "can't" in answer
    assert await question_schedules(bot) == 0


async def test_a_team_owner_can(fake: FakeTeams, bot: Bot) -> None:
    await install(fake, bot)

    answer = await command(fake, bot, OWNER, "schedule mon 09:00")

    assert await question_schedules(bot) == 1, answer


async def test_reading_is_open_to_members(fake: FakeTeams, bot: Bot) -> None:
    await install(fake, bot)

    answer = await command(fake, bot, STAFF, "questions")

    assert "Q1" in answer and "Q10" in answer


async def test_leaderbot_admins_may_change_settings(
    fake: FakeTeams, sqlite_url: str, clock: ManualClock
) -> None:
    async with running_bot(fake, sqlite_url, clock, LEADERBOT_ADMINS=STAFF) as listed:
        await install(fake, listed)

        answer = await command(fake, listed, STAFF, "schedule tue 10:00")

        assert await question_schedules(listed) == 1, answer


# --------------------------------------------------------------------------- uninstall


async def test_uninstall_purges_the_team(fake: FakeTeams, bot: Bot) -> None:
    root = await question(fake, bot)
    reply = fake.user_reply(LEADERS, root, STAFF, "an answer")
    await fake.send_activity(bot.url, fake.message_activity(LEADERS, reply))
    assert len(await replies(bot)) == 1

    fake.uninstall(GROUP)
    status, _ = await fake.send_activity(bot.url, fake.installation_activity(GROUP, "remove"))
    await bot.settle()

    assert status == 200
    assert await replies(bot) == {}
    for model in (Post, Channel, TeamsTeam, TeamsChannel):
        assert await count(bot, model) == 0, model.__name__
    assert await bot.bed.platform.directory.team_of(LEADERS) is None


async def test_team_deleted_purges_too(fake: FakeTeams, bot: Bot) -> None:
    await question(fake, bot)
    status, _ = await fake.send_activity(
        bot.url, fake.conversation_update_activity(GROUP, "teamDeleted")
    )
    await bot.settle()
    assert status == 200
    assert await count(bot, Post) == 0 and await count(bot, TeamsTeam) == 0


async def test_a_mentioned_person_is_named_by_their_entra_id_and_answers_say_at_leaderbot(
    fake: FakeTeams, bot: Bot
) -> None:
    await install(fake, bot)
    message_id = fake.user_post(LEADERS, OWNER, "admins add", mention_bot=True)
    activity = fake.message_activity(LEADERS, message_id)
    # Teams sends a person picked after "@" as an <at> element and a mention entity.
    activity["text"] += " <at>Jane Staff</at>"
    activity["entities"].append(
        {
            "type": "mention",
            "text": "<at>Jane Staff</at>",
            "mentioned": {"id": "29:1jane", "name": "Jane Staff", "aadObjectId": STAFF},
        }
    )
    status, _ = await fake.send_activity(bot.url, activity)
    assert status == 200
    await bot.settle()

    async with bot.bed.db.read() as session:
        added = set((await session.scalars(select(BotAdmin.user_id))).all())
    assert added == {STAFF}
    answer = await command(fake, bot, STAFF, "help")
    assert "@leaderbot " in answer and "/leadership" not in answer


async def test_an_owner_of_one_team_cannot_change_another_teams_channel(
    fake: FakeTeams, bot: Bot
) -> None:
    other_group = "99999999-2222-3333-4444-555555555555"
    other_channel = "19:fedcba9876543210fedcba9876543210@thread.tacv2"
    fake.add_team(other_group, "Another council team", general_channel_id=other_channel)
    fake.add_member(other_group, OWNER, "Owner Elsewhere", owner=False)
    fake.add_member(other_group, STAFF, "Staff Elsewhere", owner=True)
    await install(fake, bot)
    status, _ = await fake.send_activity(bot.url, fake.installation_activity(other_group, "add"))
    assert status == 200

    # Owner of the leaders' team: allowed there; a moment later, as a plain member of the
    # other team, refused there (no standing is reused across teams).
    await command(fake, bot, OWNER, "schedule mon 09:00")
    assert await question_schedules(bot) == 1
    message_id = fake.user_post(other_channel, OWNER, "schedule tue 10:00", mention_bot=True)
    status, _ = await fake.send_activity(bot.url, fake.message_activity(other_channel, message_id))
    assert status == 200
    await bot.settle()
    assert await question_schedules(bot) == 1
