"""`/leadership` commands, platform-neutral: run a parsed command for a person in a channel.

The Slack slash command, the App Home modals and the console all come here, with the text
(`run`) or an already-built command (`execute`), and get back an `Outcome`: the reply meant
for that person only, and whether something was posted publicly (a question, a digest).

Reading is open to everyone. A change needs an admin (see `bot.domain.permissions`), checked
with the platform's users.info, cached for a minute at most, and refused when the platform
cannot say (fail closed). Every change is in the audit log: who, what, when, before -> after.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.domain.command_grammar import (
    SLASH,
    AddAdmin,
    AddFeed,
    Ask,
    Command,
    DigestNow,
    DigestOff,
    Help,
    ListAdmins,
    ListFeeds,
    ListQuestions,
    Pause,
    RemoveAdmin,
    RemoveFeed,
    Resume,
    ScheduleOff,
    SetAlerts,
    SetDigest,
    SetSchedule,
    Status,
    parse_command,
)
from bot.domain.content import UserInfo
from bot.domain.help_text import help_text
from bot.domain.parsing import ChannelId, ChannelName, ChannelRef, ParseError, show
from bot.domain.permissions import (
    ALLOW_LISTED,
    READING,
    Decision,
    decide_admin,
    decide_command,
)
from bot.domain.schedule import DAY_NAMES
from bot.platforms.base import PermanentFailure, PlatformError
from bot.services import audit
from bot.services import schedules as schedule_service
from bot.services.ask import UnknownQuestion, ask_and_deliver
from bot.services.channels import ensure_channel
from bot.services.context import Context
from bot.services.digest import post_digest_now, window_ending
from bot.store.models import AuditEntry, BotAdmin, Channel, ChatUser, Post, Schedule
from bot.watch import admin as feed_admin
from bot.watch.admin import FeedAdminError, FeedView

log = logging.getLogger(__name__)

# A role looked up this recently is trusted; older, users.info is asked again. Short, so a
# demoted admin loses access within a minute, and a burst of commands costs one lookup.
ROLE_CACHE_TTL = timedelta(seconds=60)
STATUS_AUDIT_ENTRIES = 5
DIGEST_NOW_DAYS = 7
FEED_EXAMPLE = f"`{SLASH} feeds add https://www.socitm.net/feed/ digital`"


# --- how replies look on each platform ----------------------------------------------------


def _plain_link(url: str, label: str) -> str:
    return url if label == url else f"{label} ({url})"


@dataclass(frozen=True)
class Style:
    """How a reply names channels and people, links, and escapes what came from outside.
    The defaults are plain text (console, CLI); Slack passes mrkdwn versions."""

    channel: Callable[[str], str] = lambda channel_id: f"#{channel_id}"
    user: Callable[[str], str] = lambda user_id: user_id
    escape: Callable[[str], str] = lambda text: text
    bold: Callable[[str], str] = lambda text: text
    link: Callable[[str, str], str] = _plain_link


PLAIN = Style()


@dataclass(frozen=True)
class Invocation:
    """Who typed the command, where, and how to write the reply."""

    user_id: str
    channel_id: str  # where it was typed (the target unless a #channel is named)
    team_id: str | None = None
    channel_name: str | None = None
    style: Style = PLAIN
    # Console (and Teams): a `#name` *is* the channel's id. On Slack only a mention has one.
    names_are_ids: bool = False


@dataclass(frozen=True)
class Outcome:
    text: str  # for the person who typed it only (ephemeral)
    ok: bool = True  # False: refused, or bad input
    posted: bool = False  # something went to a channel publicly
    changed: bool = False  # a setting changed (the App Home refreshes)


def _refused(text: str) -> Outcome:
    return Outcome(text, ok=False)


# --- the entry points ---------------------------------------------------------------------


def local_today(ctx: Context) -> date:
    return ctx.clock().astimezone(ZoneInfo(ctx.settings.timezone)).date()


def parse(ctx: Context, text: str) -> Command:
    """The slash-command grammar, with today's date and this question set."""
    return parse_command(text, today=local_today(ctx), question_ids=ctx.questions.ids)


async def run(ctx: Context, text: str, inv: Invocation) -> Outcome:
    """Parse what followed `/leadership` and execute it."""
    try:
        command = parse(ctx, text)
    except ParseError as exc:
        return _refused(inv.style.escape(exc.message))
    return await execute(ctx, command, inv)


async def execute(ctx: Context, command: Command, inv: Invocation) -> Outcome:
    """Check the channel and the person's rights, then carry the command out."""
    where = _resolve(command.channel, inv)
    if isinstance(where, Outcome):
        return where
    decision = await authorize(ctx, command, inv.user_id)
    if not decision.allowed:
        return _refused(inv.style.escape(decision.reason))
    handler = _HANDLERS[type(command)]
    try:
        return await handler(ctx, command, where, inv)
    except (schedule_service.ScheduleError, UnknownQuestion) as exc:
        return _refused(inv.style.escape(_sentence(str(exc))))
    except PlatformError as exc:
        log.warning("%s failed on the platform: %s", command.action, exc)
        return _refused(
            inv.style.escape(
                f"The chat platform said no ({exc}). Nothing was changed; try again in a minute."
            )
        )


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "`", ")")) else ".")


@dataclass(frozen=True)
class _Where:
    id: str
    name: str | None = None
    named: bool = False  # a #channel was given (else: where the command was typed)


def _resolve(ref: ChannelRef | None, inv: Invocation) -> _Where | Outcome:
    if ref is None:
        return _Where(inv.channel_id, inv.channel_name)
    if isinstance(ref, ChannelId):
        return _Where(ref.id, ref.name, named=True)
    if inv.names_are_ids:
        return _Where(ref.name, ref.name, named=True)
    return _refused(_unknown_channel(ref, inv))


def _unknown_channel(ref: ChannelName, inv: Invocation) -> str:
    # With escaping on, Slack turns every channel the person can see into a mention; a bare
    # #name means there is no such channel, or it is private and they are not in it.
    return inv.style.escape(
        f"I can't find `#{show(ref.name)}`. Pick the channel from the list that appears as "
        f"you type #, e.g. `{SLASH} status #general`."
    )


# --- permissions --------------------------------------------------------------------------


async def who_is(ctx: Context, user_id: str) -> tuple[UserInfo | None, str | None]:
    """What the platform says about a user (a fresh cache entry will do), or why it can't say.
    A stale entry is never used: refusing is better than a stale yes."""
    async with ctx.db.read() as session:
        cached = await session.get(ChatUser, user_id)
    if cached is not None and cached.fetched_at >= ctx.clock() - ROLE_CACHE_TTL:
        return (
            UserInfo(
                id=cached.id,
                display_name=cached.display_name,
                is_admin=cached.is_admin,
                is_owner=cached.is_owner,
                is_guest=cached.is_guest,
                is_bot=cached.is_bot,
                deleted=cached.deleted,
                team_id=cached.team_id,
            ),
            None,
        )
    try:
        info = await ctx.platform.user_info(user_id)
    except PlatformError as exc:
        log.warning("users.info for %s failed: %s", user_id, exc)
        return None, str(exc)
    await _remember(ctx, info)
    return info, None


async def _remember(ctx: Context, info: UserInfo) -> None:
    try:
        async with ctx.db.write() as session:
            await session.merge(
                ChatUser(
                    id=info.id,
                    team_id=info.team_id,
                    display_name=info.display_name or info.id,
                    is_admin=info.is_admin,
                    is_owner=info.is_owner,
                    is_guest=info.is_guest,
                    is_bot=info.is_bot,
                    deleted=info.deleted,
                    fetched_at=ctx.clock(),
                )
            )
    except SQLAlchemyError as exc:  # a cache: two lookups racing to insert is harmless
        log.info("could not cache user %s: %s", info.id, exc)


async def _is_bot_admin(ctx: Context, user_id: str) -> bool:
    async with ctx.db.read() as session:
        return await session.get(BotAdmin, user_id) is not None


async def admin_decision(ctx: Context, user_id: str) -> Decision:
    """May this person change settings? (The App Home asks before showing buttons.)"""
    user, error = await who_is(ctx, user_id)
    listed = {user_id} if await _is_bot_admin(ctx, user_id) else set()
    return decide_admin(
        user,
        user_id=user_id,
        allowlist=ctx.settings.admins,
        bot_admins=listed,
        lookup_error=error,
    )


async def authorize(ctx: Context, command: Command, user_id: str) -> Decision:
    if not command.changes:
        return Decision(True, READING)  # no lookup: reading works even when users.info is down
    user, error = await who_is(ctx, user_id)
    listed = {user_id} if await _is_bot_admin(ctx, user_id) else set()
    return decide_command(
        command,
        user,
        user_id=user_id,
        allowlist=ctx.settings.admins,
        bot_admins=listed,
        lookup_error=error,
    )


# --- shared helpers -----------------------------------------------------------------------


async def _join(ctx: Context, where: _Where, inv: Invocation) -> Outcome | None:
    """Make sure the bot can post in the channel; an Outcome saying why not if it can't."""
    try:
        await ctx.platform.join(where.id)
    except PermanentFailure as exc:
        return _refused(
            inv.style.escape(f"I can't post in that channel: {exc}. Then try again.")
            if "invite" in str(exc)
            else inv.style.escape(
                f"I can't post in that channel ({exc}). Nothing was changed; name another "
                f"channel, e.g. `{SLASH} schedule mon 09:00 #general`."
            )
        )
    except PlatformError as exc:
        return _refused(
            inv.style.escape(f"I couldn't join that channel ({exc}). Try again in a minute.")
        )
    return None


async def _schedule(ctx: Context, channel_id: str, kind: str) -> Schedule | None:
    async with ctx.db.read() as session:
        return await session.scalar(
            select(Schedule).where(Schedule.channel_id == channel_id, Schedule.kind == kind)
        )


async def _record(
    ctx: Context,
    inv: Invocation,
    action: str,
    channel_id: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    async with ctx.db.write() as session:
        audit.record(
            session,
            ctx,
            actor=inv.user_id,
            action=action,
            channel_id=channel_id,
            before=before,
            after=after,
        )


def when(moment: datetime, zone: str) -> str:
    """ "Mon 19 Jan 2026, 09:00 GMT": a time as people in that zone read it."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"


def rule_text(schedule: Schedule) -> str:
    return f"{DAY_NAMES[schedule.weekday]}s at {schedule.time} ({schedule.timezone})"


async def _next_due(ctx: Context, schedule: Schedule) -> str | None:
    views = await schedule_service.list_schedules(ctx, channel_id=schedule.channel_id, history=0)
    view = next((v for v in views if v.schedule.kind == schedule.kind), None)
    if view is None or view.next is None:
        return None
    return when(view.next.due_at, schedule.timezone)


def _change_made(text: str, *, posted: bool = False) -> Outcome:
    return Outcome(text, posted=posted, changed=True)


# --- reading ------------------------------------------------------------------------------


async def _help(ctx: Context, cmd: Help, where: _Where, inv: Invocation) -> Outcome:
    text = help_text(cmd.topic, default_timezone=ctx.settings.timezone, today=local_today(ctx))
    return Outcome(inv.style.escape(text))


async def _questions(ctx: Context, cmd: ListQuestions, where: _Where, inv: Invocation) -> Outcome:
    s = inv.style
    lines = [s.bold(s.escape(ctx.questions.title))]
    for q in ctx.questions.questions:
        lines.append(f"{s.bold(q.id)} · {s.escape(q.theme)}: {s.escape(q.text)}")
    lines.append(f"Post one now with `{SLASH} ask Q3` (admins).")
    return Outcome("\n".join(lines))


@dataclass
class ChannelSummary:
    """What the status and the App Home show for one channel."""

    channel_id: str
    name: str | None = None
    question: Schedule | None = None
    question_state: str | None = None
    question_next: str | None = None
    digest: Schedule | None = None
    digest_state: str | None = None
    digest_next: str | None = None
    last_question: Post | None = None
    last_problem: Post | None = None  # the newest question post, when it failed or was missed
    alerts: bool = False
    feeds: list[FeedView] = field(default_factory=list)  # its own, and those for every channel
    recent: list[AuditEntry] = field(default_factory=list)


async def summarise(ctx: Context, channel_id: str, *, audit_entries: int = 0) -> ChannelSummary:
    summary = ChannelSummary(channel_id)
    for view in await schedule_service.list_schedules(ctx, channel_id=channel_id, history=0):
        s = view.schedule
        due = when(view.next.due_at, s.timezone) if view.next else None
        if s.kind == "question":
            summary.question, summary.question_state, summary.question_next = s, view.state, due
        elif s.kind == "digest":
            summary.digest, summary.digest_state, summary.digest_next = s, view.state, due
    summary.feeds = feeds_of(await feed_admin.list_feeds(ctx), channel_id)
    async with ctx.db.read() as session:
        channel = await session.get(Channel, channel_id)
        if channel is not None:
            summary.name, summary.alerts = channel.name, channel.alerts_enabled
        asked = select(Post).where(Post.channel_id == channel_id, Post.kind == "question")
        summary.last_question = await session.scalar(
            asked.where(Post.status == "sent").order_by(Post.sent_at.desc()).limit(1)
        )
        newest = await session.scalar(asked.order_by(Post.due_at.desc(), Post.id.desc()).limit(1))
        if newest is not None and newest.status in ("failed", "missed"):
            summary.last_problem = newest
        if audit_entries:
            query = (
                select(AuditEntry)
                .where((AuditEntry.channel_id == channel_id) | AuditEntry.channel_id.is_(None))
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .limit(audit_entries)
            )
            summary.recent = list((await session.scalars(query)).all())
    return summary


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
        shown = s.link(post.permalink, label) if post.permalink else label
        text = f"Last question: {shown}: {s.escape(words)}"
    problem = summary.last_problem
    if problem is not None:
        why = s.escape(show_question(problem.error or "no reason recorded", 160))
        text += f"\nThe post due {problem.due_at:%a %d %b %H:%M} UTC was {problem.status}: {why}"
    return text


def show_question(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def audit_line(entry: AuditEntry, s: Style, arrow: str = "→") -> str:
    actor = s.user(entry.actor) if entry.actor[:1] in ("U", "W") else s.escape(entry.actor)
    change = s.escape(describe_change(entry.before, entry.after, arrow=arrow))
    return f"{entry.at:%d %b %H:%M} UTC · {actor} · {entry.action}: {change}"


async def _status(ctx: Context, cmd: Status, where: _Where, inv: Invocation) -> Outcome:
    s = inv.style
    summary = await summarise(ctx, where.id, audit_entries=STATUS_AUDIT_ENTRIES)
    lines = [s.bold(f"leaderbot in {s.channel(where.id)}"), question_line(summary, s)]
    if summary.question_next and summary.question_state != "off":
        lines.append(f"Next post: {summary.question_next}.")
    lines.append(last_question_line(summary, s, ctx.questions))
    lines.append(digest_line(summary, s))
    lines.append(f"Alerts about new Socitm reports: {'on' if summary.alerts else 'off'}.")
    lines.append(feeds_line(summary, s))
    if summary.recent:
        lines.append(s.bold("Recent changes:"))
        lines += [f"• {audit_line(e, s)}" for e in summary.recent]
    else:
        lines.append("Recent changes: none yet.")
    return Outcome("\n".join(lines))


async def _admins(ctx: Context, cmd: ListAdmins, where: _Where, inv: Invocation) -> Outcome:
    s = inv.style
    async with ctx.db.read() as session:
        added = list((await session.scalars(select(BotAdmin).order_by(BotAdmin.added_at))).all())
    lines = ["Workspace admins and owners can always change leaderbot's settings."]
    if ctx.settings.admins:
        people = ", ".join(s.user(u) for u in sorted(ctx.settings.admins))
        lines.append(f"Listed in LEADERBOT_ADMINS: {people}.")
    if added:
        people = ", ".join(
            f"{s.user(a.user_id)} (added by {s.user(a.added_by)}, {a.added_at:%d %b %Y})"
            for a in added
        )
        lines.append(f"Added with `{SLASH} admins add`: {people}.")
    else:
        lines.append(f"Nobody has been added with `{SLASH} admins add @person` yet.")
    return Outcome("\n".join(lines))


def feeds_of(feeds: list[FeedView], channel_id: str) -> list[FeedView]:
    """The feeds that can alert a channel: its own, and those for every alerts channel."""
    return [f for f in feeds if f.channel_id in (None, channel_id)]


def feeds_line(summary: ChannelSummary, s: Style) -> str:
    if not summary.feeds:
        return f"Feeds: none. Add one with {FEED_EXAMPLE}."
    names = ", ".join(f"{f.id} {s.escape(f.source)}" for f in summary.feeds)
    return f"Feeds: {names} (`{SLASH} feeds` for details)."


def _feed_line(feed: FeedView, s: Style) -> str:
    text = f"• {feed.id}: {s.escape(feed.source)}, {s.link(feed.url, feed.url)}"
    if feed.keywords:
        text += f", keywords {s.escape(', '.join(feed.keywords))}"
    if feed.channel_id is None:
        text += ", for every channel with alerts on"
    if feed.consecutive_failures:
        text += f", failing ({s.escape(show_question(feed.last_error or 'no reason', 80))})"
    elif not feed.primed:
        text += ", first check pending"
    return text


async def _alerts_off_hint(ctx: Context, where: _Where) -> str:
    if await feed_admin.alerts_enabled(ctx, where.id):
        return ""
    return f" Alerts are off here, so nothing is posted yet: `{SLASH} alerts on` turns them on."


async def _list_feeds(ctx: Context, cmd: ListFeeds, where: _Where, inv: Invocation) -> Outcome:
    s = inv.style
    feeds = feeds_of(await feed_admin.list_feeds(ctx), where.id)
    if not feeds:
        return Outcome(f"No news feeds for {s.channel(where.id)} yet. Add one with {FEED_EXAMPLE}.")
    lines = [s.bold(f"News feeds for {s.channel(where.id)}:")]
    lines += [_feed_line(f, s) for f in feeds]
    lines.append(f"`{SLASH} feeds remove NUMBER` stops one.{await _alerts_off_hint(ctx, where)}")
    return Outcome("\n".join(lines))


async def _add_feed(ctx: Context, cmd: AddFeed, where: _Where, inv: Invocation) -> Outcome:
    s = inv.style
    if (refusal := await _join(ctx, where, inv)) is not None:
        return refusal
    await _ensure(ctx, where, inv)
    try:
        feed = await feed_admin.add_feed(
            ctx, cmd.url, channel_id=where.id, keywords=cmd.keywords, actor=inv.user_id
        )
    except FeedAdminError as exc:
        return _refused(_feed_error(exc, s))
    text = (
        f"Watching feed {feed.id} ({s.escape(feed.source)}) for {s.channel(where.id)}: "
        "what it holds now is never alerted, only what is new from now on."
    )
    return _change_made(text + await _alerts_off_hint(ctx, where))


def _feed_error(exc: FeedAdminError, s: Style) -> str:
    # The feed service words its errors for the CLI and Slack alike ("`feeds` lists them").
    text = s.escape(_sentence(str(exc))).replace("`feeds`", f"`{SLASH} feeds`")
    return text if SLASH in text else f"{text} `{SLASH} feeds` lists the feeds."


async def _remove_feed(ctx: Context, cmd: RemoveFeed, where: _Where, inv: Invocation) -> Outcome:
    s = inv.style
    try:
        feed = await feed_admin.remove_feed(ctx, cmd.feed_id, actor=inv.user_id)
    except FeedAdminError as exc:
        return _refused(_feed_error(exc, s))
    return _change_made(f"Stopped watching feed {feed.id} ({s.escape(feed.source)}).")


# --- changing -----------------------------------------------------------------------------


async def _ask(ctx: Context, cmd: Ask, where: _Where, inv: Invocation) -> Outcome:
    if (refusal := await _join(ctx, where, inv)) is not None:
        return refusal
    result = await ask_and_deliver(ctx, where.id, cmd.question_id)
    post = result.post
    await _record(
        ctx,
        inv,
        "ask",
        where.id,
        None,
        {"question": post.question_id, "status": post.status},
    )
    if result.delivered:
        link = f" ({inv.style.link(post.permalink, 'see it')})" if post.permalink else ""
        return _change_made(
            f"Posted {post.question_id} in {inv.style.channel(where.id)}{link}. "
            "Replies in its thread go into the digest.",
            posted=True,
        )
    why = inv.style.escape(post.error or post.status)
    return _refused(
        f"{post.question_id} was not posted ({why}). "
        f"Try again with `{SLASH} ask {post.question_id}` in a minute."
    )


async def _set_schedule(ctx: Context, cmd: SetSchedule, where: _Where, inv: Invocation) -> Outcome:
    if (refusal := await _join(ctx, where, inv)) is not None:
        return refusal
    existing = await _schedule(ctx, where.id, "question")
    had_digest = await _schedule(ctx, where.id, "digest") is not None
    await _ensure(ctx, where, inv)
    schedule = await schedule_service.set_schedule(
        ctx,
        where.id,
        weekday=cmd.weekday,
        time=cmd.time,
        timezone=cmd.timezone or (existing.timezone if existing else None),
        kind="question",
        actor=inv.user_id,
    )
    s = inv.style
    text = f"Done: the weekly question in {s.channel(where.id)} is {rule_text(schedule)}."
    if nxt := await _next_due(ctx, schedule):
        text += f" Next: {nxt}."
    if not had_digest:
        text += f" Its digest goes out Fridays at 16:00; `{SLASH} digest DAY TIME` changes that."
    return _change_made(text)


async def _ensure(ctx: Context, where: _Where, inv: Invocation) -> None:
    """Record the channel with its name and workspace (uninstall purges by workspace)."""
    async with ctx.db.write() as session:
        await ensure_channel(session, ctx, where.id, name=where.name, team_id=inv.team_id)
        channel = await session.get(Channel, where.id)
        if channel is not None and channel.team_id is None and inv.team_id:
            channel.team_id = inv.team_id


def _no_schedule(where: _Where, s: Style) -> Outcome:
    return _refused(
        f"{s.channel(where.id)} has no weekly question yet. "
        f"Set one first, e.g. `{SLASH} schedule mon 09:00`."
    )


async def _schedule_off(ctx: Context, cmd: ScheduleOff, where: _Where, inv: Invocation) -> Outcome:
    existing = await _schedule(ctx, where.id, "question")
    if existing is None:
        return _no_schedule(where, inv.style)
    if not existing.enabled:
        return Outcome(
            f"The weekly question in {inv.style.channel(where.id)} is already off. "
            f"`{SLASH} resume` turns it back on."
        )
    await schedule_service.turn_off(ctx, where.id, kind="question", actor=inv.user_id)
    return _change_made(
        f"The weekly question in {inv.style.channel(where.id)} is off. "
        f"`{SLASH} resume` turns it back on; the digest is unchanged."
    )


async def _pause(ctx: Context, cmd: Pause, where: _Where, inv: Invocation) -> Outcome:
    existing = await _schedule(ctx, where.id, "question")
    if existing is None:
        return _no_schedule(where, inv.style)
    schedule = await schedule_service.pause(
        ctx, where.id, until=cmd.until, kind="question", actor=inv.user_id
    )
    channel = inv.style.channel(where.id)
    if cmd.until is None:
        return _change_made(
            f"Paused: no weekly question in {channel} until you type `{SLASH} resume`."
        )
    day = f"{cmd.until:%A} {cmd.until.day} {cmd.until:%B %Y}"
    text = f"Paused: no weekly question in {channel} before {day}."
    if nxt := await _next_due(ctx, schedule):
        text += f" The next one is {nxt}."
    return _change_made(text + f" `{SLASH} resume` ends the pause early.")


async def _resume(ctx: Context, cmd: Resume, where: _Where, inv: Invocation) -> Outcome:
    existing = await _schedule(ctx, where.id, "question")
    if existing is None:
        return _no_schedule(where, inv.style)
    channel = inv.style.channel(where.id)
    if existing.enabled and existing.paused_until is None:
        nxt = await _next_due(ctx, existing)
        return Outcome(
            f"The weekly question in {channel} is not paused"
            + (f": the next one is {nxt}." if nxt else ".")
        )
    if (refusal := await _join(ctx, where, inv)) is not None:
        return refusal
    schedule = await schedule_service.resume(ctx, where.id, kind="question", actor=inv.user_id)
    text = f"Resumed: the weekly question in {channel} is {rule_text(schedule)}."
    if nxt := await _next_due(ctx, schedule):
        text += f" Next: {nxt}."
    return _change_made(text)


async def _set_digest(ctx: Context, cmd: SetDigest, where: _Where, inv: Invocation) -> Outcome:
    destination = where
    if cmd.deliver_to is not None:
        resolved = _resolve(cmd.deliver_to, inv)
        if isinstance(resolved, Outcome):
            return resolved
        destination = resolved
    if (refusal := await _join(ctx, destination, inv)) is not None:
        return refusal
    existing = await _schedule(ctx, where.id, "digest")
    question = await _schedule(ctx, where.id, "question")
    # No zone given: keep the digest's, else follow the question's, else the default.
    known = existing or question
    zone = cmd.timezone or (known.timezone if known else None)
    await _ensure(ctx, where, inv)
    schedule = await schedule_service.set_schedule(
        ctx,
        where.id,
        weekday=cmd.weekday,
        time=cmd.time,
        timezone=zone,
        kind="digest",
        # Always stored, so naming no channel moves a digest back here from elsewhere.
        target_channel_id=destination.id,
        actor=inv.user_id,
    )
    s = inv.style
    text = (
        f"Done: the digest of {s.channel(where.id)} goes out {rule_text(schedule)} "
        f"in {s.channel(destination.id)}."
    )
    if nxt := await _next_due(ctx, schedule):
        text += f" Next: {nxt}."
    if question is None:
        text += f" (There is no weekly question here yet: `{SLASH} schedule mon 09:00`.)"
    return _change_made(text)


async def _digest_now(ctx: Context, cmd: DigestNow, where: _Where, inv: Invocation) -> Outcome:
    digest = await _schedule(ctx, where.id, "digest")
    target = _Where(digest.target_channel_id) if digest and digest.target_channel_id else where
    if (refusal := await _join(ctx, target, inv)) is not None:
        return refusal
    zone = digest.timezone if digest else ctx.settings.timezone
    window = window_ending(ctx.clock(), zone, DIGEST_NOW_DAYS)
    row, report = await post_digest_now(
        ctx, where.id, window, target.id if target.id != where.id else None
    )
    delivered = bool(report.sent or report.found)
    await _record(
        ctx,
        inv,
        "digest.now",
        where.id,
        None,
        {"to": target.id, "days": DIGEST_NOW_DAYS, "status": "sent" if delivered else "not sent"},
    )
    s = inv.style
    if delivered:
        return _change_made(
            f"Posted the digest of the last {DIGEST_NOW_DAYS} days of {s.channel(where.id)} "
            f"in {s.channel(target.id)}.",
            posted=True,
        )
    async with ctx.db.read() as session:
        fresh = await session.get(Post, row.id)
    why = s.escape((fresh.error if fresh else None) or "not delivered yet")
    return _refused(f"The digest was not posted ({why}). Try `{SLASH} digest now` again later.")


async def _digest_off(ctx: Context, cmd: DigestOff, where: _Where, inv: Invocation) -> Outcome:
    existing = await _schedule(ctx, where.id, "digest")
    channel = inv.style.channel(where.id)
    if existing is None or not existing.enabled:
        return Outcome(f"{channel} has no weekly digest on. `{SLASH} digest fri 16:00` sets one.")
    await schedule_service.turn_off(ctx, where.id, kind="digest", actor=inv.user_id)
    return _change_made(
        f"The weekly digest of {channel} is off. `{SLASH} digest fri 16:00` sets it again."
    )


async def _alerts(ctx: Context, cmd: SetAlerts, where: _Where, inv: Invocation) -> Outcome:
    channel = inv.style.channel(where.id)
    state = "on" if cmd.enabled else "off"
    if cmd.enabled and (refusal := await _join(ctx, where, inv)) is not None:
        return refusal
    await _ensure(ctx, where, inv)
    before = await feed_admin.set_alerts(ctx, where.id, cmd.enabled, actor=inv.user_id)
    if before == cmd.enabled:
        return Outcome(f"Alerts about new Socitm reports are already {state} in {channel}.")
    if cmd.enabled:
        return _change_made(
            f"Alerts on: {channel} will hear about new Socitm reports. "
            f"`{SLASH} alerts off` stops them."
        )
    return _change_made(f"Alerts off: {channel} won't hear about new Socitm reports.")


async def _add_admin(ctx: Context, cmd: AddAdmin, where: _Where, inv: Invocation) -> Outcome:
    s = inv.style
    person = s.user(cmd.user.id)
    user, error = await who_is(ctx, cmd.user.id)
    if error is not None or user is None:
        return _refused(
            f"I couldn't check who {person} is ({s.escape(error or 'no answer')}), so nobody "
            "was added. Try again in a minute."
        )
    if user.deleted or user.is_bot or user.is_guest:
        # They would never pass the check (bot.domain.permissions): adding them would mislead.
        return _refused(
            f"{person} can't be a leaderbot admin: {_who_cannot(user)}. Nothing was changed; "
            f"`{SLASH} admins` lists who can."
        )
    if user.is_owner or user.is_admin:
        return Outcome(f"{person} is a workspace admin or owner, so can already change settings.")
    if cmd.user.id in ctx.settings.admins:
        return Outcome(f"{person} is {ALLOW_LISTED}, so can already change settings.")
    if not await add_bot_admin(ctx, cmd.user.id, actor=inv.user_id):
        return Outcome(f"{person} is already a leaderbot admin.")
    return _change_made(
        f"{person} can now change leaderbot's settings. `{SLASH} admins remove` takes that back."
    )


async def add_bot_admin(ctx: Context, user_id: str, *, actor: str) -> bool:
    """Add to the admins (audited); False if they already were one."""
    async with ctx.db.write() as session:
        if await session.get(BotAdmin, user_id) is not None:
            return False
        session.add(BotAdmin(user_id=user_id, added_by=actor, added_at=ctx.clock()))
        audit.record(
            session,
            ctx,
            actor=actor,
            action="admins.add",
            channel_id=None,
            before=None,
            after={"admin": user_id},
        )
    return True


async def remove_bot_admin(ctx: Context, user_id: str, *, actor: str) -> bool:
    """Remove from the admins (audited); False if they were not one."""
    async with ctx.db.write() as session:
        row = await session.get(BotAdmin, user_id)
        if row is None:
            return False
        before = {"admin": row.user_id, "added_by": row.added_by}
        await session.delete(row)
        audit.record(
            session,
            ctx,
            actor=actor,
            action="admins.remove",
            channel_id=None,
            before=before,
            after=None,
        )
    return True


def _who_cannot(user: UserInfo) -> str:
    if user.deleted:
        return "the account is deactivated"
    if user.is_bot:
        return "it is a bot"
    return "guests never can"


async def _remove_admin(ctx: Context, cmd: RemoveAdmin, where: _Where, inv: Invocation) -> Outcome:
    person = inv.style.user(cmd.user.id)
    if await remove_bot_admin(ctx, cmd.user.id, actor=inv.user_id):
        return _change_made(f"{person} is no longer a leaderbot admin.")
    if cmd.user.id in ctx.settings.admins:
        return _refused(
            f"{person} is listed in LEADERBOT_ADMINS, which only whoever runs leaderbot can "
            "change (it is a setting of the server, not of Slack)."
        )
    return _refused(
        f"{person} was not added with `{SLASH} admins add`, so there is nothing to remove. "
        f"Workspace admins and owners always can; `{SLASH} admins` lists the rest."
    )


Handler = Callable[[Context, Any, _Where, Invocation], Awaitable[Outcome]]
_HANDLERS: dict[type, Handler] = {
    Help: _help,
    Status: _status,
    ListQuestions: _questions,
    Ask: _ask,
    SetSchedule: _set_schedule,
    ScheduleOff: _schedule_off,
    Pause: _pause,
    Resume: _resume,
    SetDigest: _set_digest,
    DigestNow: _digest_now,
    DigestOff: _digest_off,
    ListFeeds: _list_feeds,
    AddFeed: _add_feed,
    RemoveFeed: _remove_feed,
    SetAlerts: _alerts,
    ListAdmins: _admins,
    AddAdmin: _add_admin,
    RemoveAdmin: _remove_admin,
}


# --- the audit log as text ----------------------------------------------------------------


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
