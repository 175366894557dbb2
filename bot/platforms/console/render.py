"""Plain-text rendering of bot content for the terminal."""

from __future__ import annotations

import textwrap
from functools import singledispatch
from typing import Any

from bot.domain import digest_render
from bot.domain.content import DigestPost, FeedAlert, Notice, Nudge, QuestionPost
from bot.domain.language import translator

WIDTH = 78


def _wrap(text: str, indent: str = "  ") -> str:
    return "\n".join(
        textwrap.fill(p, WIDTH, initial_indent=indent, subsequent_indent=indent)
        for p in text.splitlines()
        if p.strip()
    )


@singledispatch
def render_text(content: Any) -> str:
    if isinstance(content, dict) and "text" in content:
        return str(content["text"])
    return str(content)


@render_text.register
def _(content: QuestionPost) -> str:
    q = content.question
    t = translator(content.language)
    lines = [
        t.each(
            lambda t: t.gettext("Leadership question {id} · {theme}").format(
                id=q.id, theme=q.theme_for(t.language)
            )
        )
    ]
    # Welsh first, then English, for a channel that has both.
    shown: set[str] = set()
    for one in t.languages():
        if (text := q.text_for(one.language)) not in shown:  # a set without Welsh: once
            shown.add(text)
            lines.append(_wrap(text))
        lines.append(_wrap(one.gettext(content.invitation)))
    lines.append(
        "  "
        + t.each(lambda t: t.gettext("Source: {title}").format(title=content.title_for(t.language)))
        + f" <{q.source_url}>"
    )
    return "\n".join(lines)


@render_text.register
def _(content: Nudge) -> str:
    t = translator(content.language)
    return "\n".join(_wrap(one.gettext(content.text), "") for one in t.languages())


@render_text.register
def _(content: Notice) -> str:
    t = translator(content.language)
    return "\n".join(_wrap(content.text_in(one), "") for one in t.languages())


@render_text.register
def _(content: FeedAlert) -> str:
    t = translator(content.language)
    lines = [
        t.gettext("New Socitm report: {title}").format(title=content.title),
        f"  {content.source}",
    ]
    if content.published:
        lines[-1] += f" · {t.format_date(content.published.date(), 'dd MMM y')}"
    if content.summary:
        lines.append(_wrap(content.summary))
    if content.related_question:
        q = content.related_question
        for one in t.languages():
            lines.append(
                "  "
                + one.gettext("Related to question {id}: {text}").format(
                    id=q.id, text=q.text_for(one.language)
                )
            )
    lines.append(f"  {content.link}")
    return "\n".join(lines)


@render_text.register
def _(content: DigestPost) -> str:
    return digest_render.render_text(content.digest, translator(content.language))
