"""A digest as Adaptive Cards, split to fit Teams' message size. Pure: a DigestPost in, cards out.

`digest_cards` returns one or more cards. The first is the head, posted as a new thread in the
channel; the rest continue it, in order, as replies in the head's thread. The participation
chart is a PNG embedded as a data URI Image (bots cannot upload files to a channel), with alt
text, packed like any other element. Nothing is cut: a long reply continues in the next
element and the next message.

Teams accepts a message of about 100 KB (older documents say 40 KB), counted on the whole
activity JSON. Each card here stays under `MESSAGE_BUDGET_BYTES` of JSON, measured, not
estimated, with room left for the activity envelope and the tag.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import tzinfo

from bot.domain.content import DigestPost
from bot.domain.digest import Digest, DigestQuestion, DigestReply
from bot.domain.digest_render import (
    ALL_ASKED,
    EDITED,
    NO_QUESTION,
    NO_REPLIES,
    THEMES_EXPLAINED,
    THEMES_HEADING,
    asked_line,
    clean_text,
    format_when,
    open_reply_label,
    question_text,
    question_theme,
    summary_line,
    theme_counts,
    window_line,
)
from bot.domain.language import ENGLISH, Translator, translator
from bot.platforms.teams.cards import (
    Card,
    Element,
    card,
    escape_markdown,
    heading,
    open_url,
    plain_text,
    text_block,
    truncate,
)

MESSAGE_BUDGET_BYTES = 28_000
"""JSON bytes of one card's body: well under Teams' ~100 KB (and under the older 40 KB)."""
ENVELOPE_ALLOWANCE_BYTES = 2_000
"""The card's own fields, the tag and the activity around the body."""
PIECE_CHARS = 4_000
"""A reply longer than this continues in further elements (a card element has no hard cap,
but small elements pack well and keep every message under budget)."""
NAME_LIMIT = 200
MAX_ACTIONS = 6  # "Open the thread" buttons on the head


def _size(element: Element) -> int:
    return len(json.dumps(element, ensure_ascii=False).encode())


@dataclass(frozen=True, slots=True)
class _Unit:
    element: Element
    question_id: str | None  # the question whose replies this continues (None: not a reply)
    starts_question: bool = False


def _split(text: str, limit: int = PIECE_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, cut after a newline or space where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


# ---------------------------------------------------------------------------------- the head


def _question_elements(item: DigestQuestion, tz: tzinfo, t: Translator) -> list[Element]:
    q = item.question
    elements = [
        heading(
            f"{escape_markdown(q.id)} · {escape_markdown(question_theme(q, t))}", spacing="Large"
        ),
        plain_text(question_text(q, t), italic=True),
        text_block(escape_markdown(asked_line(item, tz, t)), isSubtle=True, size="Small"),
    ]
    elements += _theme_elements(item, t)
    if not item.replies:
        elements.append(text_block(f"_{escape_markdown(t.gettext(NO_REPLIES))}_"))
    return elements


def _theme_elements(item: DigestQuestion, t: Translator) -> list[Element]:
    """What people said: a heading, then per theme its phrase, the quote (a TextRun: never
    parsed as markdown) and a button to open the quoted reply."""
    if not item.themes:
        return []
    elements: list[Element] = [
        heading(escape_markdown(t.gettext(THEMES_HEADING)), spacing="Medium"),
        text_block(escape_markdown(t.gettext(THEMES_EXPLAINED)), isSubtle=True, size="Small"),
    ]
    for theme in item.themes:
        counts = escape_markdown(theme_counts(theme, t))
        elements += [
            text_block(f"**{escape_markdown(theme.phrase)}** ({counts})"),
            plain_text(f"“{theme.quote}”", italic=True),
        ]
        button = open_url(theme.link, open_reply_label(theme, t))
        if button is not None:
            elements.append({"type": "ActionSet", "actions": [button]})
    return elements


def _head(digest: Digest, t: Translator) -> tuple[list[Element], list[Element]]:
    """(top, tail): a digest that fits one message puts its replies between the two."""
    tz = digest.window.tz
    top: list[Element] = [
        heading(
            t.gettext("Leadership digest: {channel}").format(
                channel=escape_markdown(clean_text(digest.channel.label))
            ),
            size="Large",
        ),
        text_block(escape_markdown(window_line(digest, t)), isSubtle=True),
        text_block(escape_markdown(summary_line(digest, t)), weight="Bolder"),
    ]
    if not digest.questions:
        top.append(text_block(f"_{escape_markdown(t.gettext(NO_QUESTION))}_"))
    for item in digest.questions:
        top += _question_elements(item, tz, t)
    tail: list[Element] = []
    if digest.not_yet_asked:
        count = len(digest.not_yet_asked)
        tail.append(
            heading(
                escape_markdown(t.gettext("Not yet asked here ({count})").format(count=count)),
                separator=True,
                spacing="Large",
            )
        )
        for q in digest.not_yet_asked:
            tail.append(plain_text(f"{q.id}  {question_text(q, t, ' / ')}"))
    else:
        tail.append(
            text_block(escape_markdown(t.gettext(ALL_ASKED)), isSubtle=True, separator=True)
        )
    weekly = " ".join(t.format_number(p.participants) for p in digest.participation)
    tail.append(
        text_block(
            t.gettext("People taking part per week, last 12 weeks: {weekly}").format(weekly=weekly),
            isSubtle=True,
            size="Small",
        )
    )
    return top, tail


# ------------------------------------------------------------------------------- the replies


def _reply_units(reply: DigestReply, tz: tzinfo, qid: str, t: Translator) -> list[_Unit]:
    name = truncate(clean_text(reply.user_name), NAME_LIMIT)
    # One date, in the first language: a reply's time reads the same in Welsh and English.
    when = format_when(reply.posted_at, tz, t=t.languages()[0])
    head = f"**{escape_markdown(name)}** · {escape_markdown(when)}"
    if reply.edited:
        head += f" · _{escape_markdown(t.gettext(EDITED))}_"
    units = [_Unit(text_block(head, spacing="Medium"), qid)]
    units += [_Unit(plain_text(piece), qid) for piece in _split(clean_text(reply.text))]
    return units


def _body_units(digest: Digest, t: Translator) -> list[_Unit]:
    tz = digest.window.tz
    units: list[_Unit] = []
    for item in digest.questions:
        if not item.replies:
            continue
        qid = item.question.id
        intro = heading(
            t.gettext("Replies to {id} ({count})").format(
                id=escape_markdown(qid), count=item.reply_count
            ),
            separator=True,
            spacing="Large",
        )
        units.append(_Unit(intro, qid, starts_question=True))
        for reply in item.replies:
            units += _reply_units(reply, tz, qid, t)
    return units


def _chart(post: DigestPost, t: Translator) -> Element:
    if not post.chart_png:
        return text_block(escape_markdown(post.chart_alt), isSubtle=True, size="Small")
    data = base64.b64encode(post.chart_png).decode("ascii")
    image: Element = {
        "type": "Image",
        "url": f"data:image/png;base64,{data}",
        "altText": clean_text(post.chart_alt),
        "size": "Stretch",
    }
    if _size(image) > MESSAGE_BUDGET_BYTES - ENVELOPE_ALLOWANCE_BYTES:
        # Never silently: say it is missing, and give its words.
        return text_block(
            escape_markdown(t.gettext("The participation chart is too large to show here.") + " ")
            + escape_markdown(post.chart_alt),
            isSubtle=True,
        )
    return image


# ---------------------------------------------------------------------------------- packing


def _pack(units: list[_Unit], budget: int, t: Translator = ENGLISH) -> list[list[Element]]:
    """Fill messages in order; a message starting mid-question says which question."""
    packs: list[list[Element]] = []
    current: list[Element] = []
    used = 0
    for unit in units:
        size = _size(unit.element)
        if current and used + size > budget:
            packs.append(current)
            current, used = [], 0
        if not current and unit.question_id is not None and not unit.starts_question:
            marker = text_block(
                t.gettext("Replies to {id}, continued").format(
                    id=escape_markdown(unit.question_id)
                ),
                isSubtle=True,
            )
            current.append(marker)
            used += _size(marker)
        current.append(unit.element)
        used += size
    if current:
        packs.append(current)
    return packs


def digest_cards(post: DigestPost) -> list[Card]:
    """The digest as cards: `[head, *continuations]`. A small digest is one card."""
    digest = post.digest
    t = translator(post.language)
    budget = MESSAGE_BUDGET_BYTES - ENVELOPE_ALLOWANCE_BYTES
    label = clean_text(digest.channel.label)
    fallback = t.each(
        lambda t: t.gettext("Leadership digest for {channel}: {summary}").format(
            channel=label, summary=summary_line(digest, t)
        )
    )
    top, tail = _head(digest, t)
    body = _body_units(digest, t)
    chart = _Unit(_chart(post, t), None)
    actions = [
        open_url(item.link, t.gettext("Open the {id} thread").format(id=item.question.id))
        for item in digest.questions[:MAX_ACTIONS]
    ]

    everything = top + [u.element for u in body] + tail + [chart.element]
    if sum(map(_size, everything)) <= budget:
        return [card(everything, actions=actions, fallback=fallback)]

    note = text_block(t.gettext("The digest continues in this thread."), isSubtle=True)
    head_units = [_Unit(e, None) for e in top + tail]
    head_packs = _pack(head_units, budget - _size(note), t)
    head_packs[0].append(note)
    packs = head_packs + _pack([*body, chart], budget, t)
    total = len(packs)
    cards = [card(packs[0], actions=actions, fallback=fallback)]
    for number, elements in enumerate(packs[1:], start=2):
        continued = t.gettext("Leadership digest for {channel}, continued ({number} of {total})")
        heading = text_block(
            continued.format(channel=escape_markdown(label), number=number, total=total),
            isSubtle=True,
            size="Small",
        )
        cards.append(
            card(
                [heading, *elements],
                fallback=continued.format(channel=label, number=number, total=total),
            )
        )
    return cards
