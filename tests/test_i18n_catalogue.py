"""The message catalogue: every msgid in the code is in the template, every one has a Welsh
translation with the same placeholders, and the translator writes Welsh, English or both.

When one of the first three fails: run `make messages`, translate what it added to
bot/data/locale/cy/LC_MESSAGES/leaderbot.po, and commit both files (docs/translations.md).
"""

from __future__ import annotations

import ast
import string
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.domain import language
from bot.domain.language import (
    CatalogueError,
    LanguageError,
    parse_language,
    translator,
    use_catalogue,
)

REPO = Path(__file__).resolve().parent.parent
LOCALE = REPO / "bot" / "data" / "locale"
POT = LOCALE / "leaderbot.pot"
WELSH_PO = LOCALE / "cy" / "LC_MESSAGES" / "leaderbot.po"
KEYWORDS = {"gettext", "ngettext", "N_"}


def _ids(path: Path) -> set[str | tuple[str, ...]]:
    with path.open("rb") as f:
        return {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(f) if m.id}


def _singular(msgid: str | tuple[str, ...]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _extracted() -> set[str | tuple[str, ...]]:
    with (REPO / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    return {
        msgid if isinstance(msgid, str) else tuple(msgid)
        for _file, _line, msgid, _comments, _context in extract_from_dir(
            str(REPO), method_map, options_map
        )
        if msgid
    }


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_re_extraction_finds_exactly_the_msgids_of_the_template() -> None:
    found = {_singular(m) for m in _extracted()}
    committed = {_singular(m) for m in _ids(POT)}
    assert not found - committed, (
        f"msgids not in the template (run `make messages`): {found - committed}"
    )
    assert not committed - found, f"msgids the code no longer uses: {committed - found}"


def test_every_literal_msgid_in_the_code_is_in_the_template() -> None:
    """Also the calls Babel's extractor cannot see (inside an f-string, say)."""
    committed = {_singular(m) for m in _ids(POT)}
    missing: list[str] = []
    for path in (REPO / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if (
                name in KEYWORDS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ) and first.value not in committed:
                missing.append(f"{path.relative_to(REPO)}:{node.lineno}: {first.value!r}")
    assert not missing, "\n".join(missing)


def test_the_welsh_catalogue_has_every_msgid_of_the_template() -> None:
    assert _ids(WELSH_PO) == _ids(POT)


def test_every_msgid_has_a_welsh_translation_with_the_same_placeholders() -> None:
    with WELSH_PO.open("rb") as f:
        catalogue = read_po(f, locale="cy")
    problems: list[str] = []
    for message in catalogue:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if message.fuzzy or not all(s.strip() for s in strings):
            problems.append(f"untranslated: {ids[0]!r}")
            continue
        if isinstance(message.id, tuple) and len(strings) != catalogue.num_plurals:
            problems.append(f"{catalogue.num_plurals} plural forms needed: {ids[0]!r}")
        wanted = set().union(*(_placeholders(i) for i in ids))
        for text in strings:
            if _placeholders(text) - wanted:
                problems.append(f"unknown placeholder in the Welsh of {ids[0]!r}: {text!r}")
            if isinstance(message.id, str) and _placeholders(text) != wanted:
                problems.append(f"placeholders differ in {ids[0]!r}: {text!r}")
    assert not problems, "\n".join(problems)


def test_the_catalogue_is_marked_as_awaiting_review() -> None:
    head = WELSH_PO.read_text(encoding="utf-8").split('msgid ""')[0]
    assert "AWAITING REVIEW BY A WELSH SPEAKER" in head


def test_a_missing_welsh_string_fails_the_completeness_check(tmp_path: Path) -> None:
    """The check above can fail: an emptied translation is caught."""
    text = WELSH_PO.read_text(encoding="utf-8")
    broken = text.replace('msgstr "Dim atebion eto."', 'msgstr ""')
    assert broken != text
    with (tmp_path / "x.po").open("w", encoding="utf-8") as f:
        f.write(broken)
    with (tmp_path / "x.po").open("rb") as f:
        catalogue = read_po(f, locale="cy")
    assert not catalogue.get("No replies yet.").string


# ------------------------------------------------------------------------------ the translator


@pytest.mark.parametrize(
    ("text", "expected"),
    [("cy", "cy"), ("Welsh", "cy"), ("Cymraeg", "cy"), ("en", "en"), ("BOTH", "both")],
)
def test_languages_are_parsed_by_code_or_name(text: str, expected: str) -> None:
    assert parse_language(text) == expected


def test_an_unknown_language_says_what_to_choose() -> None:
    with pytest.raises(LanguageError, match="choose cy, en or both"):
        parse_language("fr")


def test_welsh_english_and_both() -> None:
    assert translator("en").gettext("No replies yet.") == "No replies yet."
    assert translator("cy").gettext("No replies yet.") == "Dim atebion eto."
    assert translator("both").gettext("No replies yet.") == "Dim atebion eto. / No replies yet."
    three = translator("both").ngettext("{count} reply", "{count} replies", 3).format(count=3)
    assert three == "3 ateb / 3 replies"
    assert translator("unknown").language == "en"


def test_dates_and_day_names_follow_the_language() -> None:
    monday = date(2025, 4, 7)
    assert translator("cy").format_date(monday, "EEEE d MMMM y") == "Dydd Llun 7 Ebrill 2025"
    assert translator("en").format_date(monday, "EEEE d MMMM y") == "Monday 7 April 2025"
    assert translator("both").format_date(monday, "EEE d MMM") == "Llun 7 Ebr / Mon 7 Apr"
    at = datetime(2025, 4, 11, 16, 0, tzinfo=ZoneInfo("Europe/London"))
    assert translator("cy").format_datetime(at, "EEE d MMM y, HH:mm") == "Gwen 11 Ebr 2025, 16:00"
    assert translator("cy").format_number(12345) == "12,345"


def test_a_council_can_use_its_own_welsh_catalogue(tmp_path: Path) -> None:
    own = tmp_path / "ein-cyngor.po"
    own.write_text(
        WELSH_PO.read_text(encoding="utf-8").replace(
            'msgstr "Dim atebion eto."', 'msgstr "Dim ymatebion hyd yma."'
        ),
        encoding="utf-8",
    )
    try:
        use_catalogue(own)
        assert translator("cy").gettext("No replies yet.") == "Dim ymatebion hyd yma."
    finally:
        use_catalogue(None)
    assert translator("cy").gettext("No replies yet.") == "Dim atebion eto."


def test_a_council_catalogue_that_cannot_be_read_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no such catalogue file"):
        use_catalogue(tmp_path / "missing.po")
    bad = tmp_path / "bad.po"
    bad.write_bytes(b"\xff\xfe not a po file")
    with pytest.raises(CatalogueError):
        use_catalogue(bad)
    assert language.translator("cy").gettext("No replies yet.") == "Dim atebion eto."


def test_a_council_catalogue_with_a_broken_placeholder_is_refused_at_start(tmp_path: Path) -> None:
    own = tmp_path / "ein-cyngor.po"
    text = WELSH_PO.read_text(encoding="utf-8")
    own.write_text(text.replace('msgstr "Cwestiwn {id}"', 'msgstr "Cwestiwn {rhif}"'), "utf-8")
    with pytest.raises(CatalogueError, match="placeholder the English lacks"):
        use_catalogue(own)
    own.write_text(text.replace('msgstr "Cwestiwn {id}"', 'msgstr "Cwestiwn {id"'), "utf-8")
    with pytest.raises(CatalogueError, match="braces that do not pair up"):
        use_catalogue(own)
    assert translator("cy").gettext("Question {id}") == "Cwestiwn {id}"
