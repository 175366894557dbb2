"""The digest's "what people said", on every platform (console, Slack, Teams): replies typed on
the platform's side, the digest built and posted through the outbox, what was stored read back.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import timedelta

from bot.domain.digest import DigestWindow
from bot.domain.digest_render import OPEN_REPLY, THEMES_HEADING, render_html
from bot.services.ask import ask_and_deliver
from bot.services.context import Context
from bot.services.digest import build_channel_digest, post_digest_now
from bot.store.models import Post
from tests.contract.harness import Harness, Seen
from tests.contract.test_platform_contract import HOSTILE, HOSTILE_BITS, ours, squeeze

# Four people, six replies: "shared platforms" from three of them, "data quality" from two.
REPLIES = (
    (0, "We should move to shared platforms with the neighbouring councils."),
    (1, "Shared platforms, yes, and stop buying the same system three times."),
    (2, "Honestly the data quality is what holds every project back."),
    (3, "Data quality first, then shared platforms will actually work."),
    (0, "Training for managers on digital basics would help too."),
    (2, "Budgets are tight; we cannot afford five finance systems."),
)


def window(ctx: Context) -> DigestWindow:
    # The question is stamped with the context's clock; replies belong to their thread.
    return DigestWindow(ctx.clock() - timedelta(days=1), ctx.clock() + timedelta(hours=1))


async def ask_and_reply(
    harness: Harness, ctx: Context, replies: Sequence[tuple[int, str]]
) -> tuple[Post, list[str]]:
    result = await ask_and_deliver(ctx, harness.channel_id)
    assert result.delivered and result.post.message_id
    people = await harness.add_people(4)
    ids = [
        await harness.user_says(result.post.message_id, people[who], text) for who, text in replies
    ]
    return result.post, ids


async def posted_digest(harness: Harness, ctx: Context) -> tuple[str, list[Seen]]:
    row, report = await post_digest_now(ctx, harness.channel_id, window(ctx), None)
    assert report.sent == [row.key]
    messages = await ours(harness, row.key)
    assert messages and all(not harness.limit_problems(m) for m in messages)
    return "\n".join(harness.rendered_text(m) for m in messages), messages


async def test_a_digest_with_enough_replies_quotes_a_linked_reply_for_each_theme(
    harness: Harness, make_context, sqlite_url
) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    question, ids = await ask_and_reply(harness, ctx, REPLIES)
    root = question.message_id

    shown, messages = await posted_digest(harness, ctx)

    assert THEMES_HEADING in shown
    assert "shared platforms" in shown and "3 replies from 3 people" in shown
    assert "data quality" in shown and "2 replies from 2 people" in shown
    # The quote for "shared platforms" is the reply that weighs it most (the shortest of the
    # three: the first); "data quality"'s is the fourth, so each theme quotes another reply.
    assert squeeze(f"“{REPLIES[0][1]}”") in squeeze(shown)
    assert squeeze(f"“{REPLIES[3][1]}”") in squeeze(shown)
    link = await harness.platform.message_link(harness.channel_id, ids[0], thread_id=root)
    # The HTML export (`leaderbot digest --format html`, the records archive) of the same digest.
    page = render_html(await build_channel_digest(ctx, harness.channel_id, window(ctx)))
    assert f"{THEMES_HEADING}</h3>" in page and "shared platforms" in page
    if link is not None:
        assert f'<a href="{html.escape(link, quote=True)}">{OPEN_REPLY} quoted for' in page
    if harness.name == "console":
        assert link is None and OPEN_REPLY not in shown  # the console has no links
        return
    # A link (Slack) or a button (Teams) labelled to open the quoted reply's own message.
    raw = "\n".join(repr(m.raw) for m in messages)
    assert link is not None and OPEN_REPLY in raw
    assert link.split("?")[0] in raw


async def test_below_either_threshold_the_digest_says_nothing_of_themes(
    harness: Harness, make_context, sqlite_url
) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    # Four replies (one short of five) from four people.
    await ask_and_reply(harness, ctx, REPLIES[:4])
    shown, _ = await posted_digest(harness, ctx)
    assert "4 replies from 4 people" in shown
    assert THEMES_HEADING not in shown


async def test_enough_replies_from_too_few_people_say_nothing_of_themes(
    harness: Harness, make_context, sqlite_url
) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    # Six replies, but from two people only (three needed).
    await ask_and_reply(harness, ctx, [(n % 2, text) for n, (_, text) in enumerate(REPLIES)])
    shown, _ = await posted_digest(harness, ctx)
    assert "6 replies from 2 people" in shown
    assert THEMES_HEADING not in shown


async def test_hostile_replies_give_a_digest_that_posts_with_their_text_shown_as_typed(
    harness: Harness, make_context, sqlite_url
) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    hostile = [(n % 4, f"{HOSTILE} shared platforms {n}") for n in range(6)]
    hostile += [(0, "🎉🎉🎉"), (1, ""), (2, "https://evil.example/x " * 50), (3, "yes " * 3000)]
    await ask_and_reply(harness, ctx, [(who, text) for who, text in hostile if text])

    shown, _ = await posted_digest(harness, ctx)

    assert THEMES_HEADING in shown
    assert "shared platforms (6 replies from 4 people)" in shown.replace("*", "")
    for bit in HOSTILE_BITS:  # in the quotes and the replies: text, never markup
        assert bit in shown, bit
    themes_part = shown[shown.index(THEMES_HEADING) :]
    for junk in ("evil", "https", "everyone", "channel", "lt", "script shared"):
        assert f"{junk} (" not in themes_part  # no theme made of links, mentions or markup
