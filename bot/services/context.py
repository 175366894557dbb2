"""What every use case needs, built once in `bot.app` and passed down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.domain.clock import Clock, system_clock
from bot.domain.questions import QuestionSet
from bot.platforms.base import ChatPlatform
from bot.settings import Settings
from bot.store.db import Database


@dataclass
class Context:
    settings: Settings
    db: Database
    platform: ChatPlatform
    questions: QuestionSet
    clock: Clock = field(default=system_clock)
    # Called after a schedule changes, so a running scheduler rebuilds its jobs.
    schedule_changed: Callable[[], None] | None = None
