"""Audit entries as text: who changed what, before -> after (pure)."""

from __future__ import annotations

from typing import Any

from bot.domain.language import ENGLISH, Translator
from bot.services.admin.replies import Style
from bot.store.models import AuditEntry


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def _summary(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_value(v)}" for k, v in values.items() if v is not None) or "empty"


def describe_change(
    before: dict[str, Any] | None, after: dict[str, Any] | None, *, arrow: str = "→"
) -> str:
    """before -> after, naming only what changed: "time 09:00 → 10:00; timezone …"."""
    if before is None and after is None:
        return "no details"
    if before is None:
        return f"(none) {arrow} {_summary(after or {})}"
    if after is None:
        return f"{_summary(before)} {arrow} (none)"
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    if not keys:
        return "no change"
    return "; ".join(f"{k} {_value(before.get(k))} {arrow} {_value(after.get(k))}" for k in keys)


def actor_text(actor: str, s: Style) -> str:
    """Who did something, as recorded: the platform's Style tells a person's id (shown as a
    mention) from a name such as "cli" or "catalogue" (shown as text)."""
    return s.actor(actor)


def audit_line(entry: AuditEntry, s: Style, arrow: str = "→", t: Translator = ENGLISH) -> str:
    """One entry as the status shows it: the date in `t`'s language; the action and the change
    as the audit log recorded them (a record: the same words in every language)."""
    actor = actor_text(entry.actor, s)
    change = s.escape(describe_change(entry.before, entry.after, arrow=arrow))
    at = (
        f"{entry.at:%d %b %H:%M}"
        if t.language == "en"
        else t.format_datetime(entry.at, "dd MMM HH:mm")
    )
    return f"{at} UTC · {actor} · {entry.action}: {change}"
