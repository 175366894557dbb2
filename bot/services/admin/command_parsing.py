"""The command grammar, with today's date where the bot runs and this question set."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from bot.domain.command_grammar import Command, parse_command, plain_words
from bot.services.admin.replies import Invocation
from bot.services.context import Context


def local_today(ctx: Context) -> date:
    return ctx.clock().astimezone(ZoneInfo(ctx.settings.timezone)).date()


def parse(ctx: Context, text: str, inv: Invocation | None = None) -> Command:
    """A command's text, read by the platform that sent it (`inv.read`; plain text if none),
    through the grammar with today's date and this question set. Raises ParseError."""
    names_are_ids = inv is not None and inv.names_are_ids
    if inv is not None and inv.read is not None:
        words = inv.read(text)
    else:
        words = plain_words(text, names_are_ids=names_are_ids)
    return parse_command(
        words, today=local_today(ctx), question_ids=ctx.questions.ids, any_id=names_are_ids
    )
