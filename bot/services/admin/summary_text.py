"""A channel's summary as text: the status reply, and the lines the App Home shows (pure).

Each function writes in one language (`t`, English by default); a `both` caller calls them
once per language (`t.each`)."""

from __future__ import annotations

from typing import Any

from bot.domain.command_grammar import SLASH
from bot.domain.language import ENGLISH, Translator
from bot.services.admin.audit_text import audit_line
from bot.services.admin.formats import rule_text, show_question, when
from bot.services.admin.replies import Style
from bot.services.admin.summary import ChannelSummary

FEED_EXAMPLE = f"`{SLASH} feeds add https://www.socitm.net/feed/ digital`"


def _state(state: str | None, t: Translator) -> str:
    """A schedule's state, as `ScheduleView.state` words it ("paused until 2026-12-01")."""
    if state and state.startswith("paused until "):
        return t.gettext("paused until {day}").format(day=state.removeprefix("paused until "))
    return state or ""


def _next(summary: ChannelSummary, kind: str, t: Translator) -> str | None:
    """When the question (or digest) next posts, in `t`'s language."""
    schedule = summary.question if kind == "question" else summary.digest
    due = summary.question_due if kind == "question" else summary.digest_due
    if due is None or schedule is None:
        return summary.question_next if kind == "question" else summary.digest_next
    return when(due, schedule.timezone, t)


def question_line(summary: ChannelSummary, s: Style, t: Translator = ENGLISH) -> str:
    q = summary.question
    if q is None:
        return t.gettext(
            "Weekly question: not set. Set one with `{slash} schedule mon 09:00`."
        ).format(slash=SLASH)
    if summary.question_state == "off":
        return t.gettext(
            "Weekly question: off (was {rule}). `{slash} resume` turns it back on."
        ).format(rule=rule_text(q, t), slash=SLASH)
    if summary.question_state == "active":
        return t.gettext("Weekly question: {rule}.").format(rule=rule_text(q, t))
    return t.gettext("Weekly question: {rule}, {state}.").format(
        rule=rule_text(q, t), state=_state(summary.question_state, t)
    )


def digest_line(summary: ChannelSummary, s: Style, t: Translator = ENGLISH) -> str:
    d = summary.digest
    if d is None:
        return t.gettext("Digest: not set. Set one with `{slash} digest fri 16:00`.").format(
            slash=SLASH
        )
    if summary.digest_state == "off":
        return t.gettext(
            "Digest: off (was {rule}). `{slash} digest fri 16:00` sets it again."
        ).format(rule=rule_text(d, t), slash=SLASH)
    target = d.target_channel_id
    if target and target != d.channel_id:
        text = t.gettext("Digest: {rule} in {channel}.").format(
            rule=rule_text(d, t), channel=s.channel(target)
        )
    else:
        text = t.gettext("Digest: {rule} in this channel.").format(rule=rule_text(d, t))
    nxt = _next(summary, "digest", t)
    return text + (t.gettext(" Next: {when}.").format(when=nxt) if nxt else "")


def last_question_line(
    summary: ChannelSummary, s: Style, questions: Any, t: Translator = ENGLISH
) -> str:
    post = summary.last_question
    if post is None:
        text = t.gettext("Last question: none yet.")
    else:
        question = questions.get(post.question_id or "")
        words = show_question(question.text_for(t.language) if question else "", 120)
        at = when(
            post.sent_at or post.due_at,
            summary.question.timezone if summary.question else "UTC",
            t,
        )
        label = f"{post.question_id}, {at}"
        shown = s.link(post.link, label) if post.link else label
        text = t.gettext("Last question: {post}: {text}").format(post=shown, text=s.escape(words))
    problem = summary.last_problem
    if problem is not None:
        # The platform's error stays as it was recorded.
        why = s.escape(show_question(problem.error or t.gettext("no reason recorded"), 160))
        due = (
            f"{problem.due_at:%a %d %b %H:%M}"
            if t.language == "en"
            else t.format_datetime(problem.due_at, "EEE dd MMM HH:mm")
        )
        status = {"failed": t.gettext("failed"), "missed": t.gettext("missed")}.get(
            problem.status, problem.status
        )
        text += "\n" + t.gettext("The post due {due} UTC was {status}: {why}").format(
            due=due, status=status, why=why
        )
    return text


def feeds_line(summary: ChannelSummary, s: Style, t: Translator = ENGLISH) -> str:
    if not summary.feeds:
        return t.gettext("Feeds: none. Add one with {example}.").format(example=FEED_EXAMPLE)
    names = ", ".join(f"{f.id} {s.escape(f.source)}" for f in summary.feeds)
    return t.gettext("Feeds: {names} (`{slash} feeds` for details).").format(
        names=names, slash=SLASH
    )


def status_text(summary: ChannelSummary, s: Style, questions: Any, t: Translator = ENGLISH) -> str:
    """The reply to `status`: the channel's settings, its last question, recent changes."""
    lines = [
        s.bold(t.gettext("leaderbot in {channel}").format(channel=s.channel(summary.channel_id))),
        question_line(summary, s, t),
    ]
    nxt = _next(summary, "question", t)
    if nxt and summary.question_state != "off":
        lines.append(t.gettext("Next post: {when}.").format(when=nxt))
    lines.append(last_question_line(summary, s, questions, t))
    lines.append(digest_line(summary, s, t))
    lines.append(
        t.gettext("Alerts about new Socitm reports: on.")
        if summary.alerts
        else t.gettext("Alerts about new Socitm reports: off.")
    )
    lines.append(feeds_line(summary, s, t))
    if summary.recent:
        lines.append(s.bold(t.gettext("Recent changes:")))
        # The audit log's own words (actions and settings, before -> after) are a record.
        lines += [f"• {audit_line(e, s, t=t)}" for e in summary.recent]
    else:
        lines.append(t.gettext("Recent changes: none yet."))
    return "\n".join(lines)
