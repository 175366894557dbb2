"""bench/startup: how long the command line takes to start, against Python itself.

    python -m bench.startup [--runs 5] [--imports]

Runs `leaderbot --help`, `leaderbot questions` and `python -c pass` (the bare interpreter, the
floor) `--runs` times each, as separate processes in a temporary directory with no `.env` and
no SLACK_/TEAMS_/LEADERBOT_/DATABASE_URL variables (the default, console configuration), and
prints the median wall time of each and its ratio to the bare interpreter, and the median CPU
time (user + system) of the process, which a busy machine disturbs less than the wall time.
`--imports` also prints, from `python -X importtime`, the slowest top-level imports of each
command.

Targets: `--help` under 0.3 s, `questions` under 0.5 s. Set PYTHONPATH to another checkout to
measure that one with the same interpreter and packages.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"--help": 0.3, "questions": 0.5}
CLEARED = ("SLACK_", "TEAMS_", "LEADERBOT_", "DATABASE_URL")


def leaderbot() -> list[str]:
    """The console script installed beside this interpreter (as a user runs it), or
    `python -m bot` when there is none."""
    script = Path(sys.executable).parent / "leaderbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float]:
    """One run: its wall time and its CPU time, in seconds."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()}")
    return elapsed, _children_cpu() - cpu


def slowest_imports(argv: list[str], cwd: str, env: dict[str, str], top: int = 8) -> list[str]:
    """The top-level imports (nesting 0) that took longest, from `-X importtime`."""
    done = subprocess.run(
        argv, cwd=cwd, env=env | {"PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True
    )
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit() and not name[1:].startswith(" "):  # nesting 0
            rows.append((int(cumulative), name.strip()))
    rows.sort(reverse=True)
    return [f"{name} {us / 1000:.0f} ms" for us, name in rows[:top]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (median)")
    parser.add_argument("--imports", action="store_true", help="the slowest imports, too")
    args = parser.parse_args()
    env = environment()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "leaderbot --help": [*leaderbot(), "--help"],
        "leaderbot questions": [*leaderbot(), "questions"],
    }
    with tempfile.TemporaryDirectory(prefix="leaderbot-startup-") as cwd:
        medians: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for label, argv in commands.items():
            timed(argv, cwd, env)  # warm the file cache; not counted
            runs = [timed(argv, cwd, env) for _ in range(args.runs)]
            medians[label] = statistics.median(w for w, _ in runs)
            cpu[label] = statistics.median(c for _, c in runs)
        bare = medians["python -c pass"]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"median of {args.runs} runs; load average {load:.1f} on {os.cpu_count()} cores")
        for label, median in medians.items():
            target = TARGETS.get(label.removeprefix("leaderbot "))
            verdict = (
                ""
                if target is None
                else f"  target < {target} s: " + ("met" if median < target else "NOT met")
            )
            print(
                f"  {label:<20} {median:6.3f} s  {median / bare:5.1f}x bare  "
                f"(CPU {cpu[label]:.3f} s){verdict}"
            )
        if args.imports:
            for label, argv in commands.items():
                if label.startswith("leaderbot"):
                    print(
                        f"slowest imports of {label}: " + ", ".join(slowest_imports(argv, cwd, env))
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
