"""`ask Q3`: post a question in the channel now."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, Ask
from bot.domain.language import Translator
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
    channel = inv.style.channel(where.id)
    if result.delivered:

        def posted(t: Translator) -> str:
            see_it = t.gettext("see it")
            link = f" ({inv.style.link(post.link, see_it)})" if post.link else ""
            return t.gettext(
                "Posted {id} in {channel}{link}. Replies in its thread go into the digest."
            ).format(id=post.question_id, channel=channel, link=link)

        return change_made(inv.write(posted), posted=True)
    # The platform's error, as recorded (else the post's status, a code such as "failed").
    why = inv.style.escape(post.error or post.status)
    return refused(
        inv.write(
            lambda t: t.gettext(
                "{id} was not posted ({why}). Try again with `{slash} ask {id}` in a minute."
            ).format(id=post.question_id, why=why, slash=SLASH)
        )
    )
