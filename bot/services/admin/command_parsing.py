"""The slash-command grammar, with today's date where the bot runs and this question set."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from bot.domain.command_grammar import Command, parse_command
from bot.services.context import Context


def local_today(ctx: Context) -> date:
    return ctx.clock().astimezone(ZoneInfo(ctx.settings.timezone)).date()


def parse(ctx: Context, text: str) -> Command:
    """The slash-command grammar, with today's date and this question set."""
    return parse_command(text, today=local_today(ctx), question_ids=ctx.questions.ids)
