"""Two Slack workspaces installed on one deployment: each sees and changes only its own
schedules, replies, admins and audit, and uninstalling one purges it alone."""

from __future__ import annotations

import json
from argparse import Namespace
from typing import Any

from sqlalchemy import func, select

from bot.cli.admin import audit_log
from bot.domain.content import Notice
from bot.port import NOT_INSTALLED, PermanentFailure
from bot.services import quiet
from bot.services.feeds import admin as feed_admin
from bot.store.models import AuditEntry, BotAdmin, Channel, ChatUser, Post, Reply, Schedule
from bot.store.models_slack import SlackInstallation
from tests.fakes import eventually
from tests.oauth_harness import (
    A_ADMIN,
    A_MEMBER,
    B_ADMIN,
    B_MEMBER,
    CA,
    CB,
    TA,
    TB,
    Deployment,
    deployment,
)

ELSEWHERE = "is in another workspace"


async def _count(bot: Deployment, model: Any, *where: Any) -> int:
    async with bot.ctx.db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _set_up(bot: Deployment) -> None:
    """Both installed; in each, a schedule, a question with one reply, an added admin."""
    for team, admin, member, channel in ((TA, A_ADMIN, A_MEMBER, CA), (TB, B_ADMIN, B_MEMBER, CB)):
        assert (await bot.install(team, admin)).status == 200
        day = "mon" if team == TA else "tue"
        assert "Done" in await bot.say(
            f"schedule {day} 09:00", team=team, user=admin, channel=channel
        )
        asked = await bot.say("ask Q1", team=team, user=admin, channel=channel)
        assert "Posted" in asked or "posted" in asked, asked
        [question] = [m for m in bot.fake.messages(channel) if m.thread_ts is None]
        await bot.reply_in_thread(team, channel, question.ts, member)
        added = await bot.say(f"admins add <@{member}>", team=team, user=admin, channel=channel)
        assert "can now change" in added, added

    async def both_replies() -> bool:
        return await _count(bot, Reply) == 2

    await eventually(both_replies, within=10)


def _published_for(bot: Deployment, user: str) -> str:
    views = [v for v in bot.fake.views if v.get("user_id") == user]
    assert views, f"no Home tab published for {user}"
    return json.dumps(views[-1])


async def test_each_workspace_sees_only_its_own_schedules_replies_and_audit(
    make_context, database_url, capsys
) -> None:
    async with deployment(make_context, database_url) as bot:
        await _set_up(bot)

        # Status (schedule and audit) shows this workspace's channel and changes only.
        status_a = await bot.say("status", team=TA, user=A_ADMIN, channel=CA)
        assert "Mondays" in status_a and A_ADMIN in status_a
        assert B_ADMIN not in status_a and B_MEMBER not in status_a and CB not in status_a
        status_b = await bot.say("status", team=TB, user=B_ADMIN, channel=CB)
        assert "Tuesdays" in status_b and A_ADMIN not in status_b and A_MEMBER not in status_b

        # Naming another workspace's channel: refused, reading included, and nothing changes.
        for command in ("status", "schedule off", "digest now", "feeds", "ask Q2"):
            answer = await bot.say(f"{command} <#{CB}>", team=TA, user=A_ADMIN, channel=CA)
            assert ELSEWHERE in answer, (command, answer)
        async with bot.ctx.db.read() as session:
            schedule_b = await session.scalar(
                select(Schedule).where(Schedule.channel_id == CB, Schedule.kind == "question")
            )
        assert schedule_b is not None and schedule_b.enabled
        assert len([m for m in bot.fake.messages(CB) if not m.is_reply]) == 1

        # The digest of A's channel holds A's reply, never B's.
        assert "digest" in (await bot.say("digest now", team=TA, user=A_ADMIN, channel=CA)).lower()
        posted_a = json.dumps([m.blocks or m.text for m in bot.fake.messages(CA)])
        assert f"reply from {A_MEMBER}" in posted_a and f"reply from {B_MEMBER}" not in posted_a

        # Admins: each workspace lists its own; B's admin cannot remove A's.
        admins_b = await bot.say("admins", team=TB, user=B_ADMIN, channel=CB)
        assert B_MEMBER in admins_b and A_MEMBER not in admins_b
        refused = await bot.say(f"admins remove <@{A_MEMBER}>", team=TB, user=B_ADMIN, channel=CB)
        assert "nothing to remove" in refused
        assert await _count(bot, BotAdmin, BotAdmin.user_id == A_MEMBER) == 1

        # The App Home lists the workspace's own channels.
        assert (
            await bot.event(TB, {"type": "app_home_opened", "user": B_ADMIN, "tab": "home"}) == 200
        )

        async def home_published() -> bool:
            return any(v.get("user_id") == B_ADMIN for v in bot.fake.views)

        await eventually(home_published, within=10)
        home_b = _published_for(bot, B_ADMIN)
        assert CB in home_b and CA not in home_b

        # Every audit entry knows its workspace; the CLI still sees them all.
        async with bot.ctx.db.read() as session:
            entries = list(await session.scalars(select(AuditEntry)))
        assert {e.workspace_id for e in entries} == {TA, TB}
        assert all(e.workspace_id == (TA if e.actor == A_ADMIN else TB) for e in entries), [
            (e.actor, e.action, e.workspace_id) for e in entries
        ]
        capsys.readouterr()
        await audit_log(Namespace(limit=100, channel=None, workspace=None), bot.ctx)
        every = capsys.readouterr().out.splitlines()
        assert every[0].split()[:4] == ["WHEN", "WHO", "ACTION", "WORKSPACE"]
        assert any(TA in line for line in every) and any(TB in line for line in every)
        await audit_log(Namespace(limit=100, channel=None, workspace=TB), bot.ctx)
        only_b = capsys.readouterr().out.splitlines()[1:]
        assert only_b and all(B_ADMIN in line and CA not in line for line in only_b)


async def test_a_command_typed_in_a_channel_recorded_in_another_workspace_is_refused(
    make_context, database_url
) -> None:
    """A channel shared between workspaces belongs to the one that set it up: typed in from
    the other, reading and changing are refused alike."""
    async with deployment(make_context, database_url) as bot:
        for team, admin in ((TA, A_ADMIN), (TB, B_ADMIN)):
            assert (await bot.install(team, admin)).status == 200
        assert "Done" in await bot.say("schedule tue 09:00", team=TB, user=B_ADMIN, channel=CB)
        for command in ("status", "schedule mon 10:00", "pause"):
            answer = await bot.say(command, team=TA, user=A_ADMIN, channel=CB)
            assert ELSEWHERE in answer, (command, answer)
        async with bot.ctx.db.read() as session:
            schedule_b = await session.scalar(
                select(Schedule).where(Schedule.channel_id == CB, Schedule.kind == "question")
            )
        assert schedule_b is not None and schedule_b.weekday == 1 and schedule_b.enabled


async def test_uninstalling_one_workspace_leaves_the_other_intact(
    make_context, database_url
) -> None:
    async with deployment(make_context, database_url) as bot:
        await _set_up(bot)
        before_b = {
            "channels": await _count(bot, Channel, Channel.workspace_id == TB),
            "schedules": await _count(bot, Schedule, Schedule.channel_id == CB),
            "posts": await _count(bot, Post, Post.channel_id == CB),
            "replies": await _count(bot, Reply, Reply.channel_id == CB),
            "admins": await _count(bot, BotAdmin, BotAdmin.workspace_id == TB),
            "audit": await _count(bot, AuditEntry, AuditEntry.workspace_id == TB),
        }
        assert all(before_b.values()), before_b

        assert await bot.event(TA, {"type": "app_uninstalled"}) == 200

        async def a_is_gone() -> bool:
            return await _count(bot, SlackInstallation, SlackInstallation.team_id == TA) == 0

        await eventually(a_is_gone, within=10)
        assert await _count(bot, Channel, Channel.id == CA) == 0
        assert await _count(bot, Schedule, Schedule.channel_id == CA) == 0
        assert await _count(bot, Post, Post.channel_id == CA) == 0
        assert await _count(bot, Reply, Reply.channel_id == CA) == 0
        assert await _count(bot, BotAdmin, BotAdmin.workspace_id == TA) == 0
        assert await _count(bot, ChatUser, ChatUser.workspace_id == TA) == 0
        assert await _count(bot, AuditEntry, AuditEntry.workspace_id == TA) == 0
        assert await _count(bot, AuditEntry, AuditEntry.channel_id == CA) == 0

        after_b = {
            "channels": await _count(bot, Channel, Channel.workspace_id == TB),
            "schedules": await _count(bot, Schedule, Schedule.channel_id == CB),
            "posts": await _count(bot, Post, Post.channel_id == CB),
            "replies": await _count(bot, Reply, Reply.channel_id == CB),
            "admins": await _count(bot, BotAdmin, BotAdmin.workspace_id == TB),
            "audit": await _count(bot, AuditEntry, AuditEntry.workspace_id == TB),
        }
        assert after_b == before_b
        assert await _count(bot, SlackInstallation, SlackInstallation.team_id == TB) == 1

        # B carries on; nothing goes to A any more.
        assert "Q2" in await bot.say("ask Q2", team=TB, user=B_ADMIN, channel=CB)
        slack = bot.ctx.platform_for(CA)
        try:
            await slack.post(CA, Notice("after uninstall"), key="after-uninstall")
        except PermanentFailure as exc:
            assert exc.code == NOT_INSTALLED
        else:
            raise AssertionError("posted to an uninstalled workspace")


async def test_feeds_quiet_periods_and_digest_targets_stay_in_their_workspace(
    make_context, sqlite_url
) -> None:
    async with deployment(make_context, sqlite_url, LEADERBOT_ALLOW_PRIVATE_FEEDS=True) as bot:
        await _set_up(bot)
        added = await bot.say(
            "feeds add http://127.0.0.1:9/a.xml", team=TA, user=A_ADMIN, channel=CA
        )
        assert "Watching feed" in added, added
        [feed_a] = await feed_admin.list_feeds(bot.ctx)
        answer = await bot.say(f"feeds remove {feed_a.id}", team=TB, user=B_ADMIN, channel=CB)
        assert f"no feed {feed_a.id}" in answer
        # A feed for every channel is the operator's: no one workspace removes it.
        everyone = await feed_admin.add_feed(bot.ctx, "http://127.0.0.1:9/all.xml", actor="cli")
        answer = await bot.say(f"feeds remove {everyone.id}", team=TA, user=A_ADMIN, channel=CA)
        assert "only whoever runs leaderbot" in answer
        assert {f.id for f in await feed_admin.list_feeds(bot.ctx)} == {feed_a.id, everyone.id}

        # Quiet periods: none for every channel from one workspace; none of another's ended.
        answer = await bot.say(
            "quiet add 2026-02-02 2026-02-06 all", team=TA, user=A_ADMIN, channel=CA
        )
        assert "only whoever runs leaderbot" in answer
        answer = await bot.say("quiet add 2026-02-02 2026-02-06", team=TA, user=A_ADMIN, channel=CA)
        [period] = await quiet.periods(bot.ctx)
        assert period.channel_id == CA, answer
        answer = await bot.say(f"quiet remove {period.id}", team=TB, user=B_ADMIN, channel=CB)
        assert f"no quiet period {period.id}" in answer
        assert [p.id for p in await quiet.periods(bot.ctx)] == [period.id]

        # A digest is delivered in its own workspace only.
        answer = await bot.say(f"digest fri 16:00 <#{CB}>", team=TA, user=A_ADMIN, channel=CA)
        assert ELSEWHERE in answer
        async with bot.ctx.db.read() as session:
            digest = await session.scalar(
                select(Schedule).where(Schedule.channel_id == CA, Schedule.kind == "digest")
            )
        assert digest is None or digest.target_channel_id in (None, CA)
