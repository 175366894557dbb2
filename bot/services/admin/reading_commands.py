"""The commands that only read: `help`, `questions`, `status`."""

from __future__ import annotations

from bot.domain.command_grammar import SLASH, Help, ListQuestions, Status
from bot.domain.help_text import help_text
from bot.domain.language import Translator
from bot.services.admin.command_parsing import local_today
from bot.services.admin.replies import Invocation, Outcome
from bot.services.admin.summary import summarise
from bot.services.admin.summary_text import status_text
from bot.services.admin.targets import Where
from bot.services.context import Context

STATUS_AUDIT_ENTRIES = 5


async def show_help(ctx: Context, cmd: Help, where: Where, inv: Invocation) -> Outcome:
    text = help_text(
        cmd.topic, default_timezone=ctx.settings.timezone, today=local_today(ctx), t=inv.t
    )
    return Outcome(inv.style.escape(text))


async def list_questions(
    ctx: Context, cmd: ListQuestions, where: Where, inv: Invocation
) -> Outcome:
    s = inv.style

    def write(t: Translator) -> str:
        lang = t.language
        lines = [s.bold(s.escape(ctx.questions.title_for(lang)))]
        for q in ctx.questions.questions:
            theme, text = q.theme_for(lang), q.text_for(lang)
            lines.append(f"{s.bold(q.id)} · {s.escape(theme)}: {s.escape(text)}")
        lines.append(t.gettext("Post one now with `{slash} ask Q3` (admins).").format(slash=SLASH))
        return "\n".join(lines)

    return Outcome(inv.t.each(write, "\n\n"))


async def show_status(ctx: Context, cmd: Status, where: Where, inv: Invocation) -> Outcome:
    summary = await summarise(
        ctx, where.id, audit_entries=STATUS_AUDIT_ENTRIES, workspace_id=inv.workspace_id
    )
    return Outcome(inv.t.each(lambda t: status_text(summary, inv.style, ctx.questions, t), "\n\n"))
