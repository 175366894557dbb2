"""The platform contract suite's fixtures: one `Harness` per platform, every check run on each.

HOW TO ADD A PLATFORM: write `tests/contract/<name>.py` with a `Harness` subclass (see
tests/contract/harness.py for what it must provide) and an async context manager that starts
the platform's fake, builds the adapter against it and yields the harness (tests/contract/teams.py
is one); then add `("<name>", <name>_harness)` to `HARNESSES` below. Nothing else
changes: every test in this directory takes the `harness` fixture and runs once per entry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from tests.contract.console import console_harness
from tests.contract.harness import Harness
from tests.contract.slack import slack_harness
from tests.contract.teams import teams_harness

HarnessFactory = Callable[[], AbstractAsyncContextManager[Harness]]

# The adapters under contract, explicitly (a platform missing here is simply not checked).
HARNESSES: list[tuple[str, HarnessFactory]] = [
    ("console", console_harness),
    ("slack", slack_harness),
    ("teams", teams_harness),
]


@pytest.fixture(params=[name for name, _ in HARNESSES])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    factory = dict(HARNESSES)[request.param]
    async with factory() as built:
        yield built
