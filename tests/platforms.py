"""The one platform of a test's Context (tests run one platform at a time unless they say)."""

from __future__ import annotations

from typing import Any

from bot.services.context import Context


def only_platform(ctx: Context) -> Any:
    adapters = list(ctx.platforms)
    assert len(adapters) == 1, f"expected one platform, got {[a.name for a in adapters]}"
    return adapters[0]
