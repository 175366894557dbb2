"""News feeds and their alerts: `feeds`, `feeds add`, `feeds remove`, `alerts on|off`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, AddFeed, ListFeeds, RemoveFeed, SetAlerts
from bot.domain.language import N_, Translator
from bot.domain.messages import Msg
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


def _feed_line(feed: FeedView, s: Style, t: Translator) -> str:
    text = f"• {feed.id}: {s.escape(feed.source)}, {s.link(feed.url, feed.url)}"
    if feed.keywords:
        text += t.gettext(", keywords {keywords}").format(
            keywords=s.escape(", ".join(feed.keywords))
        )
    if feed.channel_id is None:
        text += t.gettext(", for every channel with alerts on")
    if feed.consecutive_failures:
        # The fetcher's error, as recorded.
        why = s.escape(show_question(feed.last_error or t.gettext("no reason"), 80))
        text += t.gettext(", failing ({why})").format(why=why)
    elif not feed.primed:
        text += t.gettext(", first check pending")
    return text


def _feed_error(exc: FeedAdminError, inv: Invocation) -> str:
    # The feed service words its errors for the CLI and chat alike ("`feeds` lists them").
    def written(t: Translator) -> str:
        said = exc.text(t)
        text = inv.style.escape(as_sentence(said)).replace("`feeds`", f"`{SLASH} feeds`")
        if SLASH in text:
            return text
        return text + t.gettext(" `{slash} feeds` lists the feeds.").format(slash=SLASH)

    return inv.write(written)


ALERTS_OFF_HINT = N_(
    " Alerts are off here, so nothing is posted yet: `{slash} alerts on` turns them on."
)


async def list_feeds(ctx: Context, cmd: ListFeeds, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    feeds = await channel_feeds(ctx, where.id)
    channel = s.channel(where.id)
    if not feeds:
        return Outcome(
            inv.write(
                lambda t: t.gettext(
                    "No news feeds for {channel} yet. Add one with {example}."
                ).format(channel=channel, example=FEED_EXAMPLE)
            )
        )
    alerts_on = await feed_admin.alerts_enabled(ctx, where.id)

    def written(t: Translator) -> str:
        lines = [s.bold(t.gettext("News feeds for {channel}:").format(channel=channel))]
        lines += [_feed_line(f, s, t) for f in feeds]
        hint = "" if alerts_on else t.gettext(ALERTS_OFF_HINT).format(slash=SLASH)
        lines.append(
            t.gettext("`{slash} feeds remove NUMBER` stops one.").format(slash=SLASH) + hint
        )
        return "\n".join(lines)

    return Outcome(inv.t.each(written, "\n\n"))


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
        return refused(_feed_error(exc, inv))

    def reply(t: Translator) -> str:
        text = t.gettext(
            "Watching feed {id} ({source}) for {channel}: what it holds now is never alerted, "
            "only what is new from now on."
        ).format(id=feed.id, source=s.escape(feed.source), channel=s.channel(where.id))
        if not was_on:
            text += t.gettext(" Alerts are now on here: `{slash} alerts off` stops them.").format(
                slash=SLASH
            )
        return text

    return change_made(inv.write(reply))


async def remove_feed(ctx: Context, cmd: RemoveFeed, where: Where, inv: Invocation) -> Outcome:
    s = inv.style
    feed = next((f for f in await feed_admin.list_feeds(ctx) if f.id == cmd.feed_id), None)
    if feed is not None and feed.channel_id is None:
        if await refuses_every_channel(ctx, inv.workspace_id):
            shared = feed.id
            return refused(
                inv.write(
                    lambda t: t.gettext(
                        "Feed {id} alerts every channel with alerts on, in other workspaces "
                        "served here too, so only whoever runs leaderbot removes it "
                        "(`leaderbot feeds remove {id}`). `{slash} alerts off` stops its alerts "
                        "here."
                    ).format(id=shared, slash=SLASH)
                )
            )
    elif feed is not None and await is_foreign(ctx, feed.channel_id, inv.workspace_id):
        missing = FeedAdminError(Msg(N_("There is no feed {id}."), id=cmd.feed_id))
        return refused(_feed_error(missing, inv))
    try:
        feed = await feed_admin.remove_feed(ctx, cmd.feed_id, actor=inv.user_id)
    except FeedAdminError as exc:
        return refused(_feed_error(exc, inv))
    return change_made(
        inv.write(
            lambda t: t.gettext("Stopped watching feed {id} ({source}).").format(
                id=feed.id, source=s.escape(feed.source)
            )
        )
    )


async def set_alerts(ctx: Context, cmd: SetAlerts, where: Where, inv: Invocation) -> Outcome:
    channel = inv.style.channel(where.id)
    if cmd.enabled and (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    await remember_channel(ctx, where, inv)
    before = await feed_admin.set_alerts(ctx, where.id, cmd.enabled, actor=inv.user_id)
    if before == cmd.enabled:
        already = (
            N_("Alerts about new Socitm reports are already on in {channel}.")
            if cmd.enabled
            else N_("Alerts about new Socitm reports are already off in {channel}.")
        )
        return Outcome(inv.write(lambda t: t.gettext(already).format(channel=channel)))
    if cmd.enabled:
        return change_made(
            inv.write(
                lambda t: t.gettext(
                    "Alerts on: {channel} will hear about new Socitm reports. "
                    "`{slash} alerts off` stops them."
                ).format(channel=channel, slash=SLASH)
            )
        )
    return change_made(
        inv.write(
            lambda t: t.gettext(
                "Alerts off: {channel} won't hear about new Socitm reports."
            ).format(channel=channel)
        )
    )
