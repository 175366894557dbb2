"""Render a `Digest` as markdown, HTML, CSV, JSON or console text. Pure: strings in, strings out.

Reply text and names are untrusted. Each format escapes them its own way, and every
human-readable format also replaces terminal control characters, because `leaderbot digest`
prints straight to a terminal, where an escape sequence in a reply could rewrite the screen.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any, Literal, get_args

from bot.domain.digest import Digest, DigestQuestion, DigestReply, WeekParticipation
from bot.domain.themes import Theme

Format = Literal["markdown", "html", "csv", "json", "text"]
FORMATS: tuple[str, ...] = get_args(Format)

CSV_COLUMNS = (
    "question_id",
    "question_text",
    "posted_at",
    "user",
    "user_name",
    "text",
    "ts",
    "edited",
)

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# C0 controls except tab and newline, DEL, and C1 controls (0x9b is a one-byte CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Characters a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can
# start markup (emphasis, links, raw HTML, entities, code, tables, headings).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|&~])")


# ---------------------------------------------------------------------------- shared helpers


def clean_text(text: str) -> str:
    """Normalise line ends and replace control characters with U+FFFD."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("\ufffd", text)


def safe_url(url: str | None) -> str | None:
    """`url` if it is a plain http(s) link that cannot break out of markup, else None."""
    if not url or not url.startswith(("https://", "http://")):
        return None
    if any(c.isspace() or c in "<>\"'`|\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return None
    return url


def format_when(when: datetime, tz: tzinfo | None = None, *, year: bool = True) -> str:
    """E.g. "Fri 11 Apr 2025, 16:00 BST"; fixed English names, so locale never changes it."""
    local = when.astimezone(tz) if tz is not None else when
    day = f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]}"
    if year:
        day += f" {local.year}"
    zone = local.tzname() or ""
    return f"{day}, {local:%H:%M}" + (f" {zone}" if zone else "")


def format_share(share: float | None) -> str | None:
    if share is None:
        return None
    percent = round(share * 100)
    if percent == 0 and share > 0:
        return "<1%"  # "0%" would say nobody took part
    return f"{percent}%"


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def incomplete_note(digest: Digest) -> str | None:
    """E.g. "This digest may be incomplete: 2 threads could not be read.", or None."""
    if digest.complete:
        return None
    threads = plural(digest.unread_threads, "thread")
    verb = "it" if digest.unread_threads == 1 else "they"
    return (
        f"This digest may be incomplete: {threads} could not be read back from the platform, "
        f"so replies in {verb} may be missing."
    )


def summary_line(digest: Digest) -> str:
    """Plain text, e.g. "12 replies from 8 people; 20% of the channel's 40 members took part."
    (every renderer shows it, so it also carries the note of an incomplete digest)."""
    if digest.reply_count == 0:
        line = "No replies yet."
    else:
        line = f"{plural(digest.reply_count, 'reply', 'replies')} from "
        line += plural(digest.participants, "person", "people")
        share = format_share(digest.share)
        if share is not None and digest.member_count:
            line += f"; {share} of the channel's {plural(digest.member_count, 'member')} took part"
        line += "."
    note = incomplete_note(digest)
    return f"{line} {note}" if note else line


def question_stats(item: DigestQuestion) -> str:
    if item.reply_count == 0:
        return "no replies yet"
    line = f"{plural(item.reply_count, 'reply', 'replies')} from "
    line += plural(item.participants, "person", "people")
    share = format_share(item.share)
    return line + (f" ({share} of members)" if share is not None else "")


def window_line(digest: Digest) -> str:
    tz = digest.window.tz
    return f"{format_when(digest.window.start, tz)} to {format_when(digest.window.end, tz)}"


def title(digest: Digest) -> str:
    return f"Leadership digest: {digest.channel.label}"


# The digest's words about themes, here and nowhere else (every renderer uses these).
THEMES_HEADING = "What people said"
THEMES_EXPLAINED = (
    "Phrases several people used, picked out by counting words (on this server, no AI "
    "service); each with one reply that used it. Read the replies for the full picture."
)
OPEN_REPLY = "Open the reply"


def open_reply_label(theme: Theme) -> str:
    """The quoted reply's link text, e.g. "Open the reply quoted for “data quality”" (each
    says which, so several on a page still make sense out of context: WCAG 2.4.4)."""
    return f"{OPEN_REPLY} quoted for “{theme.phrase}”"


def theme_counts(theme: Theme) -> str:
    """E.g. "4 replies from 3 people"."""
    replies = plural(theme.replies, "reply", "replies")
    return f"{replies} from {plural(theme.people, 'person', 'people')}"


NO_QUESTION = "No question was posted in this window."
NO_REPLIES = "Nobody has replied yet; the thread is still open for answers."
ALL_ASKED = "Every question in the set has been asked here."


# ---------------------------------------------------------------------------------- markdown


def escape_markdown(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", clean_text(text))


def _md_quote(text: str) -> str:
    # Every line of a blockquote needs its own marker, or the quote ends at the first newline.
    return "\n".join("> " + line if line else ">" for line in escape_markdown(text).split("\n"))


def _reply_head(reply: DigestReply, tz: tzinfo) -> str:
    return format_when(reply.posted_at, tz) + (" (edited)" if reply.edited else "")


def _md_themes(themes: tuple[Theme, ...]) -> list[str]:
    if not themes:
        return []
    out = [f"### {THEMES_HEADING}", "", f"_{THEMES_EXPLAINED}_", ""]
    for theme in themes:
        line = f"- **{escape_markdown(theme.phrase)}** ({theme_counts(theme)}): "
        line += f"“{escape_markdown(theme.quote)}”"
        link = safe_url(theme.link)
        if link:
            line += f" [{escape_markdown(open_reply_label(theme))}](<{link}>)"
        out.append(line)
    return [*out, ""]


def render_markdown(digest: Digest) -> str:
    tz = digest.window.tz
    out = [f"# {escape_markdown(title(digest))}", "", window_line(digest), ""]
    out += [f"**{summary_line(digest)}**", ""]
    if not digest.questions:
        out += [NO_QUESTION, ""]
    for item in digest.questions:
        q = item.question
        out += [f"## {q.id}: {escape_markdown(q.theme)}", "", _md_quote(q.text), ""]
        meta = f"Asked {format_when(item.posted_at, tz)} · {question_stats(item)}"
        link = safe_url(item.link)
        if link:
            meta += f" · [Open the thread](<{link}>)"
        out += [meta, ""]
        out += _md_themes(item.themes)
        if not item.replies:
            out += [f"_{NO_REPLIES}_", ""]
        for reply in item.replies:
            out += [f"**{escape_markdown(reply.user_name)}** · {_reply_head(reply, tz)}", ""]
            out += [_md_quote(reply.text), ""]
    out += ["## Not yet asked here", ""]
    if digest.not_yet_asked:
        out += [f"- **{q.id}** {escape_markdown(q.text)}" for q in digest.not_yet_asked]
    else:
        out += [ALL_ASKED]
    out += ["", "## Participation, last 12 weeks", ""]
    out += ["| Week of | ISO week | People | Replies |", "|---|---|---:|---:|"]
    for point in digest.participation:
        when = f"{point.week_start.day} {_MONTHS[point.week_start.month - 1]}"
        out.append(f"| {when} | {point.iso_week} | {point.participants} | {point.replies} |")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ console text


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in clean_text(text).split("\n"))


def _text_themes(themes: tuple[Theme, ...]) -> list[str]:
    if not themes:
        return []
    out = [f"  {THEMES_HEADING} ({THEMES_EXPLAINED})"]
    for theme in themes:
        out += [f"  - {clean_text(theme.phrase)} ({theme_counts(theme)})"]
        out += [f"    “{clean_text(theme.quote)}”"]
        link = safe_url(theme.link)
        if link:
            out += [f"    {link}"]
    return [*out, ""]


def render_text(digest: Digest) -> str:
    """Plain text for the console platform and `leaderbot demo`."""
    tz = digest.window.tz
    head = clean_text(title(digest))
    out = [head, "=" * len(head), window_line(digest), summary_line(digest), ""]
    if not digest.questions:
        out += [NO_QUESTION, ""]
    for item in digest.questions:
        q = item.question
        out += [f"{q.id}: {clean_text(q.text)}"]
        meta = f"  Asked {format_when(item.posted_at, tz)}; {question_stats(item)}"
        out += [meta]
        link = safe_url(item.link)
        if link:
            out += [f"  {link}"]
        out += [""]
        out += _text_themes(item.themes)
        if not item.replies:
            out += [f"  {NO_REPLIES}", ""]
        for reply in item.replies:
            out += [f"  {clean_text(reply.user_name)}, {_reply_head(reply, tz)}:"]
            out += [_indent(reply.text), ""]
    out += ["Not yet asked here:"]
    if digest.not_yet_asked:
        out += [f"  {q.id} {clean_text(q.text)}" for q in digest.not_yet_asked]
    else:
        out += [f"  {ALL_ASKED}"]
    out += ["", "People taking part per week (last 12 weeks, oldest first):"]
    out += ["  " + " ".join(str(p.participants) for p in digest.participation)]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------- HTML

HTML_LANG = "en-GB"
"""The digest page's language (`<html lang>`): the one place it is set. When digests gain a
language of their own, `render_html` is given it through its `lang` argument."""

# Colours checked against WCAG 2.2 AA on white (tests/test_accessibility.py runs axe-core on
# the page): text #0b0c0c 19.6:1, muted #505a5f 7.1:1, links #1d70b8 5.2:1 (visited #4c2c92
# 10.1:1), the focused link #0b0c0c on #ffdd00 (GOV.UK's pattern) 14.6:1.
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;max-width:46rem;
margin:2rem auto;padding:0 1rem;color:#0b0c0c;background:#fff;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2.25rem}
h3{font-size:1rem;margin:1.25rem 0 .5rem}
a{color:#1d70b8;text-decoration:underline;text-underline-offset:.15em}a:visited{color:#4c2c92}
a:focus{outline:3px solid transparent;color:#0b0c0c;background:#fd0;
box-shadow:0 -2px #fd0,0 4px #0b0c0c;text-decoration:none}
.meta{color:#505a5f;font-size:.9rem}
.question{border-left:4px solid #1d70b8;padding:.25rem .75rem;margin:.5rem 0}
.replies{list-style:none;padding:0}.reply{margin:1rem 0}.who{font-weight:600;margin:0}
.who .meta{font-weight:400}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.25rem 0 0}
.themes ul{padding-left:1.25rem}.themes .quote{margin:.25rem 0;font-style:italic}
.note{border-left:4px solid #d4351c;padding:.25rem .75rem}
figure{margin:1rem 0}img{max-width:100%;height:auto}
figcaption{margin-bottom:.5rem}
table{border-collapse:collapse;margin-top:1rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
td,th{padding:.15rem .6rem;border-bottom:1px solid #b1b4b6;text-align:right}
th[scope=row]{font-weight:400}th[scope=row],thead th:first-child{text-align:left}
@media (max-width:30em){body{padding:0 .5rem}td,th{padding:.15rem .25rem}}
""".strip()

# No scripts, no remote anything: the file is meant to be mailed around and opened anywhere.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _h(text: str) -> str:
    return html.escape(clean_text(text), quote=True)


def _time(when: datetime, tz: tzinfo, *, year: bool = True) -> str:
    """A <time> element: the readable date, and the exact instant for software."""
    iso = when.astimezone(tz).isoformat(timespec="minutes")
    return f'<time datetime="{iso}">{_h(format_when(when, tz, year=year))}</time>'


def _week_of(point: WeekParticipation) -> str:
    start = point.week_start
    return f"{start.day} {_MONTHS[start.month - 1]} {start.year}"


def participation_summary(points: Sequence[WeekParticipation]) -> str:
    """One sentence on the chart's shape, for its alt text (the figures are in the table)."""
    if not points:
        return "No participation figures yet."
    latest = points[-1]
    peak = max(points, key=lambda p: p.participants)  # the earliest of equal peaks
    line = (
        f"Bar chart of people taking part per week over the last {plural(len(points), 'week')}: "
        f"{plural(latest.participants, 'person', 'people')} in the latest week "
        f"(week of {_week_of(latest)})"
    )
    if peak.participants > latest.participants:
        line += f", the most {peak.participants} in the week of {_week_of(peak)}"
    return line + "."


def _chart_figure(digest: Digest, chart_png: bytes | None, chart_alt: str) -> list[str]:
    """The chart and its data table in one <figure>: the caption names both, the image's alt
    text gives the shape, and the table every figure (so nothing is only in the picture)."""
    points = digest.participation
    out = ['<section aria-labelledby="participation">']
    out.append(f'<h2 id="participation">Participation, last {plural(len(points), "week")}</h2>')
    if not points:
        out += [f"<p>{_h(participation_summary(points))}</p>", "</section>"]
        return out
    out.append("<figure>")
    if chart_png:
        data = base64.b64encode(chart_png).decode("ascii")
        alt = chart_alt or f"{participation_summary(points)} The figures are in the table below."
        out.append(
            '<figcaption class="meta">People taking part each week, oldest first: a chart, '
            "then the same figures in a table.</figcaption>"
        )
        out.append(f'<img src="data:image/png;base64,{data}" alt="{_h(alt)}">')
    else:
        out.append(
            '<figcaption class="meta">People taking part each week, oldest first.</figcaption>'
        )
    out += [
        "<table>",
        "<caption>People and replies per week, oldest first</caption>",
        "<thead><tr>"
        '<th scope="col">Week of</th><th scope="col">ISO week</th>'
        '<th scope="col">People</th><th scope="col">Replies</th>'
        "</tr></thead>",
        "<tbody>",
    ]
    out += [
        f'<tr><th scope="row"><time datetime="{p.week_start.isoformat()}">{_week_of(p)}</time>'
        f"</th><td>{p.iso_week}</td><td>{p.participants}</td><td>{p.replies}</td></tr>"
        for p in points
    ]
    out += ["</tbody>", "</table>", "</figure>", "</section>"]
    return out


def _html_themes(themes: tuple[Theme, ...], anchor: str) -> list[str]:
    if not themes:
        return []
    out = [
        f'<section class="themes" aria-labelledby="{_h(anchor)}-themes">',
        f'<h3 id="{_h(anchor)}-themes">{_h(THEMES_HEADING)}</h3>',
        f'<p class="meta">{_h(THEMES_EXPLAINED)}</p>',
        "<ul>",
    ]
    for theme in themes:
        item = f"<li><strong>{_h(theme.phrase)}</strong> "
        item += f'<span class="meta">({_h(theme_counts(theme))})</span>'
        item += f'<blockquote class="quote">{_h(theme.quote)}</blockquote>'
        link = safe_url(theme.link)
        if link:
            item += f'<a href="{html.escape(link, quote=True)}">{_h(open_reply_label(theme))}</a>'
        out.append(item + "</li>")
    return [*out, "</ul>", "</section>"]


def _question_section(item: DigestQuestion, tz: tzinfo) -> list[str]:
    q = item.question
    anchor = "q-" + re.sub(r"[^A-Za-z0-9_-]", "-", q.id)
    out = [
        f'<section aria-labelledby="{_h(anchor)}">',
        f'<h2 id="{_h(anchor)}">{_h(q.id)}: {_h(q.theme)}</h2>',
        f'<blockquote class="question"><p>{_h(q.text)}</p></blockquote>',
    ]
    meta = f"Asked {_time(item.posted_at, tz)} · {_h(question_stats(item))}"
    link = safe_url(item.link)
    if link:
        # The question id in the link text: several "Open the thread" links on one page
        # would otherwise read the same out of context (WCAG 2.4.4).
        meta += f' · <a href="{html.escape(link, quote=True)}">Open the {_h(q.id)} thread</a>'
    out.append(f'<p class="meta">{meta}</p>')
    out += _html_themes(item.themes, anchor)
    if not item.replies:
        out += [f"<p><em>{_h(NO_REPLIES)}</em></p>", "</section>"]
        return out
    out.append(f"<h3>Replies to {_h(q.id)} ({item.reply_count})</h3>")
    out.append('<ol class="replies">')
    for reply in item.replies:
        edited = " (edited)" if reply.edited else ""
        out += [
            '<li class="reply">',
            f'<p class="who">{_h(reply.user_name)} '
            f'<span class="meta">{_time(reply.posted_at, tz)}{edited}</span></p>',
            f'<p class="text">{_h(reply.text)}</p>',
            "</li>",
        ]
    out += ["</ol>", "</section>"]
    return out


def render_html(
    digest: Digest, chart_png: bytes | None = None, chart_alt: str = "", *, lang: str = HTML_LANG
) -> str:
    """A self-contained HTML page meant to meet WCAG 2.2 AA: landmarks, headings in order, a
    data table beside the chart. `chart_png` (if given) is embedded as a data: URI; its alt
    text is `chart_alt`, or by default a sentence on its shape that points to the table."""
    tz = digest.window.tz
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{_h(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(title(digest))}, {_h(window_line(digest))}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_h(title(digest))}</h1>",
        f'<p class="meta">{_time(digest.window.start, tz)} to {_time(digest.window.end, tz)}</p>',
    ]
    summary = summary_line(digest)
    note = incomplete_note(digest)
    if note:
        out.append(f"<p><strong>{_h(summary.removesuffix(note).strip())}</strong></p>")
        out.append(f'<p class="note"><strong>Warning:</strong> {_h(note)}</p>')
    else:
        out.append(f"<p><strong>{_h(summary)}</strong></p>")
    if not digest.questions:
        out.append(f"<p>{_h(NO_QUESTION)}</p>")
    for item in digest.questions:
        out += _question_section(item, tz)
    out += ['<section aria-labelledby="not-asked">', '<h2 id="not-asked">Not yet asked here</h2>']
    if digest.not_yet_asked:
        out.append("<ul>")
        out += [f"<li><strong>{_h(q.id)}</strong> {_h(q.text)}</li>" for q in digest.not_yet_asked]
        out.append("</ul>")
    else:
        out.append(f"<p>{_h(ALL_ASKED)}</p>")
    out.append("</section>")
    out += _chart_figure(digest, chart_png, chart_alt)
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


# -------------------------------------------------------------------------------------- CSV


def csv_cell(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula, by prefixing a single quote."""
    value = clean_text(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_csv(digest: Digest) -> str:
    """One row per reply. `posted_at` is the reply's time (ISO 8601)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: CRLF rows, quoted when needed
    writer.writerow(CSV_COLUMNS)
    for item in digest.questions:
        for reply in item.replies:
            row = (
                item.question.id,
                item.question.text,
                reply.posted_at.isoformat(),
                reply.user_id,
                reply.user_name,
                reply.text,
                reply.message_id,
                "true" if reply.edited else "false",
            )
            writer.writerow([csv_cell(cell) for cell in row])
    return buffer.getvalue()


# ------------------------------------------------------------------------------------- JSON


def digest_to_dict(digest: Digest) -> dict[str, Any]:
    """The documented JSON contract (README): `channel`, `from`, `to`, `questions`; each
    question `id`, `text`, `posted_at`, `permalink`, `replies`; each reply `user`,
    `user_name`, `text`, `ts`, `edited`. Extra top-level keys are additions, never renames;
    `themes` lists what people said: `question` (its id), `phrase`, `replies`, `people`,
    `quote`, and the quoted reply's `ts` and `permalink`."""
    return {
        "channel": digest.channel.id,
        "from": digest.window.start.isoformat(),
        "to": digest.window.end.isoformat(),
        "questions": [
            {
                "id": item.question.id,
                "text": item.question.text,
                "posted_at": item.posted_at.isoformat(),
                "permalink": item.link,
                "replies": [
                    {
                        "user": r.user_id,
                        "user_name": r.user_name,
                        "text": r.text,
                        "ts": r.message_id,
                        "edited": r.edited,
                    }
                    for r in item.replies
                ],
            }
            for item in digest.questions
        ],
        "channel_name": digest.channel.name,
        "member_count": digest.member_count,
        "reply_count": digest.reply_count,
        "participants": digest.participants,
        "share": digest.share,
        "complete": digest.complete,
        "unread_threads": digest.unread_threads,
        "not_yet_asked": [{"id": q.id, "text": q.text} for q in digest.not_yet_asked],
        "themes": [
            {
                "question": item.question.id,
                "phrase": t.phrase,
                "replies": t.replies,
                "people": t.people,
                "quote": t.quote,
                "ts": t.message_id,
                "permalink": t.link,
            }
            for item in digest.questions
            for t in item.themes
        ],
        "participation": [
            {
                "week": p.iso_week,
                "week_start": p.week_start.isoformat(),
                "participants": p.participants,
                "replies": p.replies,
            }
            for p in digest.participation
        ],
    }


def render_json(digest: Digest) -> str:
    # json escapes control characters itself, so the text is kept exactly as written.
    return json.dumps(digest_to_dict(digest), ensure_ascii=False, indent=2) + "\n"


# ---------------------------------------------------------------------------------- dispatch


def render(
    digest: Digest, fmt: Format | str, *, chart_png: bytes | None = None, chart_alt: str = ""
) -> str:
    """`leaderbot digest --format FMT`. Raises ValueError for an unknown format."""
    if fmt == "markdown":
        return render_markdown(digest)
    if fmt == "html":
        return render_html(digest, chart_png, chart_alt)
    if fmt == "csv":
        return render_csv(digest)
    if fmt == "json":
        return render_json(digest)
    if fmt == "text":
        return render_text(digest)
    raise ValueError(f"unknown digest format {fmt!r}; choose one of {', '.join(FORMATS)}")
