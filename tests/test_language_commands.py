"""Setting a channel's language: `/leadership language cy|en|both` in Slack, `@leaderbot
language …` in Teams, typed on the console, and `leaderbot schedule … --language …`. Admins only,
audited; the reply is written in the language chosen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.runtime import open_context, serving
from bot.services.admin import Invocation, run
from bot.services.channels import language_of
from bot.services.inbound import Inbound
from bot.store.db import Database
from bot.store.models import AuditEntry
from tests.conftest import make_settings
from tests.fakes import eventually
from tests.fakes.teams_api import FakeTeams
from tests.slack_harness import MEMBER, Slack
from tests.slack_harness import slack as slack  # the running app: a shared fixture
from tests.teams_support import LEADERS, OWNER, STAFF, setup_team, teams_env

ME = "tester"  # the console user of make_context: an admin


def inv(user: str = ME, channel: str = "console") -> Invocation:
    return Invocation(user_id=user, channel_id=channel, names_are_ids=True)


async def audit(ctx) -> list[AuditEntry]:
    async with ctx.db.read() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


# ----------------------------------------------------------------------------- the service


async def test_an_admin_sets_welsh_and_is_answered_in_welsh(database_url, make_context) -> None:
    ctx = await make_context(database_url)

    done = await run(ctx, "language cy", inv())

    assert done.ok and done.changed
    assert "yn Gymraeg" in done.text and "English" not in done.text
    assert await language_of(ctx, "console") == "cy"
    [entry] = await audit(ctx)
    assert (entry.action, entry.actor, entry.channel_id) == ("language", ME, "console")
    assert (entry.before, entry.after) == ({"language": "en"}, {"language": "cy"})

    again = await run(ctx, "language welsh", inv())
    assert again.ok and not again.changed and "Dim newid" in again.text
    assert len(await audit(ctx)) == 1  # nothing changed, nothing recorded


async def test_both_is_answered_in_welsh_then_english(sqlite_url, make_context) -> None:
    ctx = await make_context(sqlite_url)
    done = await run(ctx, "language both", inv())
    assert done.text.index("yn Gymraeg, ac yna yn Saesneg") < done.text.index("Welsh, then English")
    back = await run(ctx, "language en", inv())
    assert "in English" in back.text and await language_of(ctx, "console") == "en"


async def test_a_member_cannot_change_the_language(sqlite_url, make_context) -> None:
    ctx = await make_context(sqlite_url)
    refused = await run(ctx, "language cy", inv("someone"))
    assert not refused.ok and "Only workspace admins" in refused.text
    assert await language_of(ctx, "console") == "en" and await audit(ctx) == []


async def test_a_wrong_language_says_what_to_type(sqlite_url, make_context) -> None:
    ctx = await make_context(sqlite_url)
    wrong = await run(ctx, "language french", inv())
    assert not wrong.ok and "`/leadership language cy`" in wrong.text
    assert await language_of(ctx, "console") == "en"


# ------------------------------------------------------------------------------- Slack


async def test_slack_slash_command_sets_the_language_of_the_channel(slack: Slack) -> None:
    refused = await slack.say("language cy", user=MEMBER)
    assert "Only workspace admins" in refused

    done = await slack.say("language both")
    assert "<#C1>" in done and "yn Gymraeg, ac yna yn Saesneg" in done
    assert await language_of(slack.ctx, "C1") == "both"

    asked = await slack.say("ask Q1")
    # The answer is in the channel's languages too: Welsh, then English.
    assert asked.startswith("Postiwyd Q1") and "\nPosted Q1" in asked
    [question] = slack.fake.messages("C1")
    text = " ".join(str(b) for b in question.blocks)
    assert text.index("Pa bartneriaethau") < text.index("Which partnerships")


# ------------------------------------------------------------------------------- Teams


@pytest.fixture
async def teams() -> AsyncIterator[FakeTeams]:
    async with FakeTeams() as fake:
        setup_team(fake)
        yield fake


async def test_teams_mention_sets_the_language_for_the_team_owner_only(
    teams: FakeTeams, tmp_path: Path
) -> None:
    from bot.platforms.teams.directory import TeamsDirectory
    from tests.teams_support import GROUP

    path = tmp_path / "bot.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.upgrade()
        await TeamsDirectory(database).record_team(
            group_id=GROUP,
            tenant_id=teams.tenant_id,
            service_url=teams.service_url,
            installed=True,
            channels=[(LEADERS, "General")],
        )
    finally:
        await database.dispose()
    settings = make_settings(**teams_env(teams), DATABASE_URL=f"sqlite+aiosqlite:///{path}")
    async with open_context(settings) as ctx:
        inbound = Inbound(ctx)
        try:
            async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
                url = f"http://127.0.0.1:{server.port}/api/messages"
                for who in (STAFF, OWNER):  # a member is refused; the team's owner is not
                    asked = teams.user_post(LEADERS, who, "language cy", mention_bot=True)
                    status, _ = await teams.send_activity(
                        url, teams.message_activity(LEADERS, asked)
                    )
                    assert status == 200

                    async def answered(asked: str = asked) -> bool:
                        return any(m.by_bot for m in teams.thread(LEADERS, asked))

                    await eventually(answered, within=15)
                    if who == STAFF:
                        assert await language_of(ctx, LEADERS) == "en"
        finally:
            await inbound.close()
        assert await language_of(ctx, LEADERS) == "cy"
        [entry] = await audit(ctx)
        assert (entry.action, entry.actor, entry.after) == ("language", OWNER, {"language": "cy"})


# --------------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "TEAMS_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_cli_schedule_language_alone_and_with_a_schedule(cli) -> None:
    code, out, err = cli("schedule", "--channel", "console", "--language", "cy")
    assert (code, out) == (0, "console is now written in Welsh\n"), err

    code, out, _ = cli(
        "schedule", "--channel", "console", "--day", "mon", "--time", "09:00", "--language", "both"
    )
    assert code == 0
    assert out.splitlines()[0] == "console is now written in Welsh, then English"
    assert "console question: Mondays at 09:00" in out

    code, out, _ = cli("audit")
    assert "language" in out and "cli" in out and "language cy -> both" in out

    code, out, _ = cli("digest", "--channel", "console", "--format", "html")
    assert code == 0 and '<html lang="cy">' in out
    assert out.index("Crynodeb arweinyddiaeth") < out.index("Leadership digest")


def test_cli_an_unknown_language_is_refused_with_exit_2(cli) -> None:
    with pytest.raises(SystemExit) as exited:
        cli("schedule", "--channel", "console", "--language", "fr")
    assert exited.value.code == 2


def test_cli_questions_in_welsh_and_both(cli) -> None:
    code, out, _ = cli("questions", "--language", "cy")
    assert code == 0 and "Pa bartneriaethau" in out and "Which partnerships" not in out
    code, out, _ = cli("questions", "--language", "both")
    assert out.index("Pa bartneriaethau") < out.index("Which partnerships")
    # Every bundled question has its Welsh.
    assert out.count("\nQ") + out.startswith("Q") == 10
