"""The command line starts quickly: a regression guard on what it imports, not a timing test.

`leaderbot --help` once took 1.4 s because building the parser imported Alembic, SQLAlchemy,
the chat SDKs and the HTTP clients; each command now imports what it needs when it runs. Each
case runs in a fresh interpreter and lists the modules it ended up with (bench/startup.py
measures the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Needed by no command's parser: the database layer, migrations, chat SDKs, HTTP clients,
# and the digest themes' numerics (numpy; scikit-learn and scipy are for tests only).
HEAVY = (
    "sqlalchemy",
    "alembic",
    "mako",
    "pygments",
    "slack_sdk",
    "slack_bolt",
    "aiohttp",
    "httpx",
    "microsoft_teams",
    "numpy",
    "sklearn",
    "scipy",
)

# Runs the CLI's `main` with the given arguments, then writes the names of the modules loaded
# to the file named by the first argument.
PROBE = """
import json, sys
out, argv = sys.argv[1], sys.argv[2:]
if argv == ["--import-only"]:
    import bot.cli
    code = 0
else:
    from bot.cli import main
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
with open(out, "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
"""


def loaded(tmp_path: Path, *args: str) -> tuple[object, set[str]]:
    """The exit code of `leaderbot ARGS` and the top-level packages (and bot modules) it
    imported, in a fresh interpreter, in the default configuration."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TEAMS_", "LEADERBOT_", "DATABASE_URL"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no stray .env file
        timeout=60,
    )
    assert out.exists(), done.stderr
    result = json.loads(out.read_text())
    names = set(result["modules"])
    return result["code"], {n.split(".")[0] for n in names} | {
        n for n in names if n.startswith("bot.")
    }


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in HEAVY if m in modules)


def test_importing_the_cli_imports_nothing_heavy(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "--import-only")
    assert code == 0
    assert heavy(modules) == []
    # Not even the layers under the CLI: parsing the arguments needs none of them.
    assert sorted(m for m in modules if m.startswith(("bot.services", "bot.store"))) == []


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version",),
        ("digest", "--help"),
        ("feeds", "add", "--help"),
        ("admins", "--help"),
        ("schedule", "--help"),
        ("teams", "package", "--help"),
    ],
    ids=" ".join,
)
def test_help_imports_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, modules = loaded(tmp_path, *args)
    assert code == 0
    assert heavy(modules) == []
    assert "pydantic_settings" not in modules  # --help reads no settings
    assert "asyncio" not in modules  # nor runs anything


def test_a_bad_argument_imports_nothing_heavy(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "frobnicate")
    assert code == 2
    assert heavy(modules) == []


def test_questions_needs_no_database(tmp_path: Path) -> None:
    """`questions` reads the question set only: no migrations, no engine, no platform. (The
    settings still validate DATABASE_URL, with SQLAlchemy's URL parser: its core is loaded,
    not the ORM, the asyncio extension or a driver.)"""
    code, modules = loaded(tmp_path, "questions")
    assert code == 0
    assert heavy(modules) == ["sqlalchemy"]
    assert {"aiosqlite", "asyncpg"}.isdisjoint(modules)
    assert "bot.store.models" not in modules
    assert "bot.runtime" not in modules
    assert list(tmp_path.glob("*.db")) == []  # the default sqlite file was never created


def test_the_cli_lists_the_renderers_formats() -> None:
    from bot.cli.digest import FORMATS as CLI_FORMATS
    from bot.domain.digest_render import FORMATS

    assert CLI_FORMATS == FORMATS


def test_the_cli_lists_the_languages() -> None:
    from bot.cli.common import LANGUAGES as CLI_LANGUAGES
    from bot.domain.language import LANGUAGES

    assert sorted(CLI_LANGUAGES) == sorted(LANGUAGES)
