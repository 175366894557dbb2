"""`/leadership …` typed on the console: the same commands as in Slack, through the same code.

The console session calls `handle` with the whole line. The person at the terminal is the
platform's user (the console platform says they are its admin); a `#name` is a channel's id.
"""

from __future__ import annotations

from bot.domain.command_grammar import SLASH
from bot.services.admin import PLAIN, Invocation, run
from bot.services.context import Context


async def handle(ctx: Context, channel_id: str, user_id: str, text: str) -> str:
    """Run one `/leadership` line; returns what to print."""
    line = text.strip()
    if line.lower().startswith(SLASH):
        line = line[len(SLASH) :]
    inv = Invocation(
        user_id=user_id,
        channel_id=channel_id,
        channel_name=channel_id,
        style=PLAIN,
        names_are_ids=True,
    )
    outcome = await run(ctx, line, inv)
    return outcome.text
