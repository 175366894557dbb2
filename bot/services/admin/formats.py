"""Times, weekly rules and long texts as replies write them (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.schedule import DAY_NAMES
from bot.store.models import Schedule


def when(moment: datetime, zone: str) -> str:
    """ "Mon 19 Jan 2026, 09:00 GMT": a time as people in that zone read it."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"


def rule_text(schedule: Schedule) -> str:
    return f"{DAY_NAMES[schedule.weekday]}s at {schedule.time} ({schedule.timezone})"


def show_question(text: str, limit: int) -> str:
    """On one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
