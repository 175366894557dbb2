"""Plain-text rendering of bot content for the terminal."""

from __future__ import annotations

import textwrap
from functools import singledispatch
from typing import Any

from bot.domain import digest_render
from bot.domain.content import DigestPost, FeedAlert, Notice, Nudge, QuestionPost

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
    return "\n".join(
        [
            f"Leadership question {q.id} · {q.theme}",
            _wrap(q.text),
            _wrap(content.invitation),
            f"  Source: {content.report_title} <{q.source_url}>",
        ]
    )


@render_text.register
def _(content: Nudge) -> str:
    return _wrap(content.text, "")


@render_text.register
def _(content: Notice) -> str:
    return _wrap(content.text, "")


@render_text.register
def _(content: FeedAlert) -> str:
    lines = [f"New Socitm report: {content.title}", f"  {content.source}"]
    if content.published:
        lines[-1] += f" · {content.published:%d %b %Y}"
    if content.summary:
        lines.append(_wrap(content.summary))
    if content.related_question:
        q = content.related_question
        lines.append(f"  Relates to {q.id}: {q.text}")
    lines.append(f"  {content.link}")
    return "\n".join(lines)


@render_text.register
def _(content: DigestPost) -> str:
    return digest_render.render_text(content.digest)
