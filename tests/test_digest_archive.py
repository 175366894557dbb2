"""`leaderbot digest --since DATE [--until DATE] --format html|json --out DIR`: a date range
archived one file a week, for a council's records system."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.cli import build_parser
from bot.cli.common import UsageError
from bot.cli.digest import _archive
from bot.domain.clock import ManualClock
from bot.domain.digest import ARCHIVE_MAX_WEEKS, archive_file_name, archive_windows
from bot.platforms.console.platform import CONSOLE_CHANNEL
from bot.services.ask import ask_and_deliver
from tests.test_cli import one_line

LONDON = ZoneInfo("Europe/London")


# ------------------------------------------------------------------------------- the weeks


def test_a_range_is_cut_into_iso_weeks_its_ends_cut_to_the_range() -> None:
    weeks = archive_windows(date(2025, 12, 31), date(2026, 1, 14), LONDON)
    assert [label for label, _ in weeks] == ["2026-W01", "2026-W02", "2026-W03"]
    first, second, last = (window for _, window in weeks)
    assert first.start == datetime(2025, 12, 31, tzinfo=LONDON)  # from --since, not Monday
    assert first.end == second.start == datetime(2026, 1, 5, tzinfo=LONDON)
    assert second.end == last.start == datetime(2026, 1, 12, tzinfo=LONDON)
    assert last.end == datetime(2026, 1, 15, tzinfo=LONDON)  # --until is included


def test_weeks_follow_local_midnight_across_a_clock_change() -> None:
    [(label, window)] = archive_windows(date(2026, 3, 23), date(2026, 3, 29), LONDON)
    assert label == "2026-W13"
    assert window.start.utcoffset() != window.end.utcoffset()  # GMT to BST
    hours = (window.end.astimezone(UTC) - window.start.astimezone(UTC)).total_seconds() / 3600
    assert hours == 6 * 24 + 23  # the week the clocks go forward is an hour short


def test_a_backwards_or_too_long_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        archive_windows(date(2026, 1, 14), date(2026, 1, 13), LONDON)
    with pytest.raises(ValueError, match=f"longer than {ARCHIVE_MAX_WEEKS} weeks"):
        archive_windows(date(2000, 1, 3), date(2026, 1, 14), LONDON)
    assert len(archive_windows(date(2026, 1, 14), date(2026, 1, 14), LONDON)) == 1


def test_file_names_sort_by_week_then_channel_and_are_safe_for_any_file_system() -> None:
    assert archive_file_name("2026-W45", "C0123ABCD", "html") == "2026-W45-C0123ABCD.html"
    teams = archive_file_name("2026-W45", "19:abc0123@thread.tacv2", "json")
    assert teams == "2026-W45-19_abc0123_thread.tacv2.json"
    assert archive_file_name("2026-W45", "../../etc", "json") == "2026-W45-etc.json"
    names = [archive_file_name(f"2026-W{w:02d}", "C1", "html") for w in (9, 10, 45)]
    names += [archive_file_name("2025-W52", "C1", "html")]
    assert sorted(names) == ["2025-W52-C1.html", *names[:3]]


# ------------------------------------------------------------------- archiving (in process)


async def test_each_week_of_the_range_gets_its_file_with_that_weeks_questions(
    make_context, sqlite_url, clock: ManualClock, tmp_path: Path, capsys
) -> None:
    ctx = await make_context(sqlite_url)
    asked = {}
    for when in (datetime(2026, 1, 2, 10, tzinfo=UTC), datetime(2026, 1, 13, 10, tzinfo=UTC)):
        clock.set(when)
        result = await ask_and_deliver(ctx, CONSOLE_CHANNEL)
        assert result.delivered
        asked[when.date()] = result.post.question_id
    clock.set(datetime(2026, 1, 14, 12, tzinfo=UTC))
    out = tmp_path / "records"
    args = build_parser().parse_args(
        [
            "digest",
            "--channel",
            CONSOLE_CHANNEL,
            "--since",
            "2025-12-29",
            "--format",
            "json",
            "--out",
            str(out),
        ]
    )

    assert await _archive(args, ctx) == 0

    files = sorted(p.name for p in out.iterdir())
    assert files == [f"2026-W0{w}-console.json" for w in (1, 2, 3)]
    by_week = {name[:8]: json.loads((out / name).read_text()) for name in files}
    assert [q["id"] for q in by_week["2026-W01"]["questions"]] == [asked[date(2026, 1, 2)]]
    assert by_week["2026-W02"]["questions"] == []
    assert [q["id"] for q in by_week["2026-W03"]["questions"]] == [asked[date(2026, 1, 13)]]
    assert by_week["2026-W01"]["from"] == "2025-12-29T00:00:00+00:00"
    assert by_week["2026-W03"]["to"] == "2026-01-15T00:00:00+00:00"
    printed = capsys.readouterr()
    assert printed.out.splitlines() == [str(out / name) for name in files]
    assert "archived 3 weeks" in printed.err

    # Again, as HTML, up to a given day: the same weeks, other files, nothing left half-written.
    args = build_parser().parse_args(
        [
            "digest",
            "--channel",
            CONSOLE_CHANNEL,
            "--since",
            "2026-01-01",
            "--until",
            "2026-01-06",
            "--format",
            "html",
            "--out",
            str(out),
        ]
    )
    assert await _archive(args, ctx) == 0
    html = sorted(p.name for p in out.iterdir() if p.suffix == ".html")
    assert html == ["2026-W01-console.html", "2026-W02-console.html"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert "<!DOCTYPE html>" in (out / html[0]).read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--since", "2026-01-15", "--format", "json"], "--since 2026-01-15 is in the future"),
        (
            ["--since", "2026-01-01", "--until", "2026-02-01", "--format", "json"],
            "--until 2026-02-01 is in the future",
        ),
        (
            ["--since", "2026-01-10", "--until", "2026-01-02", "--format", "json"],
            "the range ends (2026-01-02) before it starts (2026-01-10)",
        ),
        (["--since", "2026-01-01", "--format", "markdown"], "--out archives as html or json"),
        (["--format", "json"], "--out needs --since"),
        (["--since", "2026-01-01", "--format", "json", "--post"], "post a digest without --out"),
    ],
)
async def test_bad_ranges_and_options_are_usage_errors_that_write_nothing(
    make_context, sqlite_url, tmp_path: Path, extra: list[str], message: str
) -> None:
    ctx = await make_context(sqlite_url)  # the clock says 2026-01-14
    out = tmp_path / "records"
    args = build_parser().parse_args(
        ["digest", "--channel", CONSOLE_CHANNEL, *extra, "--out", str(out)]
    )
    with pytest.raises(UsageError) as caught:
        await _archive(args, ctx)
    assert message in str(caught.value)
    assert not out.exists()


# ---------------------------------------------------------------- the command line, exit 2


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    return subprocess.run(
        [sys.executable, "-m", "bot", "digest", "--channel", "general", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # no stray .env file
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--since", "2026-13-01", "--format", "json"), "is not a date"),
        (("--since", "2026-01-10", "--until", "2026-01-02", "--format", "json"), "before it"),
        (("--since", "2999-01-01", "--format", "json"), "is in the future"),
        (("--since", "2026-01-01", "--format", "csv"), "html or json"),
        (("--until", "2026-01-02"), "--until only makes sense with --out"),
    ],
)
def test_the_cli_says_what_is_wrong_in_one_line_and_exits_2(
    tmp_path: Path, args: tuple[str, ...], needle: str
) -> None:
    out_dir = tmp_path / "records"
    extra = () if "--until only" in needle else ("--out", str(out_dir))
    done = cli(tmp_path, *args, *extra)
    assert done.returncode == 2, done.stderr
    assert needle in one_line(done.stderr)
    assert not out_dir.exists()


def test_an_out_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    afile = str(tmp_path / "afile")
    done = cli(tmp_path, "--since", "2025-01-06", "--until", "2025-01-07", "--format", "json")
    assert done.returncode == 2  # --until needs --out
    done = cli(
        tmp_path,
        "--since",
        "2025-01-06",
        "--until",
        "2025-01-07",
        "--format",
        "json",
        "--out",
        afile,
    )
    assert done.returncode == 2 and "is not a directory" in one_line(done.stderr)
