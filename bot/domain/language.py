"""Welsh and English: a channel's language, and the translator every renderer writes through.

A channel's language is `en` (the default), `cy`, or `both`: Welsh first, then English, as
Welsh councils publish. Every string the bot writes is a msgid in the gettext catalogue
(`bot/data/locale/`, managed with Babel; see docs/translations.md), looked up through a
`Translator`:

    t = translator("cy")
    t.gettext("No replies yet.")                  # "Dim atebion eto."
    t.ngettext("{n} reply", "{n} replies", 3).format(n=3)
    t.format_date(day, "EEE d MMM")               # Babel, locale cy / en_GB

For `both`, `gettext` and `ngettext` return the Welsh and the English joined by " / " (the
placeholders are the same in both halves, so `.format` afterwards fills both). Text composed
of several translated pieces must be composed in one language at a time: `t.each(build)`
calls `build` with the Welsh translator, then the English one, and joins the two results.

The catalogue is compiled from the `.po` file when first needed (no `.mo` files to go stale)
and cached. A council may use its own Welsh catalogue: `use_catalogue(path)` (wired from the
`LEADERBOT_WELSH_CATALOGUE` setting) replaces the bundled one.
"""

from __future__ import annotations

import gettext as _gettext
import io
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal, get_args

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as _babel_decimal

Language = Literal["en", "cy", "both"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "en"
DOMAIN = "leaderbot"
BOTH_SEPARATOR = " / "

# Babel locales for dates and numbers.
_LOCALES = {"en": "en_GB", "cy": "cy"}
_ALIASES: dict[str, Language] = {
    "en": "en",
    "english": "en",
    "saesneg": "en",
    "cy": "cy",
    "welsh": "cy",
    "cymraeg": "cy",
    "both": "both",
    "bilingual": "both",
    "dwyieithog": "both",
    "cy+en": "both",
}


class LanguageError(ValueError):
    """Text that names no language we write."""


def parse_language(text: str) -> Language:
    """`cy`, `en` or `both` (also `welsh`, `cymraeg`, `english`, `bilingual`...)."""
    found = _ALIASES.get(text.strip().lower())
    if found is None:
        raise LanguageError(f"{text.strip()!r} is not a language I write: choose cy, en or both")
    return found


def coerce_language(value: object) -> Language:
    """A stored value as a Language; anything unknown (an old row, a typo) is English."""
    return value if isinstance(value, str) and value in LANGUAGES else DEFAULT_LANGUAGE  # type: ignore[return-value]


# --------------------------------------------------------------------------------- catalogue


def bundled_po(language: str = "cy") -> str:
    """The bundled catalogue of `language`, read from the installed package."""
    path = resources.files("bot.data").joinpath("locale", language, "LC_MESSAGES", f"{DOMAIN}.po")
    return path.read_text(encoding="utf-8")


def compile_po(text: str, locale: str = "cy") -> _gettext.GNUTranslations:
    """A `.po` file's text, compiled in memory. Fuzzy and empty entries are left out (gettext
    then falls back to the English msgid, and the completeness test says so)."""
    catalog = read_po(io.StringIO(text), locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


class CatalogueError(ValueError):
    """A council's own catalogue that cannot be read."""


_lock = threading.Lock()
_welsh: _gettext.GNUTranslations | None = None


def _fields(text: str) -> set[str]:
    """The `{placeholders}` of a message; ValueError when its braces do not pair up."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def placeholder_problem(text: str) -> str | None:
    """Why a catalogue's translations could not be written (a placeholder the English does
    not have, or braces that do not pair up), naming the first such msgid; None if fine."""
    catalog = read_po(io.StringIO(text), locale="cy", domain=DOMAIN)
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        try:
            wanted = set().union(*(_fields(i) for i in ids))
            for translated in filter(None, strings):
                if _fields(translated) - wanted:
                    return f"the translation of {ids[0]!r} has a placeholder the English lacks"
        except ValueError:
            return f"the translation of {ids[0]!r} has braces that do not pair up"
    return None


def use_catalogue(path: Path | None) -> None:
    """Use the Welsh `.po` at `path` instead of the bundled one (None: the bundled one).
    Reads it now, so a bad file is an error at start, not at the first Welsh post."""
    global _welsh
    if path is None:
        compiled = None
    else:
        try:
            text = path.read_text(encoding="utf-8")
            problem = placeholder_problem(text)
            compiled = compile_po(text)
        except FileNotFoundError:
            raise CatalogueError(f"{path}: no such catalogue file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogueError(f"{path}: cannot read: {exc}") from None
        except Exception as exc:  # Babel's parse errors have no common base class
            raise CatalogueError(f"{path}: not a usable .po file: {exc}") from None
        if problem is not None:
            # Caught here: at send time it would fail every Welsh post that uses it.
            raise CatalogueError(f"{path}: {problem}")
    with _lock:
        _welsh = compiled


def _welsh_translations() -> _gettext.GNUTranslations:
    global _welsh
    with _lock:
        if _welsh is None:
            _welsh = compile_po(bundled_po("cy"))
        return _welsh


# -------------------------------------------------------------------------------- translator


@dataclass(frozen=True, slots=True)
class Translator:
    """Writes in one language (or both). Use `translator(language)` to get one."""

    language: Language
    _tr: _gettext.NullTranslations

    # --- messages

    def gettext(self, message: str) -> str:
        if self.language == "both":
            return self.each(lambda t: t.gettext(message))
        return self._tr.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        if self.language == "both":
            return self.each(lambda t: t.ngettext(singular, plural, n))
        return self._tr.ngettext(singular, plural, n)

    # The usual short names, so extraction finds `t._("...")` too.
    _ = gettext

    def each(self, build: Callable[[Translator], str], sep: str = BOTH_SEPARATOR) -> str:
        """`build` in this language; for `both`, in Welsh then English, joined by `sep`."""
        return sep.join(build(t) for t in self.languages())

    def languages(self) -> tuple[Translator, ...]:
        """The one-language translators to write with, in order (Welsh first for `both`)."""
        if self.language != "both":
            return (self,)
        return (translator("cy"), translator("en"))

    # --- dates and numbers (Babel, CLDR data)

    @property
    def locale(self) -> str:
        """The Babel locale of a one-language translator (`both` formats in each)."""
        return _LOCALES["cy" if self.language == "cy" else "en"]

    @property
    def html_lang(self) -> str:
        return "cy" if self.language in ("cy", "both") else "en-GB"

    def format_date(self, when: date, pattern: str = "EEE d MMM y") -> str:
        return self.each(lambda t: _cached_date(when, pattern, t.locale))

    def format_datetime(self, when: datetime, pattern: str = "EEE d MMM y, HH:mm") -> str:
        # In `when`'s own zone (Babel would otherwise show UTC).
        return self.each(
            lambda t: _babel_datetime(when, pattern, tzinfo=when.tzinfo, locale=t.locale)
        )

    def format_number(self, number: float) -> str:
        # Numbers read the same in cy and en_GB: one rendering, even for `both`.
        return _babel_decimal(number, locale=self.locale)


@lru_cache(maxsize=4096)
def _cached_date(when: date, pattern: str, locale: str) -> str:
    # A digest writes the same few days many times (every reply's date): Babel once each.
    return _babel_date(when, pattern, locale=locale)


def translator(language: Language | str) -> Translator:
    """The translator for a channel's language (anything unknown: English)."""
    lang = coerce_language(language)
    if lang == "cy":
        return Translator("cy", _welsh_translations())
    return Translator(lang, _NULL)


_NULL = _gettext.NullTranslations()
ENGLISH = Translator("en", _NULL)


def N_(message: str) -> str:
    """Marks a module-level msgid for extraction; translate it where it is written."""
    return message
