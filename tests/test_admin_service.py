"""The admin command service on its own (console platform, SQLite and PostgreSQL), the console's
`/leadership`, and `leaderbot audit` / `leaderbot admins`."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.domain.content import UserInfo
from bot.platforms.console.platform import ConsolePlatform
from bot.port import DeliveryUnknown
from bot.scheduling.jobs import tick
from bot.services import console_commands, quiet
from bot.services.admin import (
    ROLE_CACHE_TTL,
    Invocation,
    describe_change,
    run,
)
from bot.store.models import AuditEntry, BotAdmin, Channel, Post
from tests.platforms import only_platform

ME = "tester"  # the console user (make_context's ConsolePlatform): its admin


class ConsoleWithRoles(ConsolePlatform):
    """The console platform with a user directory that can be told to fail."""

    def __init__(self, roles: dict[str, UserInfo]) -> None:
        super().__init__(io.StringIO(), user=ME)
        self.roles = {ME: UserInfo(id=ME, display_name=ME, is_admin=True), **roles}
        self.lookups: list[str] = []
        self.failing = False

    async def user_info(self, user_id: str, *, channel_id: str | None = None) -> UserInfo:
        self.lookups.append(user_id)
        if self.failing:
            raise DeliveryUnknown("no answer from the directory")
        return self.roles.get(user_id) or UserInfo(id=user_id, display_name=user_id)


def inv(user: str = ME, channel: str = "general") -> Invocation:
    return Invocation(user_id=user, channel_id=channel, names_are_ids=True)


async def entries(ctx) -> list[AuditEntry]:
    async with ctx.db.read() as session:
        query = select(AuditEntry).order_by(AuditEntry.id)
        return list((await session.scalars(query)).all())


async def test_every_change_is_audited_with_before_and_after(database_url, make_context):
    ctx = await make_context(database_url)
    for text in (
        "schedule mon 09:00",
        "schedule tue 10:30 Europe/Dublin",
        "pause until 2026-02-01",
        "resume",
        "digest thu 17:00 #leaders",
        "alerts on",
        "ask Q2",
        "digest now",
        "admins add U0123ABCD",
        "admins remove U0123ABCD",
        "feeds add https://www.socitm.net/feed/",
        "feeds remove 1",
        "schedule off",
        "digest off",
    ):
        outcome = await run(ctx, text, inv())
        assert outcome.ok and outcome.changed, (text, outcome.text)
    log = await entries(ctx)
    assert [e.action for e in log] == [
        "question.schedule",
        "digest.schedule",  # the default Friday digest that comes with a first schedule
        "question.schedule",
        "question.pause",
        "question.resume",
        "digest.schedule",
        "alerts",
        "ask",
        "digest.now",
        "admins.add",
        "admins.remove",
        "feeds.add",
        "feeds.remove",
        "question.off",
        "digest.off",
    ]
    assert {e.actor for e in log} == {ME}
    second = log[2]
    assert (second.before["day"], second.after["day"]) == ("Monday", "Tuesday")
    assert describe_change(second.before, second.after) == (
        "day Monday → Tuesday; time 09:00 → 10:30; timezone Europe/London → Europe/Dublin"
    )
    assert (log[6].before, log[6].after) == ({"alerts_enabled": False}, {"alerts_enabled": True})


async def test_reading_changes_nothing_and_status_shows_the_last_five(database_url, make_context):
    ctx = await make_context(database_url)
    for hour in range(7):
        await run(ctx, f"schedule mon {hour + 8:02d}:00", inv())
    before = len(await entries(ctx))
    for text in ("help", "help digest", "status", "questions", "feeds", "admins"):
        outcome = await run(ctx, text, inv())
        assert outcome.ok and not outcome.changed and not outcome.posted, text
    assert len(await entries(ctx)) == before
    status = (await run(ctx, "status", inv())).text
    changes = status.split("Recent changes:")[1].strip().splitlines()
    assert len(changes) == 5
    assert "time 13:00 → 14:00" in changes[0]  # newest first


async def test_nothing_changes_when_nothing_would(database_url, make_context):
    ctx = await make_context(database_url)
    await run(ctx, "schedule mon 09:00", inv())
    count = len(await entries(ctx))
    assert "is not paused" in (await run(ctx, "resume", inv())).text
    assert "already off" in (await run(ctx, "alerts off", inv())).text
    await run(ctx, "schedule off", inv())
    assert "already off" in (await run(ctx, "schedule off", inv())).text
    assert len(await entries(ctx)) == count + 1


async def test_only_questions_and_digests_are_posted(database_url, make_context):
    ctx = await make_context(database_url)
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform)
    posted = [t for t in ("ask Q4", "digest now") if (await run(ctx, t, inv())).posted]
    assert posted == ["ask Q4", "digest now"]
    assert "Q4" in platform.messages["general"][0].text
    for text in ("status", "schedule mon 09:00", "alerts on", "help"):
        assert not (await run(ctx, text, inv())).posted


async def test_a_channel_name_needs_a_mention_on_slack_but_not_on_the_console(
    sqlite_url, make_context
):
    ctx = await make_context(sqlite_url)
    slack_like = Invocation(user_id=ME, channel_id="C1", names_are_ids=False)
    refused = await run(ctx, "schedule mon 09:00 #leaders", slack_like)
    assert not refused.ok and "I can't find `#leaders`" in refused.text
    assert (await run(ctx, "schedule mon 09:00 #leaders", inv())).ok
    async with ctx.db.read() as session:
        assert await session.get(Channel, "leaders") is not None


async def test_roles_are_cached_briefly_and_never_used_stale(sqlite_url, make_context, clock):
    boss = UserInfo(id="U0BOSS1", display_name="Boss", is_admin=True)
    platform = ConsoleWithRoles({"U0BOSS1": boss})
    ctx = await make_context(sqlite_url, platform=platform)
    assert (await run(ctx, "schedule mon 09:00", inv("U0BOSS1"))).ok
    assert (await run(ctx, "schedule tue 09:00", inv("U0BOSS1"))).ok
    assert platform.lookups == ["U0BOSS1"]  # one lookup for a burst of commands

    clock.advance(seconds=ROLE_CACHE_TTL.total_seconds() + 1)
    platform.failing = True
    refused = await run(ctx, "schedule wed 09:00", inv("U0BOSS1"))
    assert not refused.ok and "couldn't check your role in the workspace" in refused.text
    assert (await run(ctx, "status", inv("U0BOSS1"))).ok  # reading needs no lookup

    platform.failing = False
    platform.roles["U0BOSS1"] = UserInfo(id="U0BOSS1", display_name="Boss")  # demoted
    demoted = await run(ctx, "schedule wed 09:00", inv("U0BOSS1"))
    assert not demoted.ok and "Only workspace admins" in demoted.text


async def test_an_added_admin_can_change_settings_until_removed(sqlite_url, make_context, clock):
    platform = ConsoleWithRoles({})
    ctx = await make_context(sqlite_url, platform=platform)
    assert not (await run(ctx, "alerts on", inv("U0JANE01"))).ok
    assert (await run(ctx, "admins add U0JANE01", inv())).ok
    assert (await run(ctx, "alerts on", inv("U0JANE01"))).ok
    assert (await run(ctx, "admins remove U0JANE01", inv())).ok
    assert not (await run(ctx, "alerts off", inv("U0JANE01"))).ok


async def test_console_commands_go_through_the_same_code(sqlite_url, make_context):
    ctx = await make_context(sqlite_url)
    done = await console_commands.handle(ctx, "general", ME, "/leadership schedule mon 9am")
    assert done.startswith("Done: the weekly question in #general is Mondays at 09:00")
    status = await console_commands.handle(ctx, "general", ME, "/leadership status")
    assert "Weekly question: Mondays at 09:00 (Europe/London)." in status
    refused = await console_commands.handle(ctx, "general", "someone", "/leadership pause")
    assert "Only workspace admins" in refused
    assert "Try `/leadership schedule mon 09:00`" in await console_commands.handle(
        ctx, "general", ME, "/leadership schedule mon 9.75"
    )


def test_describe_change() -> None:
    assert describe_change(None, {"admin": "U1"}) == "(none) → admin U1"
    assert describe_change({"admin": "U1", "added_by": "cli"}, None, arrow="->") == (
        "admin U1, added_by cli -> (none)"
    )
    assert describe_change({"a": 1}, {"a": 1}) == "no change"
    assert describe_change({"alerts": False}, {"alerts": True}) == "alerts off → on"


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("LEADERBOT_ADMINS", "U0LISTED")

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return call


def test_cli_admins_and_audit(cli) -> None:
    assert cli("audit") == (0, "no changes recorded yet\n", "")
    code, out, _ = cli("admins", "add", "U0123ABCD")
    assert (code, out) == (0, "U0123ABCD can now change settings\n")
    assert cli("admins", "add", "<@U0123ABCD>")[1] == "U0123ABCD is already an admin\n"
    code, out, _ = cli("admins", "list")
    assert code == 0 and "LEADERBOT_ADMINS: U0LISTED" in out and "U0123ABCD  cli" in out
    assert cli("admins", "remove", "U0123ABCD")[:2] == (0, "U0123ABCD is no longer an admin\n")

    code, out, _ = cli("audit")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["WHEN", "WHO", "ACTION", "CHANNEL", "CHANGE"]
    assert "admins.remove" in lines[1] and "admin U0123ABCD, added_by cli -> (none)" in lines[1]
    assert "admins.add" in lines[2] and "(none) -> admin U0123ABCD" in lines[2]
    assert len(cli("audit", "--limit", "1")[1].splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("admins", "add", "jane"), "is not a person"),
        (("admins", "remove", "U0NOBODY1"), "is not an added admin"),
        (("admins", "remove", "U0LISTED"), "LEADERBOT_ADMINS"),
        (("audit", "--limit", "0"), "--limit must be 1 or more"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(cli, args, needle) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


async def test_bot_admin_rows_are_what_the_cli_and_slack_share(sqlite_url, make_context):
    ctx = await make_context(sqlite_url)
    await run(ctx, "admins add U0SHARED1", inv())
    async with ctx.db.read() as session:
        row = await session.get(BotAdmin, "U0SHARED1")
    assert row is not None and row.added_by == ME
    assert row.added_at == datetime(2026, 1, 14, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------- quiet periods in chat


async def test_an_admin_adds_a_quiet_period_in_chat_and_anyone_can_list_it(
    database_url, make_context
):
    ctx = await make_context(database_url)
    added = await run(
        ctx, "quiet add 2026-05-01 2026-05-08 questions,digests local elections", inv()
    )
    assert added.ok and added.changed, added.text
    assert "2026-05-01 to 2026-05-08 in #general, holding questions, digests" in added.text
    for text in (
        "quiet add 2026-04-01 2026-04-02 all",
        "quiet add 2026-06-01 2026-06-02 #leaders by-election",
    ):
        assert (await run(ctx, text, inv())).ok, text

    periods = await quiet.periods(ctx)
    assert [(p.channel_id, p.holds, p.reason) for p in periods] == [
        (None, ("questions", "digests", "alerts"), "pre-election period"),
        ("general", ("questions", "digests"), "local elections"),
        ("leaders", ("questions", "digests", "alerts"), "by-election"),
    ]
    log = await entries(ctx)
    assert [(e.action, e.actor, e.channel_id) for e in log] == [
        ("quiet.add", ME, "general"),
        ("quiet.add", ME, None),
        ("quiet.add", ME, "leaders"),
    ]
    assert log[0].after["reason"] == "local elections"

    # A member may read; this channel's periods and every channel's, not another channel's.
    listing = await run(ctx, "quiet", inv("someone"))
    assert listing.ok and not listing.changed
    assert "local elections" in listing.text and "every channel" in listing.text
    assert "by-election" not in listing.text
    assert "by-election" in (await run(ctx, "quiet #leaders", inv("someone"))).text


async def test_a_member_cannot_change_quiet_periods(sqlite_url, make_context):
    ctx = await make_context(sqlite_url)
    for text in ("quiet add 2026-05-01 2026-05-08", "quiet remove 1", "quiet release"):
        refused = await run(ctx, text, inv("someone"))
        assert not refused.ok and "Only workspace admins" in refused.text, text
    assert await quiet.periods(ctx) == [] and await entries(ctx) == []


async def test_quiet_remove_and_its_mistakes_say_what_to_type(sqlite_url, make_context):
    ctx = await make_context(sqlite_url)
    assert (await run(ctx, "quiet add 2026-05-01 2026-05-08", inv())).ok
    missing = await run(ctx, "quiet remove 9", inv())
    assert not missing.ok and "`/leadership quiet` lists them" in missing.text
    removed = await run(ctx, "quiet remove 1", inv())
    assert removed.ok and removed.changed and "2026-05-01 to 2026-05-08" in removed.text
    assert await quiet.periods(ctx) == []
    assert [e.action for e in await entries(ctx)] == ["quiet.add", "quiet.remove"]
    empty = await run(ctx, "quiet", inv())
    assert "No quiet periods to come" in empty.text and "`/leadership quiet add" in empty.text


async def test_quiet_release_sends_this_channels_held_digests(database_url, make_context, clock):
    ctx = await make_context(database_url)
    assert (await run(ctx, "schedule mon 09:00", inv())).ok  # with a Friday 16:00 digest
    assert (await run(ctx, "quiet add 2026-01-16 2026-01-16 digests", inv())).ok
    clock.set(datetime(2026, 1, 16, 16, 0, 30, tzinfo=UTC))  # Friday, in the period
    await tick(ctx)
    assert await post_statuses(ctx, "digest") == ["held"]

    clock.set(datetime(2026, 1, 19, 8, 0, tzinfo=UTC))  # after it
    released = await run(ctx, "quiet release", inv())
    assert released.ok and released.posted, released.text
    assert "Released 1 held digest(s) of #general: 1 sent" in released.text
    assert await post_statuses(ctx, "digest") == ["sent"]
    assert (await entries(ctx))[-1].action == "quiet.release"
    again = await run(ctx, "quiet release", inv())
    assert again.ok and not again.changed and "No held digests" in again.text


async def post_statuses(ctx, kind: str) -> list[str]:
    async with ctx.db.read() as session:
        query = select(Post.status).where(Post.kind == kind).order_by(Post.due_at)
        return list((await session.scalars(query)).all())
