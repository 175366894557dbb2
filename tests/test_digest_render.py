"""Digest renderers: markdown, HTML, CSV, JSON and console text (pure, no I/O)."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.chart import participation_chart
from bot.domain.digest import (
    ChannelRef,
    Digest,
    DigestReply,
    DigestWindow,
    QuestionThread,
    WeekParticipation,
    build_digest,
)
from bot.domain.digest_render import (
    CSV_COLUMNS,
    FORMATS,
    clean_text,
    csv_cell,
    digest_to_dict,
    escape_markdown,
    format_share,
    format_when,
    participation_summary,
    render,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_text,
    safe_url,
)
from bot.domain.questions import Question, QuestionSet

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2025, 4, 7, 9, 0, tzinfo=LONDON)
WINDOW = DigestWindow(
    datetime(2025, 4, 4, 16, 0, tzinfo=LONDON), datetime(2025, 4, 11, 16, 0, tzinfo=LONDON)
)
QS = QuestionSet(
    edition="test",
    title="Test",
    source_url="https://example.org/",
    questions=tuple(
        Question(f"Q{i}", f"Question {i}: how ready are you?", f"Theme {i}", "quoted", "t", "u")
        for i in range(1, 4)
    ),
)
HOSTILE = '<script>alert("x")</script> & <!channel> <@U1> [click](javascript:alert(1))'


def r(user: str, minutes: int, text: str, name: str = "", edited: bool = False) -> DigestReply:
    posted = MONDAY + timedelta(minutes=minutes)
    return DigestReply(
        user, name or f"Person {user}", text, f"17440{minutes:05d}.000100", edited, posted
    )


def make_digest(
    replies: list[DigestReply] | None = None, *, permalink: str | None = None
) -> Digest:
    replies = (
        [r("U1", 5, "We are partly ready."), r("U2", 9, "Not yet.", edited=True)]
        if replies is None
        else replies
    )
    return build_digest(
        channel=ChannelRef("C123", "leaders"),
        window=WINDOW,
        threads=[
            QuestionThread(
                QS.questions[1],
                MONDAY,
                permalink or "https://t.slack.com/archives/C123/p1",
                replies,
            )
        ],
        member_count=40,
        question_set=QS,
        asked_ids=["Q1"],
        history=[WeekParticipation(date(2025, 4, 7), 2, 2)],
    )


EMPTY = build_digest(
    channel=ChannelRef("C123", None),
    window=WINDOW,
    threads=[QuestionThread(QS.questions[0], MONDAY, None, [])],
    member_count=None,
    question_set=QS,
    asked_ids=[],
)


# --------------------------------------------------------------------------------- JSON


def test_json_matches_the_contract_exactly() -> None:
    data = json.loads(render_json(make_digest()))
    required = {"channel", "from", "to", "questions"}
    assert required <= set(data)
    assert data["channel"] == "C123"
    assert data["from"] == "2025-04-04T16:00:00+01:00"
    assert data["to"] == "2025-04-11T16:00:00+01:00"
    (question,) = data["questions"]
    assert set(question) == {"id", "text", "posted_at", "permalink", "replies"}
    assert question["id"] == "Q2"
    assert question["text"] == QS.questions[1].text
    assert datetime.fromisoformat(question["posted_at"]) == MONDAY
    assert question["permalink"] == "https://t.slack.com/archives/C123/p1"
    assert len(question["replies"]) == 2
    for reply in question["replies"]:
        assert set(reply) == {"user", "user_name", "text", "ts", "edited"}
    first, second = question["replies"]
    assert first == {
        "user": "U1",
        "user_name": "Person U1",
        "text": "We are partly ready.",
        "ts": "1744000005.000100",
        "edited": False,
    }
    assert second["edited"] is True


def test_json_extras_and_empty() -> None:
    data = digest_to_dict(EMPTY)
    assert data["questions"][0]["replies"] == []
    assert data["questions"][0]["permalink"] is None
    assert data["share"] is None and data["member_count"] is None
    assert len(data["participation"]) == 12
    assert [q["id"] for q in data["not_yet_asked"]] == ["Q2", "Q3"]
    # Every datetime is ISO 8601 and parses back.
    for key in ("from", "to"):
        assert datetime.fromisoformat(data[key]).tzinfo is not None


def test_json_keeps_hostile_text_exactly() -> None:
    text = HOSTILE + "\x1b[2J"
    data = json.loads(render_json(make_digest([r("U1", 1, text)])))
    assert data["questions"][0]["replies"][0]["text"] == text


# ---------------------------------------------------------------------------------- CSV


def test_csv_one_row_per_reply_with_header() -> None:
    rows = list(csv.reader(io.StringIO(render_csv(make_digest()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3
    assert rows[1][:2] == ["Q2", QS.questions[1].text]
    assert datetime.fromisoformat(rows[1][2]) == MONDAY + timedelta(minutes=5)
    assert rows[1][3:] == ["U1", "Person U1", "We are partly ready.", "1744000005.000100", "false"]
    assert rows[2][-1] == "true"


def test_csv_guards_against_formula_injection() -> None:
    texts = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "fine = ok"]
    replies = [r(f"U{i}", i, t, name="=cmd|' /C calc'!A0") for i, t in enumerate(texts)]
    rows = list(csv.reader(io.StringIO(render_csv(make_digest(replies)))))[1:]
    got = [row[5] for row in rows]
    assert got == ["'" + t for t in texts[:5]] + ["fine = ok"]
    assert all(row[4].startswith("'=") for row in rows)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_keeps_multiline_text_and_commas() -> None:
    text = 'Line one, with "quotes"\nLine two'
    rows = list(csv.reader(io.StringIO(render_csv(make_digest([r("U1", 1, text)])))))
    assert rows[1][5] == text


def test_csv_empty_digest_is_just_the_header() -> None:
    assert list(csv.reader(io.StringIO(render_csv(EMPTY)))) == [list(CSV_COLUMNS)]


def test_csv_cell() -> None:
    assert csv_cell("=1") == "'=1"
    assert csv_cell("a=1") == "a=1"
    assert csv_cell("") == ""


# --------------------------------------------------------------------------------- HTML


def test_html_escapes_hostile_text() -> None:
    digest = make_digest([r("U1", 1, HOSTILE, name='<img src=x onerror="alert(1)">')])
    page = render_html(digest)
    assert "<script>" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;!channel&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert page.count("<script") == 0
    assert "Content-Security-Policy" in page


def test_html_embeds_the_chart() -> None:
    digest = make_digest()
    png = participation_chart(digest.participation)
    page = render_html(digest, png, chart_alt="Bars <b>")
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">', page)
    assert match is not None
    assert base64.b64decode(match.group(1)) == png
    assert match.group(2) == "Bars &lt;b&gt;"
    assert "<img" not in render_html(digest)  # no chart given, no image


def test_html_links_only_safe_permalinks() -> None:
    page = render_html(make_digest(permalink="javascript:alert(1)"))
    assert "javascript:" not in page
    page = render_html(make_digest(permalink="https://t.slack.com/archives/C1/p2?a=1&b=2"))
    assert 'href="https://t.slack.com/archives/C1/p2?a=1&amp;b=2"' in page


def test_html_is_self_contained() -> None:
    page = render_html(make_digest(), participation_chart(make_digest().participation))
    assert page.startswith("<!DOCTYPE html>")
    # No external resources: the only src is the data: URI.
    assert re.findall(r'src="([a-z]+):', page) == ["data"]
    assert "<link" not in page


def test_html_empty_digest_reads_well() -> None:
    page = render_html(EMPTY)
    assert "Nobody has replied yet" in page
    assert "<strong>No replies yet.</strong>" in page


def test_html_chart_has_a_figure_caption_alt_text_and_data_table() -> None:
    digest = make_digest()
    page = render_html(digest, participation_chart(digest.participation))
    figure = page[page.index("<figure>") : page.index("</figure>")]
    assert "<figcaption" in figure and "<img " in figure and "<table>" in figure
    assert "<caption>People and replies per week, oldest first</caption>" in figure
    assert figure.count('<th scope="col">') == 4
    assert figure.count('<th scope="row">') == len(digest.participation) == 12
    assert '<th scope="row"><time datetime="2025-04-07">7 Apr 2025</time></th>' in figure
    alt = re.search(r'alt="([^"]*)"', figure)
    assert alt is not None
    assert alt.group(1) == (
        "Bar chart of people taking part per week over the last 12 weeks: 2 people in the "
        "latest week (week of 7 Apr 2025). The figures are in the table below."
    )


def test_html_table_is_there_without_the_chart() -> None:
    page = render_html(make_digest())
    assert "<img" not in page
    assert "<caption>People and replies per week, oldest first</caption>" in page


def test_html_has_language_landmark_and_headings_in_order() -> None:
    page = render_html(make_digest())
    assert '<html lang="en-GB">' in page
    assert page.count("<main>") == 1 and page.index("<h1>") > page.index("<main>")
    levels = [int(level) for level in re.findall(r"<h([1-6])[ >]", page)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels))
    assert render_html(make_digest(), lang="cy").count('<html lang="cy">') == 1


def test_html_link_names_say_which_thread() -> None:
    page = render_html(make_digest())
    assert ">Open the Q2 thread</a>" in page


def test_html_incomplete_digest_warns_in_its_own_paragraph() -> None:
    from dataclasses import replace

    page = render_html(replace(make_digest(), unread_threads=1))
    assert '<p class="note"><strong>Warning:</strong> This digest may be incomplete' in page


def test_participation_summary_names_the_latest_and_the_peak() -> None:
    points = (
        WeekParticipation(date(2025, 3, 31), 8, 9),
        WeekParticipation(date(2025, 4, 7), 5, 5),
    )
    assert participation_summary(points) == (
        "Bar chart of people taking part per week over the last 2 weeks: 5 people in the latest "
        "week (week of 7 Apr 2025), the most 8 in the week of 31 Mar 2025."
    )
    assert participation_summary(()) == "No participation figures yet."


# ----------------------------------------------------------------------- markdown / text


def test_markdown_contents() -> None:
    md = render_markdown(make_digest())
    assert md.startswith("# Leadership digest: \\#leaders\n")
    assert "**2 replies from 2 people; 5% of the channel's 40 members took part.**" in md
    assert "## Q2: Theme 2" in md
    assert "> Question 2: how ready are you?" in md
    assert "**Person U2** · Mon 7 Apr 2025, 09:09 BST (edited)" in md
    assert "> Not yet." in md
    assert "[Open the thread](<https://t.slack.com/archives/C123/p1>)" in md
    assert "- **Q3** Question 3: how ready are you?" in md
    assert md.count("| 2025-W") == 12


def test_markdown_escapes_markup_and_quotes_every_line() -> None:
    md = render_markdown(make_digest([r("U1", 1, "first <b>bold</b>\n# not a heading\n[x](y)")]))
    assert "> first \\<b\\>bold\\</b\\>\n> \\# not a heading\n> \\[x\\]\\(y\\)" in md
    assert "<b>" not in md


def test_markdown_empty_digest_reads_well() -> None:
    md = render_markdown(EMPTY)
    assert "**No replies yet.**" in md
    assert "no replies yet" in md
    assert "_Nobody has replied yet; the thread is still open for answers._" in md
    assert "took part" not in md  # no member count, no share
    nothing = build_digest(
        channel=ChannelRef("C1"),
        window=WINDOW,
        threads=[],
        member_count=3,
        question_set=QS,
        asked_ids=QS.ids,
    )
    md = render_markdown(nothing)
    assert "No question was posted in this window." in md
    assert "Every question in the set has been asked here." in md


def test_text_renderer_strips_terminal_escapes() -> None:
    out = render_text(
        make_digest([r("U1", 1, "hi\x1b[2J\x1b]0;pwned\x07 there\r\nnext", name="A\x9bB")])
    )
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out and "\r" not in out
    assert "    hi\ufffd[2J\ufffd]0;pwned\ufffd there\n    next" in out
    assert "Leadership digest: #leaders" in out
    assert "2025" in out


def test_text_empty_digest() -> None:
    out = render_text(EMPTY)
    assert "No replies yet." in out
    assert "Nobody has replied yet" in out
    assert "Not yet asked here:\n  Q2" in out


# ------------------------------------------------------------------------------- helpers


def test_dispatch_and_unknown_format() -> None:
    digest = make_digest()
    assert set(FORMATS) == {"markdown", "html", "csv", "json", "text"}
    assert render(digest, "json") == render_json(digest)
    assert render(digest, "csv") == render_csv(digest)
    with pytest.raises(ValueError, match="unknown digest format"):
        render(digest, "pdf")


@pytest.mark.parametrize(
    ("share", "text"), [(None, None), (0.0, "0%"), (0.004, "<1%"), (0.25, "25%"), (1.0, "100%")]
)
def test_format_share(share: float | None, text: str | None) -> None:
    assert format_share(share) == text


def test_helpers() -> None:
    assert format_when(datetime(2025, 1, 3, 8, 5, tzinfo=LONDON)) == "Fri 3 Jan 2025, 08:05 GMT"
    assert safe_url("https://ok.example/a?b=1") == "https://ok.example/a?b=1"
    for bad in (
        None,
        "",
        "javascript:alert(1)",
        "https://x/a b",
        'https://x/"><script>',
        "ftp://x",
    ):
        assert safe_url(bad) is None
    assert clean_text("a\r\nb\rc\x00d\te") == "a\nb\nc\ufffdd\te"
    assert escape_markdown("*a* & <b>") == "\\*a\\* \\& \\<b\\>"
