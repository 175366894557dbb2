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
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from typing import Any, Literal, get_args

from bot.domain.digest import Digest, DigestQuestion, DigestReply, WeekParticipation
from bot.domain.language import BOTH_SEPARATOR, ENGLISH, N_, Translator
from bot.domain.questions import Question
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


def format_when(
    when: datetime, tz: tzinfo | None = None, *, year: bool = True, t: Translator = ENGLISH
) -> str:
    """E.g. "Fri 11 Apr 2025, 16:00 BST" ("Gwen 11 Ebr 2025, 16:00 BST" in Welsh): day and
    month names from CLDR (Babel) in the translator's language, never the process locale."""
    local = when.astimezone(tz) if tz is not None else when
    zone = local.tzname() or ""
    clock = f"{local:%H:%M}" + (f" {zone}" if zone else "")
    pattern = "EEE d MMM y" if year else "EEE d MMM"
    day = local.date()
    return t.each(lambda t: f"{t.format_date(day, pattern)}, {clock}")


def format_day(day: date, t: Translator = ENGLISH) -> str:
    """A week's Monday, e.g. "7 Apr" ("7 Ebr")."""
    return t.format_date(day, "d MMM")


def format_share(share: float | None) -> str | None:
    if share is None:
        return None
    percent = round(share * 100)
    if percent == 0 and share > 0:
        return "<1%"  # "0%" would say nobody took part
    return f"{percent}%"


def replies_from(replies: int, people: int, t: Translator = ENGLISH) -> str:
    """E.g. "12 replies from 8 people", in one language (`t` is not `both`)."""
    return t.gettext("{replies} from {people}").format(
        replies=t.ngettext("{count} reply", "{count} replies", replies).format(count=replies),
        people=t.ngettext("{count} person", "{count} people", people).format(count=people),
    )


def incomplete_note(digest: Digest, t: Translator = ENGLISH) -> str | None:
    """E.g. "This digest may be incomplete: 2 threads could not be read...", or None."""
    if digest.complete:
        return None
    n = digest.unread_threads
    return t.ngettext(
        "This digest may be incomplete: {count} thread could not be read back from the "
        "platform, so replies in it may be missing.",
        "This digest may be incomplete: {count} threads could not be read back from the "
        "platform, so replies in them may be missing.",
        n,
    ).format(count=n)


def summary_line(digest: Digest, t: Translator = ENGLISH) -> str:
    """Plain text, e.g. "12 replies from 8 people; 20% of the channel's 40 members took part."
    (every renderer shows it, so it also carries the note of an incomplete digest)."""

    def one(t: Translator) -> str:
        if digest.reply_count == 0:
            line = t.gettext("No replies yet.")
        else:
            line = replies_from(digest.reply_count, digest.participants, t)
            share = format_share(digest.share)
            if share is not None and digest.member_count:
                members = t.ngettext(
                    "{count} member", "{count} members", digest.member_count
                ).format(count=digest.member_count)
                line += t.gettext("; {share} of the channel's {members} took part").format(
                    share=share, members=members
                )
            line += "."
        note = incomplete_note(digest, t)
        return f"{line} {note}" if note else line

    return t.each(one)


def question_stats(item: DigestQuestion, t: Translator = ENGLISH) -> str:
    def one(t: Translator) -> str:
        if item.reply_count == 0:
            return t.gettext("no replies yet")
        line = replies_from(item.reply_count, item.participants, t)
        share = format_share(item.share)
        if share is None:
            return line
        return line + t.gettext(" ({share} of members)").format(share=share)

    return t.each(one)


def window_line(digest: Digest, t: Translator = ENGLISH) -> str:
    tz = digest.window.tz
    return t.each(
        lambda t: t.gettext("{start} to {end}").format(
            start=format_when(digest.window.start, tz, t=t),
            end=format_when(digest.window.end, tz, t=t),
        )
    )


def title(digest: Digest, t: Translator = ENGLISH) -> str:
    return t.gettext("Leadership digest: {channel}").format(channel=digest.channel.label)


def question_versions(question: Question, t: Translator = ENGLISH) -> list[tuple[str, str]]:
    """(language, text) of the question's words to show: Welsh, then English, for both. A
    question set without Welsh wording gives the English once ("en"), never twice."""
    versions: list[tuple[str, str]] = []
    for one in t.languages():
        lang = "cy" if one.language == "cy" and question.text_cy else "en"
        if all(lang != seen for seen, _ in versions):
            versions.append((lang, question.text_for(lang)))
    return versions


def question_text(question: Question, t: Translator = ENGLISH, sep: str = "\n") -> str:
    """The question's own words in the channel's language (Welsh, then English, for both)."""
    return sep.join(text for _, text in question_versions(question, t))


def question_theme(question: Question, t: Translator = ENGLISH) -> str:
    themes = dict.fromkeys(question.theme_for(one.language) for one in t.languages())
    return BOTH_SEPARATOR.join(themes)


# The digest's words about themes, here and nowhere else (every renderer uses these).
THEMES_HEADING = N_("What people said")
THEMES_EXPLAINED = N_(
    "Phrases several people used, picked out by counting words (on this server, no AI "
    "service); each with one reply that used it. Read the replies for the full picture."
)
OPEN_REPLY_QUOTED = N_("Open the reply quoted for “{phrase}”")
OPEN_REPLY = OPEN_REPLY_QUOTED.split(" quoted")[0]  # "Open the reply": how English labels begin


def open_reply_label(theme: Theme, t: Translator = ENGLISH) -> str:
    """The quoted reply's link text, e.g. "Open the reply quoted for “data quality”" (each
    says which, so several on a page still make sense out of context: WCAG 2.4.4)."""
    return t.gettext(OPEN_REPLY_QUOTED).format(phrase=theme.phrase)


def theme_counts(theme: Theme, t: Translator = ENGLISH) -> str:
    """E.g. "4 replies from 3 people"."""
    return t.each(lambda t: replies_from(theme.replies, theme.people, t))


NO_QUESTION = N_("No question was posted in this window.")
NO_REPLIES = N_("Nobody has replied yet; the thread is still open for answers.")
ALL_ASKED = N_("Every question in the set has been asked here.")
EDITED = N_("edited")
NOT_YET_ASKED = N_("Not yet asked here")
PARTICIPATION = N_("Participation, last 12 weeks")
OPEN_THREAD = N_("Open the thread")


# ---------------------------------------------------------------------------------- markdown


def escape_markdown(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", clean_text(text))


def _md_quote(text: str) -> str:
    # Every line of a blockquote needs its own marker, or the quote ends at the first newline.
    return "\n".join("> " + line if line else ">" for line in escape_markdown(text).split("\n"))


def _reply_head(reply: DigestReply, tz: tzinfo, t: Translator = ENGLISH) -> str:
    return t.each(
        lambda t: (
            format_when(reply.posted_at, tz, t=t) + (t.gettext(" (edited)") if reply.edited else "")
        )
    )


def asked_line(item: DigestQuestion, tz: tzinfo, t: Translator = ENGLISH) -> str:
    """E.g. "Asked Mon 7 Apr 2025, 09:00 BST · 3 replies from 2 people"."""
    return t.each(
        lambda t: t.gettext("Asked {when} · {stats}").format(
            when=format_when(item.posted_at, tz, t=t), stats=question_stats(item, t)
        )
    )


def _md_themes(themes: tuple[Theme, ...], t: Translator) -> list[str]:
    if not themes:
        return []
    out = [f"### {t.gettext(THEMES_HEADING)}", "", f"_{t.gettext(THEMES_EXPLAINED)}_", ""]
    for theme in themes:
        line = f"- **{escape_markdown(theme.phrase)}** ({theme_counts(theme, t)}): "
        line += f"“{escape_markdown(theme.quote)}”"
        link = safe_url(theme.link)
        if link:
            line += f" [{escape_markdown(open_reply_label(theme, t))}](<{link}>)"
        out.append(line)
    return [*out, ""]


def render_markdown(digest: Digest, t: Translator = ENGLISH) -> str:
    tz = digest.window.tz
    out = [f"# {escape_markdown(title(digest, t))}", "", window_line(digest, t), ""]
    out += [f"**{summary_line(digest, t)}**", ""]
    if not digest.questions:
        out += [t.gettext(NO_QUESTION), ""]
    for item in digest.questions:
        q = item.question
        theme = escape_markdown(question_theme(q, t))
        out += [f"## {q.id}: {theme}", "", _md_quote(question_text(q, t)), ""]
        meta = asked_line(item, tz, t)
        link = safe_url(item.link)
        if link:
            meta += f" · [{t.gettext(OPEN_THREAD)}](<{link}>)"
        out += [meta, ""]
        out += _md_themes(item.themes, t)
        if not item.replies:
            out += [f"_{t.gettext(NO_REPLIES)}_", ""]
        for reply in item.replies:
            head = _reply_head(reply, tz, t)
            out += [f"**{escape_markdown(reply.user_name)}** · {head}", ""]
            out += [_md_quote(reply.text), ""]
    out += [f"## {t.gettext(NOT_YET_ASKED)}", ""]
    if digest.not_yet_asked:
        out += [
            f"- **{q.id}** {escape_markdown(question_text(q, t, ' / '))}"
            for q in digest.not_yet_asked
        ]
    else:
        out += [t.gettext(ALL_ASKED)]
    out += ["", f"## {t.gettext(PARTICIPATION)}", ""]
    heads = [
        t.gettext("Week of"),
        t.gettext("ISO week"),
        t.gettext("People"),
        t.gettext("Replies"),
    ]
    out += ["| " + " | ".join(heads) + " |", "|---|---|---:|---:|"]
    for point in digest.participation:
        when = format_day(point.week_start, t)
        people, replies = t.format_number(point.participants), t.format_number(point.replies)
        out.append(f"| {when} | {point.iso_week} | {people} | {replies} |")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ console text


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in clean_text(text).split("\n"))


def _text_themes(themes: tuple[Theme, ...], t: Translator) -> list[str]:
    if not themes:
        return []
    out = [f"  {t.gettext(THEMES_HEADING)} ({t.gettext(THEMES_EXPLAINED)})"]
    for theme in themes:
        out += [f"  - {clean_text(theme.phrase)} ({theme_counts(theme, t)})"]
        out += [f"    “{clean_text(theme.quote)}”"]
        link = safe_url(theme.link)
        if link:
            out += [f"    {link}"]
    return [*out, ""]


def render_text(digest: Digest, t: Translator = ENGLISH) -> str:
    """Plain text for the console platform and `leaderbot demo`."""
    tz = digest.window.tz
    head = clean_text(title(digest, t))
    out = [head, "=" * len(head), window_line(digest, t), summary_line(digest, t), ""]
    if not digest.questions:
        out += [t.gettext(NO_QUESTION), ""]
    for item in digest.questions:
        q = item.question
        out += [f"{q.id}: {clean_text(question_text(q, t))}"]
        out += [f"  {asked_line(item, tz, t)}"]
        link = safe_url(item.link)
        if link:
            out += [f"  {link}"]
        out += [""]
        out += _text_themes(item.themes, t)
        if not item.replies:
            out += [f"  {t.gettext(NO_REPLIES)}", ""]
        for reply in item.replies:
            out += [f"  {clean_text(reply.user_name)}, {_reply_head(reply, tz, t)}:"]
            out += [_indent(reply.text), ""]
    out += [t.gettext("Not yet asked here:")]
    if digest.not_yet_asked:
        out += [f"  {q.id} {clean_text(question_text(q, t, ' / '))}" for q in digest.not_yet_asked]
    else:
        out += [f"  {t.gettext(ALL_ASKED)}"]
    out += ["", t.gettext("People taking part per week (last 12 weeks, oldest first):")]
    out += ["  " + " ".join(t.format_number(p.participants) for p in digest.participation)]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------- HTML

HTML_LANG = ENGLISH.html_lang
"""An English page's language (`<html lang>`); a Welsh or bilingual page takes its language
from its translator (`Translator.html_lang`), or from `render_html`'s `lang` argument."""

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


def _time(when: datetime, tz: tzinfo, t: Translator = ENGLISH, *, year: bool = True) -> str:
    """A <time> element: the readable date, and the exact instant for software."""
    iso = when.astimezone(tz).isoformat(timespec="minutes")
    return f'<time datetime="{iso}">{_h(format_when(when, tz, year=year, t=t))}</time>'


def _each_html(t: Translator, build: Callable[[Translator], str]) -> str:
    """HTML built in the page's language; for both, the Welsh and the English halves each
    marked with their own language (WCAG 3.1.2, language of parts)."""
    if t.language != "both":
        return build(t)
    cy, en = t.languages()
    return f'<span lang="cy">{build(cy)}</span> / <span lang="en-GB">{build(en)}</span>'


def _hh(t: Translator, build: Callable[[Translator], str]) -> str:
    """Plain text built in the page's language, escaped (see `_each_html`)."""
    return _each_html(t, lambda t: _h(build(t)))


def _lang_of(language: str, t: Translator) -> str:
    """A lang attribute for text in `language` ("cy"/"en") when it is not the page's."""
    tag = "cy" if language == "cy" else "en-GB"
    return "" if tag == t.html_lang else f' lang="{tag}"'


def _question_inline(question: Question, t: Translator) -> str:
    return " / ".join(
        f"<span{_lang_of(lang, t)}>{_h(text)}</span>" if _lang_of(lang, t) else _h(text)
        for lang, text in question_versions(question, t)
    )


def _week_of(point: WeekParticipation, t: Translator = ENGLISH) -> str:
    return t.format_date(point.week_start, "d MMM y")


def participation_summary(points: Sequence[WeekParticipation], t: Translator = ENGLISH) -> str:
    """One sentence on the chart's shape, for its alt text (the figures are in the table)."""

    def one(t: Translator) -> str:
        if not points:
            return t.gettext("No participation figures yet.")
        latest = points[-1]
        peak = max(points, key=lambda p: p.participants)  # the earliest of equal peaks
        line = t.gettext(
            "Bar chart of people taking part per week over the last {weeks}: "
            "{people} in the latest week (week of {week})"
        ).format(
            weeks=t.ngettext("{count} week", "{count} weeks", len(points)).format(
                count=len(points)
            ),
            people=t.ngettext("{count} person", "{count} people", latest.participants).format(
                count=latest.participants
            ),
            week=_week_of(latest, t),
        )
        if peak.participants > latest.participants:
            line += t.gettext(", the most {count} in the week of {week}").format(
                count=peak.participants, week=_week_of(peak, t)
            )
        return line + "."

    return t.each(one, " ")


def _chart_figure(
    digest: Digest, chart_png: bytes | None, chart_alt: str, t: Translator
) -> list[str]:
    """The chart and its data table in one <figure>: the caption names both, the image's alt
    text gives the shape, and the table every figure (so nothing is only in the picture)."""
    points = digest.participation
    weeks = len(points)
    out = ['<section aria-labelledby="participation">']
    heading = _hh(
        t,
        lambda t: t.gettext("Participation, last {weeks}").format(
            weeks=t.ngettext("{count} week", "{count} weeks", weeks).format(count=weeks)
        ),
    )
    out.append(f'<h2 id="participation">{heading}</h2>')
    if not points:
        out += [f"<p>{_h(participation_summary(points, t))}</p>", "</section>"]
        return out
    out.append("<figure>")
    if chart_png:
        data = base64.b64encode(chart_png).decode("ascii")
        alt = chart_alt or t.each(
            lambda t: (
                participation_summary(points, t)
                + " "
                + t.gettext("The figures are in the table below.")
            ),
            " ",
        )
        caption = _hh(
            t,
            lambda t: t.gettext(
                "People taking part each week, oldest first: a chart, "
                "then the same figures in a table."
            ),
        )
        out.append(f'<figcaption class="meta">{caption}</figcaption>')
        out.append(f'<img src="data:image/png;base64,{data}" alt="{_h(alt)}">')
    else:
        caption = _hh(t, lambda t: t.gettext("People taking part each week, oldest first."))
        out.append(f'<figcaption class="meta">{caption}</figcaption>')
    heads = (
        _hh(t, lambda t: t.gettext("Week of")),
        _hh(t, lambda t: t.gettext("ISO week")),
        _hh(t, lambda t: t.gettext("People")),
        _hh(t, lambda t: t.gettext("Replies")),
    )
    table_caption = _hh(t, lambda t: t.gettext("People and replies per week, oldest first"))
    out += [
        "<table>",
        f"<caption>{table_caption}</caption>",
        "<thead><tr>" + "".join(f'<th scope="col">{head}</th>' for head in heads) + "</tr></thead>",
        "<tbody>",
    ]
    first = t.languages()[0]  # one date a row, in the first language
    out += [
        f'<tr><th scope="row"><time datetime="{p.week_start.isoformat()}">'
        f"{_h(_week_of(p, first))}</time></th><td>{p.iso_week}</td>"
        f"<td>{t.format_number(p.participants)}</td><td>{t.format_number(p.replies)}</td></tr>"
        for p in points
    ]
    out += ["</tbody>", "</table>", "</figure>", "</section>"]
    return out


def _html_themes(themes: tuple[Theme, ...], anchor: str, t: Translator) -> list[str]:
    if not themes:
        return []
    heading = _hh(t, lambda t: t.gettext(THEMES_HEADING))
    explained = _hh(t, lambda t: t.gettext(THEMES_EXPLAINED))
    out = [
        f'<section class="themes" aria-labelledby="{_h(anchor)}-themes">',
        f'<h3 id="{_h(anchor)}-themes">{heading}</h3>',
        f'<p class="meta">{explained}</p>',
        "<ul>",
    ]
    for theme in themes:
        item = f"<li><strong>{_h(theme.phrase)}</strong> "
        item += (
            f'<span class="meta">({_hh(t, lambda t, theme=theme: theme_counts(theme, t))})</span>'
        )
        item += f'<blockquote class="quote">{_h(theme.quote)}</blockquote>'
        link = safe_url(theme.link)
        if link:
            label = _hh(t, lambda t, theme=theme: open_reply_label(theme, t))
            item += f'<a href="{html.escape(link, quote=True)}">{label}</a>'
        out.append(item + "</li>")
    return [*out, "</ul>", "</section>"]


def _question_section(item: DigestQuestion, tz: tzinfo, t: Translator) -> list[str]:
    q = item.question
    anchor = "q-" + re.sub(r"[^A-Za-z0-9_-]", "-", q.id)
    theme = _hh(t, lambda t: q.theme_for(t.language))
    if not q.theme_cy:  # the English theme, once
        lang = _lang_of("en", t)
        theme = f"<span{lang}>{_h(q.theme)}</span>" if lang else _h(q.theme)
    out = [
        f'<section aria-labelledby="{_h(anchor)}">',
        f'<h2 id="{_h(anchor)}">{_h(q.id)}: {theme}</h2>',
    ]
    for lang, text in question_versions(q, t):  # in full in each language, Welsh first
        out.append(
            f'<blockquote class="question"{_lang_of(lang, t)}><p>{_h(text)}</p></blockquote>'
        )

    def meta(t: Translator) -> str:
        return _h(t.gettext("Asked {when} · {stats}")).format(
            when=_time(item.posted_at, tz, t), stats=_h(question_stats(item, t))
        )

    line = _each_html(t, meta)
    link = safe_url(item.link)
    if link:
        # The question id in the link text: several "Open the thread" links on one page
        # would otherwise read the same out of context (WCAG 2.4.4).
        label = _hh(t, lambda t: t.gettext("Open the {id} thread").format(id=q.id))
        line += f' · <a href="{html.escape(link, quote=True)}">{label}</a>'
    out.append(f'<p class="meta">{line}</p>')
    out += _html_themes(item.themes, anchor, t)
    if not item.replies:
        out += [f"<p><em>{_hh(t, lambda t: t.gettext(NO_REPLIES))}</em></p>", "</section>"]
        return out
    replies_heading = _hh(
        t, lambda t: t.gettext("Replies to {id} ({count})").format(id=q.id, count=item.reply_count)
    )
    out.append(f"<h3>{replies_heading}</h3>")
    out.append('<ol class="replies">')
    first = t.languages()[0]  # one time a reply, in the first language
    edited = _hh(t, lambda t: t.gettext(" (edited)"))
    for reply in item.replies:
        out += [
            '<li class="reply">',
            f'<p class="who">{_h(reply.user_name)} '
            f'<span class="meta">{_time(reply.posted_at, tz, first)}'
            f"{edited if reply.edited else ''}</span></p>",
            f'<p class="text">{_h(reply.text)}</p>',
            "</li>",
        ]
    out += ["</ol>", "</section>"]
    return out


def render_html(
    digest: Digest,
    chart_png: bytes | None = None,
    chart_alt: str = "",
    t: Translator = ENGLISH,
    *,
    lang: str | None = None,
) -> str:
    """A self-contained HTML page meant to meet WCAG 2.2 AA: landmarks, headings in order, a
    data table beside the chart. `chart_png` (if given) is embedded as a data: URI; its alt
    text is `chart_alt`, or by default a sentence on its shape that points to the table.
    Written through `t`; the page's language is `lang`, by default the translator's."""
    tz = digest.window.tz
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{_h(lang or t.html_lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(title(digest, t))}, {_h(window_line(digest, t))}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_hh(t, lambda t: title(digest, t))}</h1>",
    ]

    def window(t: Translator) -> str:
        return _h(t.gettext("{start} to {end}")).format(
            start=_time(digest.window.start, tz, t), end=_time(digest.window.end, tz, t)
        )

    out.append(f'<p class="meta">{_each_html(t, window)}</p>')
    if digest.complete:
        out.append(f"<p><strong>{_hh(t, lambda t: summary_line(digest, t))}</strong></p>")
    else:

        def summary(t: Translator) -> str:
            note = incomplete_note(digest, t) or ""
            return summary_line(digest, t).removesuffix(note).strip()

        def warning(t: Translator) -> str:
            label = _h(t.gettext("Warning:"))
            return f"<strong>{label}</strong> {_h(incomplete_note(digest, t) or '')}"

        out.append(f"<p><strong>{_hh(t, summary)}</strong></p>")
        out.append(f'<p class="note">{_each_html(t, warning)}</p>')
    if not digest.questions:
        out.append(f"<p>{_h(t.gettext(NO_QUESTION))}</p>")
    for item in digest.questions:
        out += _question_section(item, tz, t)
    not_asked = _hh(t, lambda t: t.gettext(NOT_YET_ASKED))
    out += ['<section aria-labelledby="not-asked">', f'<h2 id="not-asked">{not_asked}</h2>']
    if digest.not_yet_asked:
        out.append("<ul>")
        out += [
            f"<li><strong>{_h(q.id)}</strong> {_question_inline(q, t)}</li>"
            for q in digest.not_yet_asked
        ]
        out.append("</ul>")
    else:
        out.append(f"<p>{_hh(t, lambda t: t.gettext(ALL_ASKED))}</p>")
    out.append("</section>")
    out += _chart_figure(digest, chart_png, chart_alt, t)
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


def digest_to_dict(digest: Digest, t: Translator = ENGLISH) -> dict[str, Any]:
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
                "phrase": theme.phrase,
                "replies": theme.replies,
                "people": theme.people,
                "quote": theme.quote,
                "ts": theme.message_id,
                "permalink": theme.link,
            }
            for item in digest.questions
            for theme in item.themes
        ],
        # The channel's language, and what a reader sees in it: the labels are additions.
        "language": t.language,
        "title": title(digest, t),
        "summary": summary_line(digest, t),
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


def render_json(digest: Digest, t: Translator = ENGLISH) -> str:
    # json escapes control characters itself, so the text is kept exactly as written.
    return json.dumps(digest_to_dict(digest, t), ensure_ascii=False, indent=2) + "\n"


# ---------------------------------------------------------------------------------- dispatch


def render(
    digest: Digest,
    fmt: Format | str,
    *,
    chart_png: bytes | None = None,
    chart_alt: str = "",
    t: Translator = ENGLISH,
) -> str:
    """`leaderbot digest --format FMT`. Raises ValueError for an unknown format."""
    if fmt == "markdown":
        return render_markdown(digest, t)
    if fmt == "html":
        return render_html(digest, chart_png, chart_alt, t)
    if fmt == "csv":
        return render_csv(digest)
    if fmt == "json":
        return render_json(digest, t)
    if fmt == "text":
        return render_text(digest, t)
    raise ValueError(f"unknown digest format {fmt!r}; choose one of {', '.join(FORMATS)}")
