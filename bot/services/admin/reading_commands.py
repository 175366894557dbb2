"""The commands that only read: `help`, `questions`, `status`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, Help, ListQuestions, Status
from bot.domain.help_text import help_text
from bot.services.admin.command_parsing import local_today
from bot.services.admin.replies import Invocation, Outcome
from bot.services.admin.summary import summarise
from bot.services.admin.summary_text import status_text
from bot.services.admin.targets import Where
from bot.services.context import Context

STATUS_AUDIT_ENTRIES = 5


async def show_help(ctx: Context, cmd: Help, where: Where, inv: Invocation) -> Outcome:
    text = help_text(cmd.topic, default_timezone=ctx.settings.timezone, today=local_today(ctx))
    return Outcome(inv.style.escape(text))


async def list_questions(
    ctx: Context, cmd: ListQuestions, where: Where, inv: Invocation
) -> Outcome:
    s = inv.style
    lines = [s.bold(s.escape(ctx.questions.title))]
    for q in ctx.questions.questions:
        lines.append(f"{s.bold(q.id)} · {s.escape(q.theme)}: {s.escape(q.text)}")
    lines.append(f"Post one now with `{SLASH} ask Q3` (admins).")
    return Outcome("\n".join(lines))


async def show_status(ctx: Context, cmd: Status, where: Where, inv: Invocation) -> Outcome:
    summary = await summarise(
        ctx, where.id, audit_entries=STATUS_AUDIT_ENTRIES, workspace_id=inv.workspace_id
    )
    return Outcome(status_text(summary, inv.style, ctx.questions))
