"""Teams settings, the runtime's adapter table, and `leaderbot teams package`."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from bot.cli import main
from bot.runtime import ADAPTERS
from tests.conftest import make_settings

APP_ID = "00000000-0000-0000-0000-00000000b07a"
FULL = {
    "TEAMS_APP_ID": APP_ID,
    "TEAMS_APP_PASSWORD": "s3cret-value",
    "TEAMS_TENANT_ID": "00000000-0000-0000-0000-0000000c0c11",
}


def test_teams_needs_all_three_credentials() -> None:
    assert make_settings(**FULL).teams_configured
    assert not make_settings().teams_configured
    with pytest.raises(ValidationError) as caught:
        make_settings(TEAMS_APP_ID=APP_ID)
    message = str(caught.value)
    assert "TEAMS_APP_PASSWORD" in message and "TEAMS_TENANT_ID" in message


def test_the_secret_never_shows() -> None:
    settings = make_settings(**FULL)
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings)


def test_defaults_and_trailing_slashes() -> None:
    settings = make_settings(**FULL, TEAMS_SERVICE_URL="http://127.0.0.1:9/connector")
    assert settings.teams_service_url == "http://127.0.0.1:9/connector/"
    assert settings.teams_graph_url == "https://graph.microsoft.com/v1.0/"
    assert settings.teams_login_url == "https://login.microsoftonline.com"


def test_teams_is_in_the_adapter_table() -> None:
    teams = next(a for a in ADAPTERS if a.name == "teams")
    assert teams.configured(make_settings(**FULL))
    assert not teams.configured(make_settings())


def test_partial_settings_are_one_line_from_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("TEAMS_APP_ID", APP_ID)
    monkeypatch.delenv("TEAMS_APP_PASSWORD", raising=False)
    monkeypatch.delenv("TEAMS_TENANT_ID", raising=False)
    assert main(["questions"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TEAMS_APP_PASSWORD" in err


def test_teams_package_writes_a_valid_zip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in FULL.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "app.zip"

    assert main(["teams", "package", "--out", str(out)]) == 0

    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        color = Image.open(io.BytesIO(archive.read("color.png")))
        outline = Image.open(io.BytesIO(archive.read("outline.png")))
    assert color.size == (192, 192) and outline.size == (32, 32)
    assert outline.mode == "RGBA" and outline.getpixel((0, 0))[3] == 0  # transparent
    assert float(manifest["manifestVersion"]) >= 1.17
    assert manifest["id"] == APP_ID
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID and bot["scopes"] == ["team"]
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert titles[:3] == ["help", "status", "questions"] and len(titles) <= 10
    assert "quiet" in titles  # councils reach for it before elections
    assert manifest["webApplicationInfo"]["id"] == APP_ID
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {(p["name"], p["type"]) for p in rsc} == {
        ("ChannelMessage.Read.Group", "Application"),
        ("TeamMember.Read.Group", "Application"),
    }
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert "s3cret-value" not in json.dumps(manifest)


def test_teams_package_needs_the_app_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in FULL:
        monkeypatch.delenv(name, raising=False)
    assert main(["teams", "package", "--out", str(tmp_path / "x.zip")]) == 2
    assert "TEAMS_APP_ID" in capsys.readouterr().err


def test_the_adapter_never_imports_the_teams_sdk_app() -> None:
    """microsoft_teams.apps loads a .env into os.environ on import, fetches keys with blocking
    I/O and has no HTTP timeout by default: the adapter does without it (see inbound.py)."""
    import subprocess
    import sys

    code = (
        "import sys, bot.platforms.teams.inbound, bot.platforms.teams.platform, "
        "bot.platforms.teams.package; "
        "print(any(m.startswith('microsoft_teams') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_fakes_activities_parse_as_the_sdk_models_them() -> None:
    """The hand-written parser reads the shapes the Teams SDK's models accept."""
    from microsoft_teams.api.activities import ActivityTypeAdapter

    from bot.platforms.teams.activities import parse_activity
    from tests.fakes import teams_activities as build

    place = build.Place(
        service_url="https://smba.example/teams/",
        tenant_id=FULL["TEAMS_TENANT_ID"],
        group_id="11111111-2222-3333-4444-555555555555",
        team_id="19:0123456789abcdef0123456789abcdef@thread.tacv2",
        team_name="Leadership",
        channel_id="19:0123456789abcdef0123456789abcdef@thread.tacv2",
    )
    bot = build.BotIdentity(APP_ID, "leaderbot")
    person = build.Person("29:1abc", "aaaaaaaa-0000-0000-0000-000000000002", "Sam Staff")
    reply = build.message(
        place, bot, person, message_id="2", root_id="1", text="hi", mentions_bot=False, at_ms=1
    )
    command = build.message(
        place, bot, person, message_id="3", root_id="3", text="status", mentions_bot=True, at_ms=1
    )
    install = build.installation_update(place, bot, person, action="add", at_ms=1)
    for activity in (reply, command, install):
        ActivityTypeAdapter.validate_python(activity)
    assert parse_activity(reply).change is not None
    parsed_command = parse_activity(command).command
    assert parsed_command is not None and parsed_command.text == "status"
    assert parse_activity(install).joined
