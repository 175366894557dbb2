"""A channel's summary as text: the status reply, and the lines the App Home shows (pure)."""

from __future__ import annotations

from typing import Any

from bot.domain.command_grammar import SLASH
from bot.services.admin.audit_text import audit_line
from bot.services.admin.formats import rule_text, show_question, when
from bot.services.admin.replies import Style
from bot.services.admin.summary import ChannelSummary

FEED_EXAMPLE = f"`{SLASH} feeds add https://www.socitm.net/feed/ digital`"


def question_line(summary: ChannelSummary, s: Style) -> str:
    q = summary.question
    if q is None:
        return f"Weekly question: not set. Set one with `{SLASH} schedule mon 09:00`."
    if summary.question_state == "off":
        return f"Weekly question: off (was {rule_text(q)}). `{SLASH} resume` turns it back on."
    state = "" if summary.question_state == "active" else f", {summary.question_state}"
    return f"Weekly question: {rule_text(q)}{state}."


def digest_line(summary: ChannelSummary, s: Style) -> str:
    d = summary.digest
    if d is None:
        return f"Digest: not set. Set one with `{SLASH} digest fri 16:00`."
    if summary.digest_state == "off":
        return f"Digest: off (was {rule_text(d)}). `{SLASH} digest fri 16:00` sets it again."
    target = d.target_channel_id
    where = f" in {s.channel(target)}" if target and target != d.channel_id else " in this channel"
    nxt = f" Next: {summary.digest_next}." if summary.digest_next else ""
    return f"Digest: {rule_text(d)}{where}.{nxt}"


def last_question_line(summary: ChannelSummary, s: Style, questions: Any) -> str:
    post = summary.last_question
    if post is None:
        text = "Last question: none yet."
    else:
        question = questions.get(post.question_id or "")
        words = show_question(question.text if question else "", 120)
        at = when(
            post.sent_at or post.due_at, summary.question.timezone if summary.question else "UTC"
        )
        label = f"{post.question_id}, {at}"
        shown = s.link(post.link, label) if post.link else label
        text = f"Last question: {shown}: {s.escape(words)}"
    problem = summary.last_problem
    if problem is not None:
        why = s.escape(show_question(problem.error or "no reason recorded", 160))
        text += f"\nThe post due {problem.due_at:%a %d %b %H:%M} UTC was {problem.status}: {why}"
    return text


def feeds_line(summary: ChannelSummary, s: Style) -> str:
    if not summary.feeds:
        return f"Feeds: none. Add one with {FEED_EXAMPLE}."
    names = ", ".join(f"{f.id} {s.escape(f.source)}" for f in summary.feeds)
    return f"Feeds: {names} (`{SLASH} feeds` for details)."


def status_text(summary: ChannelSummary, s: Style, questions: Any) -> str:
    """The reply to `status`: the channel's settings, its last question, recent changes."""
    lines = [s.bold(f"leaderbot in {s.channel(summary.channel_id)}"), question_line(summary, s)]
    if summary.question_next and summary.question_state != "off":
        lines.append(f"Next post: {summary.question_next}.")
    lines.append(last_question_line(summary, s, questions))
    lines.append(digest_line(summary, s))
    lines.append(f"Alerts about new Socitm reports: {'on' if summary.alerts else 'off'}.")
    lines.append(feeds_line(summary, s))
    if summary.recent:
        lines.append(s.bold("Recent changes:"))
        lines += [f"• {audit_line(e, s)}" for e in summary.recent]
    else:
        lines.append("Recent changes: none yet.")
    return "\n".join(lines)
