"""Times, weekly rules and long texts as replies write them (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain.language import ENGLISH, N_, Translator
from bot.store.models import Schedule

# One msgid per day: Welsh writes "bob dydd Llun", and the day's word changes with what
# comes before it, so the whole phrase is translated.
_WEEKLY = (
    N_("Mondays at {time} ({zone})"),
    N_("Tuesdays at {time} ({zone})"),
    N_("Wednesdays at {time} ({zone})"),
    N_("Thursdays at {time} ({zone})"),
    N_("Fridays at {time} ({zone})"),
    N_("Saturdays at {time} ({zone})"),
    N_("Sundays at {time} ({zone})"),
)


def when(moment: datetime, zone: str, t: Translator = ENGLISH) -> str:
    """ "Mon 19 Jan 2026, 09:00 GMT": a time as people in that zone read it (in `t`'s
    language: "Llun 19 Ion 2026, 09:00 GMT")."""
    local = moment.astimezone(ZoneInfo(zone))
    if t.language == "en":
        return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"
    return t.each(lambda one: one.format_datetime(local, "EEE d MMM y, HH:mm") + f" {local:%Z}")


def rule_text(schedule: Schedule, t: Translator = ENGLISH) -> str:
    return t.gettext(_WEEKLY[schedule.weekday]).format(time=schedule.time, zone=schedule.timezone)


def show_question(text: str, limit: int) -> str:
    """On one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
