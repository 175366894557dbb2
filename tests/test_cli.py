"""The command line as a user meets it: a real process, real exit codes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def run(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"

    def call(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env | extra_env,
            cwd=tmp_path,  # no stray .env file
            timeout=60,
        )

    return call


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_questions_lists_q1_to_q10(run) -> None:
    out = run("questions")
    assert out.returncode == 0, out.stderr
    for n in range(1, 11):
        assert f"Q{n} · " in out.stdout


def test_demo_exits_zero_with_question_and_digest(run) -> None:
    out = run("demo")
    assert out.returncode == 0, out.stderr
    assert "Leadership question Q1" in out.stdout
    assert "Leadership digest" in out.stdout
    assert "3 replies from 3 people" in out.stdout  # 4 replies, one deleted


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("frobnicate",), "invalid choice"),
        (("schedule", "--channel", "C1", "--day", "funday", "--time", "09:00"), "day"),
        (("schedule", "--channel", "C1", "--day", "mon", "--time", "25:99"), "25:99"),
        (
            ("schedule", "--channel", "C1", "--day", "mon", "--time", "9", "--timezone", "Londn"),
            "Europe/London",
        ),
        (("schedule", "--channel", "C1", "--day", "mon"), "--time"),
        (("schedule", "--channel", "C1", "--pause-until", "soon"), "YYYY-MM-DD"),
        (("schedule", "--channel", "C1", "--resume"), "no question schedule"),
        (("ask", "--channel", "C1", "--question", "Q11"), "Q11"),
        (("ask",), "--channel"),
        (("digest", "--channel", "C1", "--format", "pdf"), "invalid choice"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(run, args, needle) -> None:
    out = run(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    line = one_line(out.stderr)
    assert needle in line


def test_bad_setting_and_bad_question_file_get_one_line(run, tmp_path: Path) -> None:
    out = run("questions", LEADERBOT_TIMEZONE="Mars/Base")
    assert out.returncode == 2 and "LEADERBOT_TIMEZONE" in one_line(out.stderr)
    bad = tmp_path / "bad.toml"
    bad.write_text('edition = "x"\ntitle = "t"\nsource_url = "ftp://x"\nquestions = []\n')
    out = run("questions", LEADERBOT_PROMPTS=str(bad))
    assert out.returncode == 2
    line = one_line(out.stderr)
    assert str(bad) in line and "source_url" in line


def test_secrets_never_appear_in_errors(run) -> None:
    out = run("questions", SLACK_BOT_TOKEN="xoxb-super-secret", LEADERBOT_PORT="notaport")
    assert out.returncode == 2
    assert "xoxb-super-secret" not in out.stderr + out.stdout


def test_schedule_then_schedules_then_off(run) -> None:
    out = run("schedule", "--channel", "C1", "--day", "Tues", "--time", "9:30am")
    assert out.returncode == 0, out.stderr
    assert "C1 question: Tuesdays at 09:30 Europe/London" in out.stdout
    listing = run("schedules")
    assert listing.returncode == 0
    assert "Tue 09:30 Europe/London" in listing.stdout
    assert "Fri 16:00 Europe/London" in listing.stdout  # the default digest
    paused = run("schedule", "--channel", "C1", "--pause-until", "2099-01-04")
    assert paused.returncode == 0 and "paused until 2099-01-04" in run("schedules").stdout
    assert run("schedule", "--channel", "C1", "--off").returncode == 0
    assert " off " in run("schedules").stdout


def test_ask_on_the_console_then_digest_json(run) -> None:
    out = run("ask", "--channel", "general", "--question", "Q4")
    assert out.returncode == 0, out.stderr
    assert "Leadership question Q4" in out.stdout
    assert "posted Q4 to general" in out.stdout
    out = run("digest", "--channel", "general", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"channel", "from", "to", "questions"} <= data.keys()
    assert data["questions"][0]["id"] == "Q4"
    assert set(data["questions"][0]) >= {"id", "text", "posted_at", "permalink", "replies"}


def test_db_upgrade(run) -> None:
    out = run("db", "upgrade")
    assert out.returncode == 0 and "up to date" in out.stdout


def test_run_on_slack_without_a_signing_secret_says_so(run) -> None:
    out = run("run", SLACK_BOT_TOKEN="xoxb-test")
    assert out.returncode == 1
    assert "SLACK_SIGNING_SECRET" in one_line(out.stderr)


def test_digest_schedule_from_the_command_line(run) -> None:
    assert run("schedule", "--channel", "C1", "--day", "mon", "--time", "09:00").returncode == 0
    out = run(
        "schedule", "--channel", "C1", "--digest", "--day", "thu", "--time", "15:30", "--to", "C2"
    )
    assert out.returncode == 0, out.stderr
    assert "C1 digest: Thursdays at 15:30 Europe/London, posted to C2" in out.stdout
    assert "Thu 15:30 Europe/London" in run("schedules").stdout
    bad = run("schedule", "--channel", "C1", "--to", "C2", "--day", "mon", "--time", "9")
    assert bad.returncode == 2 and "--digest" in one_line(bad.stderr)
