"""Block Kit rendering, with a plain-text fallback, for the bot's content. Pure functions.

Everything that comes from outside (question text from a set file, feed titles and summaries,
user names) goes through `escape_mrkdwn`, so it cannot make Slack mention @channel or a user,
or show a link we did not build. Links are built here, only for http(s) URLs. Every mrkdwn text
object says `verbatim: true`, so Slack does not auto-link a bare URL or parse @everyone /
@channel / a #channel name in it; the links and dates we write ourselves (<url|label>) still
work.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypedDict
from urllib.parse import quote, urlsplit

from bot.domain.content import FeedAlert, Notice, Nudge, QuestionPost
from bot.domain.digest_render import question_text, question_theme
from bot.domain.language import ENGLISH, Translator, translator

SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
CONTEXT_TEXT_LIMIT = 3000
MAX_BLOCKS = 50
FALLBACK_LIMIT = 3000  # Slack accepts 40k; notifications show far less
SUMMARY_LIMIT = 600
ELLIPSIS = "…"

Block = dict[str, Any]


class SlackMessage(TypedDict):
    text: str
    blocks: list[Block]


# ----------------------------------------------------------------------------- text safety


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control sequences (order matters: & first)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ENTITY_TAIL = re.compile(r"&[a-z]{0,4}$")  # a cut-off &amp; / &lt; / &gt;


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters with an ellipsis, never splitting an &amp;-style entity."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ELLIPSIS))]
    cut = _ENTITY_TAIL.sub("", cut)
    return cut.rstrip() + ELLIPSIS


def safe_url(url: str | None) -> str | None:
    """The URL if it is http(s) with a host, made safe to put inside <url|label>; else None."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    # Percent-encode what would end the link or start a control sequence; keep the rest.
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def link(url: str | None, label: str) -> str:
    """An mrkdwn link, or just the escaped label when the URL is not safe to link."""
    href = safe_url(url)
    text = escape_mrkdwn(label)
    if href is None:
        return text
    return f"<{escape_mrkdwn(href)}|{text}>"


def one_paragraph(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """The first paragraph, whitespace collapsed, capped (unescaped)."""
    first = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    return truncate(" ".join(first.split()), limit)


def format_date(when: datetime, t: Translator = ENGLISH) -> str:
    """E.g. "7 April 2025" ("7 Ebrill 2025")."""
    return t.format_date(when.date(), "d MMMM y")


# ----------------------------------------------------------------------------- blocks


def mrkdwn_text(text: str) -> dict[str, Any]:
    """A text object of already-escaped mrkdwn, shown verbatim: no auto-linking or parsing."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, HEADER_TEXT_LIMIT), "emoji": True},
    }


def section(mrkdwn: str) -> Block:
    """A section of already-escaped mrkdwn."""
    return {
        "type": "section",
        "text": mrkdwn_text(truncate(mrkdwn, SECTION_TEXT_LIMIT)),
    }


def context(mrkdwn: str) -> Block:
    return {
        "type": "context",
        "elements": [mrkdwn_text(truncate(mrkdwn, CONTEXT_TEXT_LIMIT))],
    }


def sections(mrkdwn: str, max_blocks: int = MAX_BLOCKS) -> list[Block]:
    """Long escaped text over several sections, split at line breaks where possible; what
    does not fit in `max_blocks` is cut with an ellipsis."""
    chunks: list[str] = []
    rest = mrkdwn
    while rest:
        if len(rest) <= SECTION_TEXT_LIMIT or len(chunks) == max_blocks - 1:
            chunks.append(truncate(rest, SECTION_TEXT_LIMIT))
            break
        window = rest[:SECTION_TEXT_LIMIT]
        cut = window.rfind("\n")
        if cut < SECTION_TEXT_LIMIT // 2:
            cut = len(_ENTITY_TAIL.sub("", window))
        chunks.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    return [section(chunk) for chunk in chunks]


def message(text: str, blocks: list[Block]) -> SlackMessage:
    return {"text": truncate(text, FALLBACK_LIMIT), "blocks": blocks[:MAX_BLOCKS]}


# ----------------------------------------------------------------------------- content


def render_question(post: QuestionPost) -> SlackMessage:
    """The question, in the channel's language; for `both`, the Welsh question and its
    invitation come first, then the English."""
    q = post.question
    t = translator(post.language)
    blocks = [header(t.gettext("{id} · This week's leadership question").format(id=q.id))]
    shown: set[str] = set()
    for one in t.languages():
        if (text := q.text_for(one.language)) not in shown:  # a set without Welsh: once
            shown.add(text)
            blocks.append(section(f"*{escape_mrkdwn(text)}*"))
        blocks.append(section(escape_mrkdwn(one.gettext(post.invitation))))
    blocks.append(
        context(
            t.each(
                lambda t: t.gettext("Theme: {theme} · Source: {source}").format(
                    theme=escape_mrkdwn(question_theme(q, t)),
                    source=link(q.source_url, post.title_for(t.language)),
                )
            )
        )
    )
    text = f"{q.id}: " + t.each(
        lambda t: (
            f"{escape_mrkdwn(question_text(q, t))} {escape_mrkdwn(t.gettext(post.invitation))}"
        ),
        " ",
    )
    return message(text, blocks)


def render_nudge(nudge: Nudge) -> SlackMessage:
    t = translator(nudge.language)
    body = t.each(lambda t: escape_mrkdwn(t.gettext(nudge.text)), "\n\n")
    question = t.gettext("Question {id}").format(id=escape_mrkdwn(nudge.question_id))
    return message(body, [section(body), context(question)])


def render_notice(notice: Notice) -> SlackMessage:
    t = translator(notice.language)
    body = t.each(lambda t: escape_mrkdwn(notice.text_in(t)), "\n\n")
    return message(body, sections(body))


def render_alert(alert: FeedAlert) -> SlackMessage:
    t = translator(alert.language)
    title = " ".join(alert.title.split()) or t.gettext("Untitled")
    meta = escape_mrkdwn(alert.source)
    if alert.published is not None:
        meta += f" · {format_date(alert.published, t)}"
    blocks = [
        header(t.gettext("New report")),
        section(f"*{link(alert.link, truncate(title, 500))}*"),
        context(meta),
    ]
    summary = one_paragraph(alert.summary)
    if summary:
        blocks.append(section(escape_mrkdwn(summary)))
    if alert.related_question is not None:
        q = alert.related_question
        blocks.append(
            context(
                t.each(
                    lambda t: t.gettext("Related to question {id}: {text}").format(
                        id=escape_mrkdwn(q.id), text=escape_mrkdwn(q.text_for(t.language))
                    ),
                    "\n",
                )
            )
        )
    href = safe_url(alert.link)
    if href is not None:
        blocks.append(section(link(href, t.gettext("Read the report"))))
    text = t.gettext("New report: {title} ({source})").format(
        title=escape_mrkdwn(title), source=escape_mrkdwn(alert.source)
    )
    if href is not None:
        text += f" {escape_mrkdwn(href)}"
    return message(text, blocks)


def render(content: object) -> SlackMessage:
    """Any content the bot sends, as a Slack message. A pre-rendered {"text", "blocks"} dict
    (from another feature's Block Kit) passes through after a shape check."""
    match content:
        case QuestionPost():
            return render_question(content)
        case Nudge():
            return render_nudge(content)
        case Notice():
            return render_notice(content)
        case FeedAlert():
            return render_alert(content)
        case {"text": str() as text, "blocks": list() as blocks}:
            if len(blocks) > MAX_BLOCKS or not all(isinstance(b, dict) for b in blocks):
                raise ValueError(f"a Slack message holds at most {MAX_BLOCKS} block objects")
            if not text.strip():
                # Screen readers and notifications read `text`, not the blocks.
                raise ValueError("a Slack message needs a text fallback beside its blocks")
            return {"text": text, "blocks": blocks}
        case str():
            return render_notice(Notice(content))
    raise TypeError(f"cannot render {type(content).__name__} for Slack")
