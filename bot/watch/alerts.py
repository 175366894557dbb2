"""Alerts: which channels a feed alerts, the alert posts queued in the outbox (once per
channel and story, ever: the outbox key `alert:{channel}:{item}`), the one notice per run of
a feed's failures, and turning a queued alert back into FeedAlert content at send time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.domain.content import FeedAlert
from bot.domain.feed_match import FeedItem, MatchRules, cap, clean_text, display_link, one_paragraph
from bot.domain.language import N_
from bot.domain.questions import Question
from bot.services import outbox
from bot.services.context import Context
from bot.store.models import Channel, Post
from bot.watch.feed_state import FeedState, Polled
from bot.watch.parser import ParsedFeed

log = logging.getLogger(__name__)

FEED_FAILING = N_(
    "Feed {id} ({source}, {url}) has failed {failures} times in a row since {since} UTC: "
    "{reason}. I will keep trying, less often (at most a day apart), and say nothing more "
    "until it works again. To stop it: /leadership feeds remove {id}"
)
NOTICE_PREFIX = "notice:feed:"  # then the feed id: `feed_posts_waiting` reads it back


async def alert_channels(ctx: Context) -> list[str]:
    """Channels that turned alerts on (`/leadership alerts on`)."""
    async with ctx.db.read() as session:
        query = select(Channel.id).where(Channel.alerts_enabled.is_(True)).order_by(Channel.id)
        return list((await session.scalars(query)).all())


def targets(feed: FeedState, channels: Sequence[str]) -> list[str]:
    """Alert channels, or only the feed's own channel when it was added for one."""
    if feed.channel_id is None:
        return list(channels)
    return [c for c in channels if c == feed.channel_id]


async def queue_alerts(
    ctx: Context,
    feed: FeedState,
    item: FeedItem,
    item_id: int,
    payload: dict[str, Any],
    channels: Sequence[str],
    now: datetime,
) -> int:
    """Queue one alert post per target channel; returns how many were new."""
    queued = 0
    for channel_id in channels:
        # The related question travels in the payload, not in Post.question_id, which marks
        # the weekly question's own posts.
        row = await outbox.enqueue(
            ctx,
            key=f"alert:{channel_id}:{item_id}",
            kind="alert",
            channel_id=channel_id,
            due_at=now,
            payload=payload,
        )
        queued += row is not None
    return queued


def alert_payload(
    item: FeedItem,
    feed: FeedState,
    item_id: int,
    question: Question | None,
    rules: MatchRules,
    parsed: ParsedFeed | None = None,
) -> dict[str, Any]:
    """The outbox payload: FeedAlert's fields as plain JSON, already cleaned and capped.
    Escaping for the platform happens when it is rendered."""
    link = (
        display_link(item.link, rules)
        or display_link(item.guid, rules)
        or display_link(parsed.link if parsed else None, rules)
        or display_link(feed.url, rules)
    )
    return {
        "title": cap(clean_text(item.title).replace("\n", " "), rules.title_chars) or "(untitled)",
        "source": feed.source,
        "link": link,
        "summary": one_paragraph(item.summary, rules.summary_chars),
        "published": item.published.isoformat() if item.published else None,
        "question_id": question.id if question else None,
        "feed_id": feed.id,
        "item_id": item_id,
    }


# --- failure notices ------------------------------------------------------------------------------


async def notify_failure(
    ctx: Context, polled: Polled, channels: Sequence[str], now: datetime
) -> int:
    feed = polled.feed
    failures = polled.state["v_consecutive_failures"]
    since: datetime = polled.state["v_failing_since"]
    targets = [feed.channel_id] if feed.channel_id else list(channels)
    if not targets:
        log.warning(
            "feed %d (%s) has failed %d times; no alerts channel to tell",
            feed.id,
            feed.url,
            failures,
        )
        return 0
    # Written in each channel's language when sent: the msgid and its values are stored.
    params = {
        "id": str(feed.id),
        "source": feed.source,
        "url": feed.url,
        "failures": str(failures),
        "since": f"{since:%Y-%m-%d %H:%M}",
        "reason": polled.notify_reason or "",
    }
    english = FEED_FAILING.format(**params)
    sent = 0
    for channel_id in targets:
        row = await outbox.enqueue(
            ctx,
            # One notice per run of failures: the run is named by when it started.
            key=f"{NOTICE_PREFIX}{feed.id}:{since.isoformat()}:{channel_id}",
            kind="notice",
            channel_id=channel_id,
            due_at=now,
            payload={"msgid": FEED_FAILING, "params": params, "text": english},
        )
        sent += row is not None
    return sent


# --- content for the outbox ---------------------------------------------------------------------


def _parse_when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def build_alert(row: Post, ctx: Context) -> FeedAlert:
    """An alert row back into FeedAlert, at send time (the question set may have changed)."""
    payload = row.payload or {}
    link = str(payload.get("link") or "")
    if not link.startswith(("https://", "http://")):
        link = ""  # belt and braces: only http(s) links ever reach a platform
    question_id = payload.get("question_id")
    question = ctx.questions.get(question_id) if isinstance(question_id, str) else None
    return FeedAlert(
        title=str(payload.get("title") or "(untitled)"),
        source=str(payload.get("source") or ""),
        link=link,
        summary=str(payload.get("summary") or ""),
        published=_parse_when(payload.get("published")),
        related_question=question,
    )


# --- sending now (`leaderbot feeds poll`) ------------------------------------------------------


async def feed_posts_waiting(ctx: Context) -> dict[str, int | None]:
    """The outbox keys of alerts and feed failure notices not yet sent (this cycle's and any
    left over), each with the feed it came from: what `feeds poll` sends with no `run`."""
    query = select(Post.key, Post.kind, Post.payload).where(
        Post.kind.in_(("alert", "notice")), Post.status.in_(("pending", "sending"))
    )
    async with ctx.db.read() as session:
        rows = (await session.execute(query)).all()
    waiting: dict[str, int | None] = {}
    for key, kind, payload in rows:
        if kind == "alert":
            feed_id = (payload or {}).get("feed_id")
            waiting[key] = feed_id if isinstance(feed_id, int) else None
        elif key.startswith(NOTICE_PREFIX):
            number = key.removeprefix(NOTICE_PREFIX).split(":", 1)[0]
            waiting[key] = int(number) if number.isdigit() else None
    return waiting
