"""Adaptive Cards (schema 1.5) for the bot's content, and the tag that finds a post again. Pure.

Untrusted text (feed titles and summaries, replies, names) is inert:
- it goes into TextRuns of a RichTextBlock, which Adaptive Cards never parse as markdown;
- where it must share a TextBlock (which does parse a markdown subset) with our own words, it
  is escaped first (`escape_markdown`), so it cannot make a link, an image or emphasis;
- a card mentions someone only through `msteams.entities`, which the bot never sends, so an
  `<at>…</at>` in a feed title or a reply shows as text;
- links are only ever Action.OpenUrl buttons the bot builds, for http(s) URLs.

Every card carries its outbox key in a hidden TextBlock (`KEY_ELEMENT_ID`), and a post of
several messages its number of parts (`PARTS_ELEMENT_ID`): Graph returns a card's JSON, so
`find_post` can tell which message is which post (see `read_tag`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.domain.content import FeedAlert, Notice, Nudge, QuestionPost
from bot.domain.digest_render import clean_text, question_text, question_theme, safe_url
from bot.domain.language import ENGLISH, Translator, translator

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
KEY_ELEMENT_ID = "leaderbot-key"
PARTS_ELEMENT_ID = "leaderbot-parts"
SUMMARY_LIMIT = 600  # a feed item's summary: its first paragraph, capped
TITLE_LIMIT = 300
FALLBACK_LIMIT = 300  # the notification preview (activity summary, card fallbackText)
ELLIPSIS = "…"

Element = dict[str, Any]
Card = dict[str, Any]

# Characters that make markdown anywhere in a TextBlock: emphasis, links, images, code,
# tables, HTML-ish tags, entities.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>!|&~])")
# ...and only at the start of a line: headings, lists, quotes ("1." too).
_MD_LINE_MARK = re.compile(r"^(\s*)([#+\-])", re.MULTILINE)
_MD_LINE_NUMBER = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """Backslash-escape markdown specials, so untrusted text in a TextBlock stays text."""
    escaped = _MD_SPECIAL.sub(r"\\\1", clean_text(text))
    escaped = _MD_LINE_MARK.sub(r"\1\\\2", escaped)
    return _MD_LINE_NUMBER.sub(r"\1\\\2", escaped)


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ELLIPSIS))].rstrip() + ELLIPSIS


def one_paragraph(text: str, limit: int = SUMMARY_LIMIT) -> str:
    first = re.split(r"\n\s*\n", clean_text(text).strip(), maxsplit=1)[0]
    return truncate(" ".join(first.split()), limit)


# Our own TextBlock markdown, undone for previews and speech (see `markdown_to_plain`).
_MD_LINK = re.compile(r"(?<!\\)\[((?:\\.|[^\]\\])*)\]\([^)\s]*\)")
_MD_MARK = re.compile(r"(?<!\\)(?:\*\*|`)")
_MD_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()<>!|&~#+\-.])")


def markdown_to_plain(markdown: str) -> str:
    """A TextBlock's markdown (ours, untrusted parts escaped) as the words a reader sees: a
    link becomes its label, bold and code marks go, escaped characters are themselves. For
    the notification preview and speech, where markdown would be read out symbol by symbol."""
    text = _MD_LINK.sub(r"\1", markdown)
    text = _MD_MARK.sub("", text)
    return _MD_UNESCAPE.sub(r"\1", text)


def speech(text: str) -> str:
    """The card's `speak`: SSML, so plain text with &, < and > escaped."""
    return html.escape(plain_preview(text), quote=False)


def plain_preview(text: str) -> str:
    """For the notification preview: one line, no angle brackets, capped."""
    flat = " ".join(clean_text(text).split()).replace("<", "‹").replace(">", "›")
    return truncate(flat, FALLBACK_LIMIT)


def format_date(when: datetime, t: Translator = ENGLISH) -> str:
    """E.g. "7 April 2025" ("7 Ebrill 2025")."""
    return t.format_date(when.date(), "d MMMM y")


# ----------------------------------------------------------------------------- elements


def text_block(markdown: str, **style: Any) -> Element:
    """A TextBlock of our own words; anything untrusted in `markdown` is already escaped."""
    return {"type": "TextBlock", "text": markdown, "wrap": True, **style}


def heading(markdown: str, **style: Any) -> Element:
    """A TextBlock that screen readers announce as a heading (Adaptive Cards 1.5 `style`),
    so a reader can jump between the parts of a card."""
    return text_block(markdown, style="heading", weight="Bolder", **style)


def plain_text(text: str, **style: Any) -> Element:
    """Untrusted text, shown as typed: a TextRun is never parsed as markdown."""
    run: Element = {"type": "TextRun", "text": clean_text(text), **style}
    return {"type": "RichTextBlock", "inlines": [run]}


def open_url(url: str | None, title: str) -> Element | None:
    href = safe_url(url)
    if href is None:
        return None
    return {"type": "Action.OpenUrl", "title": title, "url": href}


def hidden(element_id: str, text: str) -> Element:
    return {"type": "TextBlock", "id": element_id, "text": text, "isVisible": False}


def card(body: list[Element], *, actions: Iterable[Element | None] = (), fallback: str) -> Card:
    if not fallback.strip():
        # The notification, a client that cannot show cards and a screen reader's summary.
        raise ValueError("a card needs a fallback text")
    shown = [a for a in actions if a is not None]
    result: Card = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body,
        # What a client that cannot show the card, a notification and a voice assistant
        # get instead (the activity's `summary` repeats fallbackText: see `activity`).
        "fallbackText": plain_preview(fallback),
        "speak": speech(fallback),
        "msteams": {"width": "full"},
    }
    if shown:
        result["actions"] = shown
    return result


def tag(card_json: Card, key: str, parts: int = 1) -> Card:
    """The card with its outbox key (and number of parts, for a post of several messages)."""
    body = [e for e in card_json["body"] if e.get("id") not in (KEY_ELEMENT_ID, PARTS_ELEMENT_ID)]
    body.append(hidden(KEY_ELEMENT_ID, key))
    if parts > 1:
        body.append(hidden(PARTS_ELEMENT_ID, str(parts)))
    return {**card_json, "body": body}


def read_tag(content: Any) -> tuple[str | None, int]:
    """(key, parts) of a card as Graph returns it (its JSON in a string) or as sent (a dict);
    (None, 1) for anything else."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            return None, 1
    if not isinstance(content, dict) or not isinstance(content.get("body"), list):
        return None, 1
    key: str | None = None
    parts = 1
    for element in content["body"]:
        if not isinstance(element, dict):
            continue
        if element.get("id") == KEY_ELEMENT_ID and isinstance(element.get("text"), str):
            key = element["text"]
        elif element.get("id") == PARTS_ELEMENT_ID:
            try:
                parts = max(1, int(element.get("text", 1)))
            except (TypeError, ValueError):
                parts = 1
    return key, parts


def activity(card_json: Card) -> dict[str, Any]:
    """A message activity carrying the card; `summary` is the notification's preview."""
    return {
        "type": "message",
        "summary": card_json["fallbackText"],
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": card_json}],
    }


# ----------------------------------------------------------------------------- content


def question_card(post: QuestionPost) -> Card:
    """The question, in the channel's language; for `both`, the Welsh question and its
    invitation come first, then the English."""
    q = post.question
    t = translator(post.language)
    body = [
        heading(
            escape_markdown(t.gettext("{id} · This week's leadership question").format(id=q.id)),
            size="Medium",
        )
    ]
    shown: set[str] = set()
    for one in t.languages():
        if (text := q.text_for(one.language)) not in shown:  # a set without Welsh: once
            shown.add(text)
            body.append(plain_text(text, weight="Bolder"))
        body.append(text_block(escape_markdown(one.gettext(post.invitation))))
    body.append(
        text_block(
            t.each(
                lambda t: t.gettext("Theme: {theme} · Source: {source}").format(
                    theme=escape_markdown(question_theme(q, t)),
                    source=escape_markdown(post.title_for(t.language)),
                )
            ),
            isSubtle=True,
            size="Small",
        )
    )
    return card(
        body,
        actions=[open_url(q.source_url, t.gettext("Read the report"))],
        fallback=f"{q.id}: {question_text(q, t, ' / ')}",
    )


def nudge_card(nudge: Nudge) -> Card:
    t = translator(nudge.language)
    body = [text_block(escape_markdown(one.gettext(nudge.text))) for one in t.languages()]
    question = t.gettext("Question {id}").format(id=escape_markdown(nudge.question_id))
    body.append(text_block(question, isSubtle=True, size="Small"))
    return card(body, fallback=t.gettext(nudge.text))


def notice_card(notice: Notice) -> Card:
    t = translator(notice.language)
    texts = [notice.text_in(one) for one in t.languages()]
    return card([plain_text(text) for text in texts], fallback=" / ".join(texts))


def alert_card(alert: FeedAlert) -> Card:
    t = translator(alert.language)
    untitled = t.gettext("Untitled")
    title = truncate(" ".join(clean_text(alert.title).split()) or untitled, TITLE_LIMIT)
    meta = escape_markdown(alert.source)
    if alert.published is not None:
        meta += f" · {format_date(alert.published, t)}"
    body: list[Element] = [
        heading(t.gettext("New report"), size="Medium"),
        plain_text(title, weight="Bolder"),
        text_block(meta, isSubtle=True, size="Small"),
    ]
    summary = one_paragraph(alert.summary)
    if summary:
        body.append(plain_text(summary))
    if alert.related_question is not None:
        q = alert.related_question
        for one in t.languages():
            related = one.gettext("Related to question {id}: {text}").format(
                id=escape_markdown(q.id), text=escape_markdown(q.text_for(one.language))
            )
            body.append(text_block(related, isSubtle=True, size="Small"))
    return card(
        body,
        actions=[open_url(alert.link, t.gettext("Read the report"))],
        fallback=t.gettext("New report: {title} ({source})").format(
            title=title, source=alert.source
        ),
    )


def render(content: object) -> Card:
    """Any single-message content as a card (a digest is several: see digest_cards)."""
    match content:
        case QuestionPost():
            return question_card(content)
        case Nudge():
            return nudge_card(content)
        case Notice():
            return notice_card(content)
        case FeedAlert():
            return alert_card(content)
        case str():
            return notice_card(Notice(content))
    raise TypeError(f"cannot render {type(content).__name__} for Teams")
