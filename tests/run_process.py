"""A real `leaderbot run` in a child process, for the tests that kill, stop or restart it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path


async def start_run(env: dict[str, str], cwd: Path, log: str) -> asyncio.subprocess.Process:
    """`python -m bot run` in `cwd` with `env`; its stderr (the log) goes to `cwd / log`."""
    with (cwd / log).open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
