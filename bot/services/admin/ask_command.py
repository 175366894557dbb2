"""`ask Q3`: post a question in the channel now."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, Ask
from bot.services.admin.channel_settings import record
from bot.services.admin.replies import Invocation, Outcome, change_made, refused
from bot.services.admin.targets import Where, join
from bot.services.ask import ask_and_deliver
from bot.services.context import Context


async def ask(ctx: Context, cmd: Ask, where: Where, inv: Invocation) -> Outcome:
    if (refusal := await join(ctx, where, inv)) is not None:
        return refusal
    result = await ask_and_deliver(ctx, where.id, cmd.question_id)
    post = result.post
    await record(
        ctx,
        inv,
        "ask",
        where.id,
        None,
        {"question": post.question_id, "status": post.status},
    )
    if result.delivered:
        link = f" ({inv.style.link(post.link, 'see it')})" if post.link else ""
        return change_made(
            f"Posted {post.question_id} in {inv.style.channel(where.id)}{link}. "
            "Replies in its thread go into the digest.",
            posted=True,
        )
    why = inv.style.escape(post.error or post.status)
    return refused(
        f"{post.question_id} was not posted ({why}). "
        f"Try again with `{SLASH} ask {post.question_id}` in a minute."
    )
