"""Fakes for tests: real servers on 127.0.0.1 (port 0) that keep state and inject faults."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


def describe(check: Callable[..., object]) -> str:
    """A wait condition's name for a failure message: the function's name, or where a lambda
    was written."""
    name = getattr(check, "__name__", None) or repr(check)
    code = getattr(check, "__code__", None)
    if name == "<lambda>" and code is not None:
        return f"<lambda> at {os.path.relpath(code.co_filename)}:{code.co_firstlineno}"
    return name


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float = 5.0,
    every: float = 0.02,
    what: str | None = None,
) -> None:
    """Wait until `check()` is true, polling; fail after `within` seconds with an
    AssertionError naming the condition that never came (`what`, or the check's name). For
    conditions that live in another process or library and cannot be awaited directly."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or describe(check)}: never came within {within} s")
        await asyncio.sleep(every)


@asynccontextmanager
async def deadline(within: float, what: str) -> AsyncIterator[None]:
    """Bound a wait: if it is still waiting after `within` seconds it is cancelled and the
    test fails with an AssertionError naming `what` never came (not a bare TimeoutError)."""
    try:
        async with asyncio.timeout(within):
            yield
    except TimeoutError:
        raise AssertionError(f"{what}: never came within {within} s") from None
