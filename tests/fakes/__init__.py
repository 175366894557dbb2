"""Fakes for tests: real servers on 127.0.0.1 (port 0) that keep state and inject faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 5.0, every: float = 0.02
) -> None:
    """Wait until `check()` is true, polling; fail after `within` seconds. For conditions that
    live in another process or library and cannot be awaited directly."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(every)
