"""Block Kit for a digest, split to fit Slack's limits. Pure: a `Digest` in, message dicts out.

`digest_messages` returns one or more `{"text": fallback, "blocks": [...]}`. The first is the
head, posted in the channel; the rest continue the digest and go in the head's thread, in
order. Nothing is ever cut: a reply longer than a section continues in the next section, and
the next message.

Limits kept (Block Kit reference): at most 50 blocks a message, section text at most 3,000
characters, header text at most 150. Slack also rejects a message whose blocks hold too much
text in total (`msg_blocks_too_long`); the limit is undocumented and has been seen to bite
between roughly 11,000 and 13,300 characters (slackapi/bolt-js issues #2509 and #2867), so each
message here stays under a deliberately lower budget. Lengths are counted in UTF-16 code
units, which is never less than Slack's count whichever way it counts.

Untrusted text (replies, names, question text) is escaped with `escape_mrkdwn` and every mrkdwn
text object is `verbatim: true` (`mrkdwn_text`), so a bare URL or @channel in a reply stays text;
the <!date^…> and <url|label> sequences written here still render.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from typing import Any

from bot.domain.digest import Digest, DigestQuestion, DigestReply
from bot.domain.digest_render import (
    ALL_ASKED,
    EDITED,
    NO_QUESTION,
    NO_REPLIES,
    OPEN_THREAD,
    THEMES_EXPLAINED,
    THEMES_HEADING,
    asked_line,
    clean_text,
    format_share,
    format_when,
    incomplete_note,
    open_reply_label,
    question_stats,
    question_text,
    question_theme,
    safe_url,
    summary_line,
    theme_counts,
    title,
)
from bot.domain.language import ENGLISH, Translator
from bot.platforms.slack.blocks import SlackMessage, escape_mrkdwn, mrkdwn_text

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
MESSAGE_TEXT_BUDGET = 8000
"""Total text of one message's blocks; well under the ~11,000+ where Slack starts refusing."""
NAME_LIMIT = 200
"""Display names are clipped to this (Slack's own are at most 80); reply text never is."""

Block = dict[str, Any]


def slack_len(text: str) -> int:
    """Length in UTF-16 code units (an emoji counts 2): an upper bound on Slack's count."""
    return len(text.encode("utf-16-le")) // 2


@cache
def _cost(char: str) -> int:
    """Length of `char` once escaped for mrkdwn, in UTF-16 code units."""
    return slack_len(escape_mrkdwn(char))


def split_text(text: str, limit: int, first_limit: int | None = None) -> list[str]:
    """Split raw `text` into pieces whose mrkdwn-escaped length fits `limit` (the first piece
    `first_limit`). Joined, the pieces are exactly `text`. Cuts after a newline or space in
    the second half of a piece when there is one, so words stay whole."""
    if slack_len(escape_mrkdwn(text)) <= (limit if first_limit is None else first_limit):
        return [text]  # the common case, without the character-by-character walk
    pieces: list[str] = []
    budget = limit if first_limit is None else first_limit
    start, n = 0, len(text)
    while True:
        cost, end, last_break = 0, start, -1
        while end < n:
            step = _cost(text[end])
            if cost + step > budget:
                break
            cost += step
            end += 1
            if text[end - 1] in "\n ":
                last_break = end
        if end >= n:
            pieces.append(text[start:])
            return pieces
        if end == start:
            # Not even one character fits: only possible for a tiny first budget.
            if pieces or budget == limit:
                raise ValueError("limit too small to make progress")
            pieces.append("")
            budget = limit
            continue
        if last_break > start + (end - start) // 2:
            end = last_break
        pieces.append(text[start:end])
        start, budget = end, limit


def _clip(text: str, limit: int) -> str:
    """For labels we own (headers, names), not for reply text: clip with an ellipsis."""
    if slack_len(text) <= limit:
        return text
    text = text[:limit]
    while slack_len(text) > limit - 1:
        text = text[:-1]
    return text + "…"


def _date(when: datetime, tz: tzinfo, t: Translator = ENGLISH) -> str:
    # Slack shows <!date^…> in each reader's own time zone, but only in the reader's own
    # Slack language, which is English for most: a Welsh channel gets Babel's Welsh date
    # instead. In English the part after | is the fallback for clients that cannot.
    if t.language != "en":
        return escape_mrkdwn(format_when(when, tz, t=t))
    token = "{date_short_pretty} at {time}"
    return f"<!date^{int(when.timestamp())}^{token}|{format_when(when, tz)}>"


def _section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn_text(text)}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn_text(text)]}


def _block_len(block: Block) -> int:
    if block["type"] in ("section", "header"):
        return slack_len(block["text"]["text"])
    if block["type"] == "context":
        return sum(slack_len(element.get("text", "")) for element in block["elements"])
    return 0


def _split_escaped(text: str, limit: int) -> list[str]:
    """Split already-escaped mrkdwn into pieces of at most `limit`, never inside an entity."""
    pieces: list[str] = []
    while slack_len(text) > limit:
        cut = limit
        while slack_len(text[:cut]) > limit:
            cut -= 1
        amp = text.rfind("&", max(0, cut - 4), cut)
        if amp != -1 and ";" not in text[amp:cut]:
            cut = amp  # "&amp;" and friends are at most 5 long: keep them whole
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


def _chunk_lines(lines: Iterable[str], limit: int) -> list[str]:
    """Join escaped lines into texts of at most `limit`; a line longer than that is split."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        for piece in _split_escaped(line, limit):
            joined = f"{current}\n{piece}" if current else piece
            if current and slack_len(joined) > limit:
                chunks.append(current)
                current = piece
            else:
                current = joined
    if current:
        chunks.append(current)
    return chunks


# ---------------------------------------------------------------------------------- the head


def _summary(digest: Digest, t: Translator) -> str:
    def one(t: Translator) -> str:
        if digest.reply_count == 0:
            return "*" + t.gettext("No replies yet.") + "*"
        replies = t.ngettext("{count} reply", "{count} replies", digest.reply_count)
        people = t.ngettext("{count} person", "{count} people", digest.participants)
        text = t.gettext("{replies} from {people}").format(
            replies=replies.format(count=f"*{digest.reply_count}*"),
            people=people.format(count=f"*{digest.participants}*"),
        )
        share = format_share(digest.share)
        if share is not None and digest.member_count:
            members = t.ngettext("{count} member", "{count} members", digest.member_count)
            text += t.gettext(" · {share} of the channel's {members} took part").format(
                share=f"*{escape_mrkdwn(share)}*",
                members=members.format(count=digest.member_count),
            )
        return text

    return t.each(one, "\n")


def _question_blocks(item: DigestQuestion, tz: tzinfo, t: Translator) -> list[Block]:
    q = item.question
    lines = [f"*{escape_mrkdwn(q.id)} · {escape_mrkdwn(clean_text(question_theme(q, t)))}*"]
    lines += [">" + escape_mrkdwn(line) for line in clean_text(question_text(q, t)).split("\n")]
    blocks = [_section(text) for text in _chunk_lines(lines, SECTION_LIMIT)]
    if t.language == "en":
        meta = f"Asked {_date(item.posted_at, tz)} · {escape_mrkdwn(question_stats(item))}"
    else:
        meta = escape_mrkdwn(asked_line(item, tz, t))
    link = safe_url(item.link)
    if link:
        meta += f" · <{escape_mrkdwn(link)}|{escape_mrkdwn(t.gettext(OPEN_THREAD))}>"
    blocks.append(_context(meta))
    blocks += _theme_blocks(item, t)
    if not item.replies:
        blocks.append(_section(f"_{t.gettext(NO_REPLIES)}_"))
    return blocks


def _theme_blocks(item: DigestQuestion, t: Translator) -> list[Block]:
    """What people said: a heading, then one section a theme (its quote is at most
    `themes.QUOTE_CHARS` long, so a section always holds it)."""
    if not item.themes:
        return []
    heading = t.gettext(THEMES_HEADING)
    blocks = [_section(f"*{heading}*"), _context(escape_mrkdwn(t.gettext(THEMES_EXPLAINED)))]
    for theme in item.themes:
        counts = theme_counts(theme, t)
        text = f"• *{escape_mrkdwn(clean_text(theme.phrase))}* ({counts})\n"
        text += ">“" + escape_mrkdwn(clean_text(theme.quote)).replace("\n", " ") + "”"
        link = safe_url(theme.link)
        if link:
            text += f"\n<{escape_mrkdwn(link)}|{escape_mrkdwn(open_reply_label(theme, t))}>"
        blocks.append(_section(text))
    return blocks


def _head_blocks(digest: Digest, t: Translator) -> tuple[list[Block], list[Block]]:
    """The head, as (top, tail): a single-message digest puts the replies between the two."""
    tz = digest.window.tz
    header = _clip(clean_text(title(digest, t)), HEADER_LIMIT)
    window = t.each(
        lambda t: t.gettext("{start} to {end}").format(
            start=_date(digest.window.start, tz, t), end=_date(digest.window.end, tz, t)
        )
    )
    top: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        _context(window),
        _section(_summary(digest, t)),
    ]
    note = None if digest.complete else t.each(lambda t: incomplete_note(digest, t) or "", " ")
    if note:
        top.append(_section(f":warning: _{escape_mrkdwn(note)}_"))
    if not digest.questions:
        top.append(_section(f"_{t.gettext(NO_QUESTION)}_"))
    for item in digest.questions:
        top += _question_blocks(item, tz, t)
    tail: list[Block] = [{"type": "divider"}]
    if digest.not_yet_asked:
        count = len(digest.not_yet_asked)
        heading = t.gettext("Not yet asked here ({count})").format(count=count)
        lines = [f"*{heading}*"]
        lines += [
            f"• *{escape_mrkdwn(q.id)}* {escape_mrkdwn(clean_text(question_text(q, t, ' / ')))}"
            for q in digest.not_yet_asked
        ]
        tail += [_section(text) for text in _chunk_lines(lines, SECTION_LIMIT)]
    else:
        tail.append(_context(t.gettext(ALL_ASKED)))
    weekly = " ".join(t.format_number(p.participants) for p in digest.participation)
    tail.append(
        _context(
            t.gettext("People taking part per week, last 12 weeks: {weekly}").format(weekly=weekly)
        )
    )
    return top, tail


# ------------------------------------------------------------------------------- the replies


@dataclass(frozen=True, slots=True)
class _Unit:
    block: Block
    question_id: str
    starts_question: bool


def _reply_sections(reply: DigestReply, tz: tzinfo, t: Translator) -> list[str]:
    name = escape_mrkdwn(_clip(clean_text(reply.user_name), NAME_LIMIT))
    # One date, in the first language: a reply's time reads the same in Welsh and English.
    head = f"*{name}* · {_date(reply.posted_at, tz, t.languages()[0])}"
    if reply.edited:
        head += f" · _{t.gettext(EDITED)}_"
    head += "\n"
    pieces = split_text(reply.text, SECTION_LIMIT, SECTION_LIMIT - slack_len(head))
    # The first section carries the author; the rest are the same reply, continued.
    return [head + escape_mrkdwn(pieces[0])] + [escape_mrkdwn(p) for p in pieces[1:]]


def _body_units(digest: Digest, t: Translator) -> list[_Unit]:
    tz = digest.window.tz
    units: list[_Unit] = []
    for item in digest.questions:
        if not item.replies:
            continue
        qid = item.question.id
        intro = t.gettext("*Replies to {id}* ({count})").format(
            id=escape_mrkdwn(qid), count=item.reply_count
        )
        units.append(_Unit(_section(intro), qid, True))
        for reply in item.replies:
            units += [_Unit(_section(x), qid, False) for x in _reply_sections(reply, tz, t)]
    return units


def _continued(question_id: str, t: Translator) -> Block:
    return _context(t.gettext("Replies to {id}, continued").format(id=escape_mrkdwn(question_id)))


def _pack(blocks: list[Block], reserve: Block | None = None) -> list[list[Block]]:
    """Fill messages in order; `reserve` is kept room for in the first one (and put last)."""
    packs: list[list[Block]] = []
    current: list[Block] = []
    max_blocks, budget = MAX_BLOCKS, MESSAGE_TEXT_BUDGET
    if reserve is not None:
        max_blocks, budget = MAX_BLOCKS - 1, MESSAGE_TEXT_BUDGET - _block_len(reserve)
    used = 0
    for block in blocks:
        size = _block_len(block)
        if current and (len(current) >= max_blocks or used + size > budget):
            packs.append(current)
            current, used = [], 0
            max_blocks, budget = MAX_BLOCKS, MESSAGE_TEXT_BUDGET
        current.append(block)
        used += size
    if current:
        packs.append(current)
    if reserve is not None:
        packs[0].append(reserve)
    return packs


def _pack_units(units: list[_Unit], t: Translator) -> list[list[Block]]:
    """Like `_pack`, but a message that starts mid-question opens with a "continued" line,
    so a reader landing on it in the thread knows which question it answers."""
    packs: list[list[Block]] = []
    current: list[Block] = []
    used = 0
    for unit in units:
        size = _block_len(unit.block)
        if current and (len(current) >= MAX_BLOCKS or used + size > MESSAGE_TEXT_BUDGET):
            packs.append(current)
            current, used = [], 0
        if not current and not unit.starts_question:
            marker = _continued(unit.question_id, t)
            current.append(marker)
            used += _block_len(marker)
        current.append(unit.block)
        used += size
    if current:
        packs.append(current)
    return packs


def _fits(blocks: list[Block]) -> bool:
    return len(blocks) <= MAX_BLOCKS and sum(map(_block_len, blocks)) <= MESSAGE_TEXT_BUDGET


def digest_messages(digest: Digest, t: Translator = ENGLISH) -> list[SlackMessage]:
    """The digest as Slack messages: `[head, *continuations]`, continuations in the head's
    thread. A small digest is a single message holding everything."""
    label = escape_mrkdwn(clean_text(digest.channel.label))
    fallback = t.each(
        lambda t: t.gettext("Leadership digest for {channel}: {summary}").format(
            channel=label, summary=escape_mrkdwn(summary_line(digest, t))
        )
    )
    top, tail = _head_blocks(digest, t)
    units = _body_units(digest, t)
    body = [unit.block for unit in units]

    if _fits(top + body + tail):
        return [{"text": fallback, "blocks": top + body + tail}]

    head_packs = _pack(
        top + tail, reserve=_context(t.gettext("The digest continues in this thread."))
    )
    body_packs = _pack_units(units, t) if units else []
    packs = head_packs + body_packs
    messages: list[SlackMessage] = [{"text": fallback, "blocks": head_packs[0]}]
    for number, blocks in enumerate(packs[1:], start=2):
        text = t.gettext("Leadership digest for {channel}, continued ({number} of {total})").format(
            channel=label, number=number, total=len(packs)
        )
        messages.append({"text": text, "blocks": blocks})
    return messages
