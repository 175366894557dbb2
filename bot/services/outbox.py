"""The outbox: every post is recorded (under a unique key) before it is sent.

(being written by the lead; the public API below is fixed)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from bot.services.context import Context
from bot.store.models import Post

# kind -> function building the platform-neutral content object from the outbox row.
ContentBuilder = Callable[[Post, Context], Any]
CONTENT_BUILDERS: dict[str, ContentBuilder] = {}


def content_builder(kind: str) -> Callable[[ContentBuilder], ContentBuilder]:
    """Register how rows of `kind` become content: `@content_builder("alert")`."""

    def decorate(fn: ContentBuilder) -> ContentBuilder:
        CONTENT_BUILDERS[kind] = fn
        return fn

    return decorate


async def enqueue(
    ctx: Context,
    *,
    key: str,
    kind: str,
    channel_id: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    question_id: str | None = None,
    schedule_id: int | None = None,
    occurrence: date | None = None,
    thread_ts: str | None = None,
) -> Post | None:
    """Record a post to be sent at `due_at`. Returns None if `key` was already recorded."""
    raise NotImplementedError("lead is writing this")
