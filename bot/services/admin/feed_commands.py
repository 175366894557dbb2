"""News feeds and their alerts: `feeds`, `feeds add`, `feeds remove`, `alerts on|off`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, AddFeed, ListFeeds, RemoveFeed, SetAlerts
from bot.services.admin.channel_settings import remember_channel
from bot.services.admin.formats import show_question
from bot.services.admin.replies import (
    Invocation,
    Outcome,
    Style,
    as_sentence,
    change_made,
    refused,
)
from bot.services.admin.summary import channel_feeds
from bot.services.admin.summary_text import FEED_EXAMPLE
from bot.services.admin.targets import Where, join
from bot.services.context import Context
from bot.services.feeds import admin as feed_admin
from bot.services.feeds.admin import FeedAdminError, FeedView
from bot.services.workspaces import is_foreign, refuses_every_channel


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


def _feed_error(exc: FeedAdminError, s: Style) -> str:
    # The feed service words its errors for the CLI and Slack alike ("`feeds` lists them").
    text = s.escape(as_sentence(str(exc))).replace("`feeds`", f"`{SLASH} feeds`")
    return text if SLASH in text else f"{text} `{SLASH} feeds` lists the feeds."


async def _alerts_off_hint(ctx: Context, where: Where) -> str:
    if await feed_admin.alerts_enabled(ctx, where.id):
        return ""
    return f" Alerts are off here, so nothing is posted yet: `{SLASH} alerts on` turns them on."


async def list_feeds(ctx: Context, cmd: ListFeeds, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    feeds = await channel_feeds(ctx, where.id)
    if not feeds:
        return Outcome(f"No news feeds for {s.channel(where.id)} yet. Add one with {FEED_EXAMPLE}.")
    lines = [s.bold(f"News feeds for {s.channel(where.id)}:")]
    lines += [_feed_line(f, s) for f in feeds]
    lines.append(f"`{SLASH} feeds remove NUMBER` stops one.{await _alerts_off_hint(ctx, where)}")
    return Outcome("\n".join(lines))


async def add_feed(ctx: Context, cmd: AddFeed, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    if (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    await remember_channel(ctx, where, inv)
    was_on = await feed_admin.alerts_enabled(ctx, where.id)
    try:
        # A feed added here is for this channel: adding it turns the channel's alerts on.
        feed = await feed_admin.add_feed(
            ctx, cmd.url, channel_id=where.id, keywords=cmd.keywords, actor=inv.user_id
        )
    except FeedAdminError as exc:
        return refused(_feed_error(exc, s))
    text = (
        f"Watching feed {feed.id} ({s.escape(feed.source)}) for {s.channel(where.id)}: "
        "what it holds now is never alerted, only what is new from now on."
    )
    if not was_on:
        text += f" Alerts are now on here: `{SLASH} alerts off` stops them."
    return change_made(text)


async def remove_feed(ctx: Context, cmd: RemoveFeed, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    feed = next((f for f in await feed_admin.list_feeds(ctx) if f.id == cmd.feed_id), None)
    if feed is not None and feed.channel_id is None:
        if await refuses_every_channel(ctx, inv.workspace_id):
            return refused(
                f"Feed {feed.id} alerts every channel with alerts on, in other workspaces "
                "served here too, so only whoever runs leaderbot removes it (`leaderbot feeds "
                f"remove {feed.id}`). `{SLASH} alerts off` stops its alerts here."
            )
    elif feed is not None and await is_foreign(ctx, feed.channel_id, inv.workspace_id):
        return refused(_feed_error(FeedAdminError(f"There is no feed {cmd.feed_id}."), s))
    try:
        feed = await feed_admin.remove_feed(ctx, cmd.feed_id, actor=inv.user_id)
    except FeedAdminError as exc:
        return refused(_feed_error(exc, s))
    return change_made(f"Stopped watching feed {feed.id} ({s.escape(feed.source)}).")


async def set_alerts(ctx: Context, cmd: SetAlerts, where: Where, inv: Invocation) -> Outcome:
    channel = inv.style.channel(where.id)
    state = "on" if cmd.enabled else "off"
    if cmd.enabled and (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    await remember_channel(ctx, where, inv)
    before = await feed_admin.set_alerts(ctx, where.id, cmd.enabled, actor=inv.user_id)
    if before == cmd.enabled:
        return Outcome(f"Alerts about new Socitm reports are already {state} in {channel}.")
    if cmd.enabled:
        return change_made(
            f"Alerts on: {channel} will hear about new Socitm reports. "
            f"`{SLASH} alerts off` stops them."
        )
    return change_made(f"Alerts off: {channel} won't hear about new Socitm reports.")
