"""The wheel works when installed non-editable, away from the checkout.

An editable install (what `make` does) reads data files straight from the repository, so it
cannot show that the wheel carries them. This builds the wheel, installs it into a fresh
virtualenv in a temporary directory, and runs the commands that need the bundled question set,
the feed catalogue and the migrations, from another working directory.

Offline and fast: the wheel is built with the setuptools already in the project's .venv (no
build isolation), and the new virtualenv gets the project's dependencies by pointing a `.pth`
file at the .venv's site-packages instead of installing them again. Only the wheel itself is
installed, `--no-deps --no-index`.

Run alone: `.venv/bin/pytest -m wheel`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 180


@dataclass(frozen=True)
class Installed:
    venv: Path
    python: Path
    leaderbot: Path
    workdir: Path  # neither the repository nor the virtualenv


def _run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=TIMEOUT_S, **kwargs
    )


def _env(**extra: str) -> dict[str, str]:
    """No chat credentials (the console), no settings of ours and no PYTHONPATH leaking in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "TEAMS_", "DATABASE_URL", "LEADERBOT_", "PYTHON"))
    }
    return env | extra


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(REPO), "the virtualenv must be outside the checkout"

    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    dist = root / "dist"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            dist,
            source,
        ],
        env=_env(),
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("leaderbot-*.whl")

    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # The .venv's pip installs into the new environment (--python), so it needs no pip of its own.
    done = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            wheel,
        ],
        env=_env(),
    )
    assert done.returncode == 0, done.stderr

    # Only now expose the dependencies (pip above must not see the editable leaderbot in them).
    # A path line in a .pth file is appended after the environment's own site-packages, and
    # .pth files inside that path are not processed, so the editable install's finder
    # (__editable__…finder.py) never loads and cannot shadow the wheel.
    purelib = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
        ).stdout.strip()
    )
    (purelib / "zz_leaderbot_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    workdir = root / "elsewhere"
    workdir.mkdir()
    return Installed(
        venv=venv, python=python, leaderbot=venv / "bin" / "leaderbot", workdir=workdir
    )


def _leaderbot(installed: Installed, *args: str) -> subprocess.CompletedProcess[str]:
    db = installed.workdir / "leaderbot.db"
    return _run(
        [installed.leaderbot, *args],
        cwd=installed.workdir,
        env=_env(DATABASE_URL=f"sqlite:///{db}", LEADERBOT_PORT="0"),
        stdin=subprocess.DEVNULL,
    )


def test_the_installed_package_is_the_wheel(installed: Installed) -> None:
    probe = _run(
        [
            installed.python,
            "-c",
            "import sys, bot, bot.settings as s; "
            "print(bot.__file__); print(s.BUNDLED_PROMPTS); "
            "print(any('__editable__' in name for name in sys.modules))",
        ],
        cwd=installed.workdir,
        env=_env(),
    )
    assert probe.returncode == 0, probe.stderr
    module, prompts, editable_loaded = probe.stdout.splitlines()
    assert Path(module).is_relative_to(installed.venv)
    assert Path(prompts).is_relative_to(installed.venv)
    assert Path(prompts).is_file()
    assert editable_loaded == "False"


def test_questions(installed: Installed) -> None:
    result = _leaderbot(installed, "questions")
    assert result.returncode == 0, result.stderr
    assert "Q1" in result.stdout
    assert "Q10" in result.stdout
    assert "no such question set file" not in result.stderr


def test_demo(installed: Installed) -> None:
    result = _leaderbot(installed, "demo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("leaderbot demo:")


def test_feeds_add_catalogue(installed: Installed) -> None:
    result = _leaderbot(installed, "feeds", "add", "--catalogue")
    assert result.returncode == 0, result.stderr
    assert "catalogue feed(s) added" in result.stdout
    count = int(result.stdout.strip().splitlines()[-1].split()[0])
    assert count > 0


def test_db_upgrade(installed: Installed) -> None:
    """The step the service unit's install instructions run before enabling it."""
    result = _leaderbot(installed, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "database is up to date" in result.stdout


def test_the_themes_stop_word_lists_ship_in_the_wheel(installed: Installed) -> None:
    probe = _run(
        [
            installed.python,
            "-c",
            "from bot.domain.themes import english_stop_words as e, welsh_stop_words as w; "
            "print(len(e()), len(w()), 'mae' in w(), 'the' in e())",
        ],
        cwd=installed.workdir,
        env=_env(),
    )
    assert probe.returncode == 0, probe.stderr
    english, welsh, mae, the = probe.stdout.split()
    assert int(english) > 300 and int(welsh) > 200 and mae == the == "True"


def test_the_wheel_writes_welsh(installed: Installed) -> None:
    """The Welsh catalogue ships in the wheel (a .po, compiled when first used)."""
    probe = _run(
        [
            installed.python,
            "-c",
            "from bot.domain.language import translator; "
            "print(translator('cy').gettext('No replies yet.'))",
        ],
        cwd=installed.workdir,
        env=_env(),
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "Dim atebion eto."
