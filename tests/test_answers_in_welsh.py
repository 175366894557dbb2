"""Command answers in the language of the channel they are typed in: help, refusals, parse
errors with their suggestion, schedule changes and the App Home, as the console printed them,
as the fake Slack received them (response_url, views.publish, the modal's inline errors) and
as the fake Teams received them (the answer card). A `cy` channel reads Welsh only; `both`
reads the Welsh, then the English; an `en` channel reads exactly what it read before."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.help_text import help_text
from bot.platforms.console.platform import ConsolePlatform
from bot.platforms.console.session import handle_line
from bot.platforms.slack.listeners.home import OPEN_SCHEDULE
from bot.platforms.teams.directory import TeamsDirectory
from bot.runtime import open_context, serving
from bot.services.channels import set_language
from bot.services.context import Context
from bot.services.inbound import Inbound
from bot.store.db import Database
from tests.conftest import make_settings
from tests.fakes import eventually
from tests.fakes.signing import interactivity_body
from tests.fakes.teams_api import FakeTeams
from tests.platforms import only_platform
from tests.slack_harness import ADMIN, MEMBER, Slack
from tests.slack_harness import slack as slack  # the running app: a shared fixture
from tests.teams_support import GROUP, LEADERS, STAFF, setup_team, teams_env
from tests.test_app_home import FORM, click, next_view, open_home, picked, post_json, text_of, typed

CONSOLE = "console"


async def printed(ctx: Context, *lines: str) -> str:
    """What the console printed for the lines typed."""
    platform = only_platform(ctx)
    assert isinstance(platform, ConsolePlatform) and isinstance(platform.out, io.StringIO)
    start = len(platform.out.getvalue())
    for line in lines:
        assert await handle_line(ctx, platform, line, CONSOLE)
    return platform.out.getvalue()[start:]


async def console_in(make_context: Any, url: str, language: str) -> Context:
    ctx = await make_context(url)
    await set_language(ctx, CONSOLE, language, actor="test")  # type: ignore[arg-type]
    return ctx


# ------------------------------------------------------------------------------- console


async def test_help_in_a_welsh_channel_is_welsh(sqlite_url: str, make_context: Any) -> None:
    ctx = await console_in(make_context, sqlite_url, "cy")

    out = await printed(ctx, "/leadership help")

    assert "/leadership: y cwestiwn arweinyddiaeth wythnosol ar gyfer y sianel hon." in out
    assert "Gall unrhyw un ddefnyddio:" in out
    assert "Gweinyddwyr yn unig (mae /leadership admins yn eu rhestru):" in out
    assert "  schedule DIWRNOD AMSER [PARTH]\n" in out
    assert (
        "Postio cwestiwn bob wythnos ar y diwrnod a'r amser hwn. "
        "Enghraifft: /leadership schedule mon 09:00 Europe/London"
    ) in out
    assert "Anyone can use" not in out and "Example:" not in out


async def test_help_on_one_command_in_both_is_welsh_then_the_same_english(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await console_in(make_context, sqlite_url, "both")

    out = await printed(ctx, "/leadership help pause")

    welsh, english = out.rstrip("\n").split("\n\n")
    assert "Hepgor y cwestiwn wythnosol tan y dyddiad hwnnw" in welsh
    # The English half is the English channel's answer, byte for byte.
    assert english == help_text("pause", today=ctx.clock().date())


async def test_a_schedule_change_is_answered_in_welsh(sqlite_url: str, make_context: Any) -> None:
    ctx = await console_in(make_context, sqlite_url, "cy")

    out = await printed(ctx, "/leadership schedule mon 09:00")

    # The test clock is Wednesday 14 January 2026: the next Monday is the 19th.
    assert out == (
        "Wedi'i wneud: bydd y cwestiwn wythnosol yn #console bob dydd Llun am 09:00 "
        "(Europe/London). Nesaf: Llun 19 Ion 2026, 09:00 GMT. Mae ei grynodeb yn mynd allan "
        "bob dydd Gwener am 16:00; mae `/leadership digest DAY TIME` yn newid hynny.\n"
    )

    paused = await printed(ctx, "/leadership pause until 2026-02-02")
    assert paused.startswith(
        "Wedi oedi: dim cwestiwn wythnosol yn #console cyn dydd Llun 2 Chwefror 2026."
    )


async def test_a_schedule_change_in_both_is_welsh_then_english(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await console_in(make_context, sqlite_url, "both")

    out = await printed(ctx, "/leadership schedule tue 10:30")

    welsh, english = out.rstrip("\n").split("\n")
    assert welsh.startswith("Wedi'i wneud: bydd y cwestiwn wythnosol yn #console bob dydd Mawrth")
    assert english.startswith(
        "Done: the weekly question in #console is Tuesdays at 10:30 (Europe/London). "
        "Next: Tue 20 Jan 2026, 10:30 GMT."
    )


async def test_a_typo_is_answered_in_welsh_with_the_suggestion(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await console_in(make_context, sqlite_url, "cy")

    unknown = await printed(ctx, "/leadership shedule mon 09:00")
    day = await printed(ctx, "/leadership schedule mnday 09:00")

    assert unknown == (
        "Nid wyf yn adnabod `shedule`. Ai `schedule` oedd gennych chi mewn golwg? "
        "Rhowch gynnig ar `/leadership help`.\n"
    )
    assert day == (
        "Nid yw `mnday` yn ddiwrnod rwy'n ei adnabod. Ai `Monday` oedd gennych chi mewn golwg? "
        "Rhowch gynnig ar `/leadership schedule mon 09:00`.\n"
    )


async def test_an_english_channel_reads_what_it_read_before(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await make_context(sqlite_url)
    out = await printed(ctx, "/leadership shedule mon 09:00", "/leadership schedule mnday 09:00")
    assert out == (
        "I don't know `shedule`. Did you mean `schedule`? Try `/leadership help`.\n"
        "`mnday` is not a day I know. Did you mean `Monday`? "
        "Try `/leadership schedule mon 09:00`.\n"
    )


# --------------------------------------------------------------------------------- Slack


async def test_slack_a_member_is_refused_in_welsh_and_the_setting_is_unchanged(
    slack: Slack,
) -> None:
    await set_language(slack.ctx, "C1", "cy", actor="test")

    refused = await slack.say("schedule mon 09:00", user=MEMBER)

    assert refused.startswith(
        "Dim ond gweinyddwyr a pherchnogion y gweithle, a phobl a ychwanegwyd fel gweinyddwyr "
        "leaderbot, sy'n gallu newid gosodiadau."
    )
    assert "Only workspace admins" not in refused
    status = await slack.say("status", user=MEMBER)  # nothing was set
    assert "Cwestiwn wythnosol: heb ei osod." in status


async def test_slack_answers_follow_the_language_of_the_channel_typed_in(slack: Slack) -> None:
    await set_language(slack.ctx, "C1", "both", actor="test")

    welsh_first = await slack.say("help", channel="C1")
    english = await slack.say("help", channel="C2")  # C2 is still English

    assert welsh_first.index("Gall unrhyw un ddefnyddio:") < welsh_first.index("Anyone can use:")
    assert welsh_first.endswith(english)
    assert "Gall unrhyw un" not in english


async def test_slack_app_home_and_its_modal_errors_are_welsh(slack: Slack) -> None:
    await set_language(slack.ctx, "C1", "cy", actor="test")
    assert (await slack.say("schedule mon 09:00")).startswith("Wedi'i wneud")

    view = (await open_home(slack, ADMIN))["view"]
    home = text_of(view)

    assert "Bob wythnos rwy'n postio un o gwestiynau allweddol Socitm" in home
    assert "Gallwch newid y gosodiadau hyn (gweinyddwr y gweithle)." in home
    assert "Cwestiwn wythnosol: bob dydd Llun am 09:00 (Europe/London)." in home
    assert "Newid yr amserlen" in home and "Sefydlu sianel" in home
    assert "Each week I post" not in home and "Change schedule" not in home
    labels = [
        e["accessibility_label"]
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert "Newid amserlen cwestiwn wythnosol #leadership" in labels

    # The modal is written in the channel's language and remembers it: a bad time is refused
    # inline, in Welsh.
    seen = len(slack.fake.views)
    status, _ = await click(slack, ADMIN, OPEN_SCHEDULE, "C1")
    assert status == 200
    modal = (await next_view(slack, seen, "open"))["view"]
    assert modal["title"]["text"] == "Cwestiwn wythnosol"
    assert (modal["submit"]["text"], modal["close"]["text"]) == ("Cadw", "Canslo")
    fields = {b["block_id"]: b for b in modal["blocks"] if b["type"] == "input"}
    assert fields["day"]["label"]["text"] == "Diwrnod"
    assert fields["day"]["element"]["initial_option"]["text"]["text"] == "Dydd Llun"
    status, answer = await submit_view(
        slack,
        modal,
        {"day": picked("mon"), "time": typed("25:00"), "zone": typed("Europe/London")},
    )
    assert status == 200 and answer is not None
    assert answer["errors"] == {
        "time": "Mae 25:00 ar ôl 23:59: defnyddiwch e.e. 09:00, 17.30 neu 9:30am."
    }


async def submit_view(
    slack: Slack, modal: dict[str, Any], values: dict[str, Any]
) -> tuple[int, dict[str, Any] | None]:
    """Submit a modal as Slack sends it back: with the private_metadata it was opened with."""
    payload = {
        "type": "view_submission",
        "team": {"id": "T0FAKE"},
        "user": {"id": ADMIN, "team_id": "T0FAKE"},
        "api_app_id": "AFAKE",
        "trigger_id": "trigger.submit",
        "view": {**modal, "id": "VMODAL", "state": {"values": values}},
    }
    status, text = await post_json(slack, interactivity_body(payload), FORM)
    return status, (json.loads(text) if text else None)


# --------------------------------------------------------------------------------- Teams


@pytest.fixture
async def teams() -> AsyncIterator[FakeTeams]:
    async with FakeTeams() as fake:
        setup_team(fake)
        yield fake


async def test_teams_a_welsh_channels_refusal_card_is_welsh(
    teams: FakeTeams, tmp_path: Path
) -> None:
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
        await set_language(ctx, LEADERS, "cy", actor="test")
        inbound = Inbound(ctx)
        try:
            async with serving(ctx, inbound, host="127.0.0.1", port=0) as server:
                url = f"http://127.0.0.1:{server.port}/api/messages"
                asked = teams.user_post(LEADERS, STAFF, "schedule mon 09:00", mention_bot=True)
                status, _ = await teams.send_activity(url, teams.message_activity(LEADERS, asked))
                assert status == 200

                async def answered() -> bool:
                    return any(m.by_bot for m in teams.thread(LEADERS, asked))

                await eventually(answered, within=15)
        finally:
            await inbound.close()
    [answer] = [m for m in teams.thread(LEADERS, asked) if m.by_bot]
    card = json.dumps(answer.attachments, ensure_ascii=False)
    assert "Dim ond gweinyddwyr a pherchnogion y gweithle" in card
    assert "@leaderbot admins" in card  # the command as typed in Teams
    assert "Only workspace admins" not in card


async def test_feed_quiet_and_admin_answers_are_welsh(sqlite_url: str, make_context: Any) -> None:
    ctx = await console_in(make_context, sqlite_url, "cy")

    no_feed = await printed(ctx, "/leadership feeds remove 99")
    quiet = await printed(ctx, "/leadership quiet")
    admins = await printed(ctx, "/leadership admins")

    assert no_feed == "Does dim ffrwd 99: mae `/leadership feeds` yn eu rhestru.\n"
    assert quiet.startswith("Dim cyfnodau tawel i ddod ar gyfer #console.")
    assert admins.startswith(
        "Gall gweinyddwyr a pherchnogion y gweithle newid gosodiadau leaderbot bob amser."
    )


async def test_the_console_itself_speaks_its_channels_language(
    sqlite_url: str, make_context: Any
) -> None:
    ctx = await console_in(make_context, sqlite_url, "cy")

    before = await printed(ctx, "hello")
    unknown = await printed(ctx, "/frob")

    assert before == "Does dim cwestiwn wedi'i bostio eto: teipiwch `/ask` i bostio un nawr.\n"
    assert unknown.startswith("Gorchymyn anhysbys /frob. Teipiwch ateb i'r cwestiwn diweddaraf")


async def test_status_in_a_welsh_channel_is_welsh(sqlite_url: str, make_context: Any) -> None:
    ctx = await console_in(make_context, sqlite_url, "cy")
    await printed(ctx, "/leadership schedule mon 09:00")

    status = await printed(ctx, "/leadership status")

    assert status.startswith(
        "leaderbot yn #console\n"
        "Cwestiwn wythnosol: bob dydd Llun am 09:00 (Europe/London).\n"
        "Y neges nesaf: Llun 19 Ion 2026, 09:00 GMT.\n"
        "Y cwestiwn diwethaf: dim eto.\n"
    )
    assert "Rhybuddion am adroddiadau newydd gan Socitm: i ffwrdd." in status
    # The date in Welsh; the audit record's own words as recorded.
    assert "Newidiadau diweddar:\n• 14 Ion 12:00 UTC · tester · digest.schedule:" in status
    assert "• 14 Ion 12:00 UTC · test · language: language en → cy" in status
