"""Forgiving, pure parsers for what people type: days, times, zones, channels, people, dates.

Shared by the admin commands (every platform) and the CLI. Each parser returns a clean value
or raises `ParseError` whose message is one line saying what was expected, with an example in
backticks. Nothing here calls a platform or reads its syntax: each platform's adapter turns
its mentions into `ChannelId` / `UserId` words first (see `Word`). A bare `#name` that is not
a mention comes back as `ChannelName`, for the caller to look up or report.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from bot.domain.language import N_, Translator
from bot.domain.messages import Msg, one_line, render

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Nation = Literal["england-and-wales", "scotland", "northern-ireland"]
NATIONS: tuple[Nation, ...] = ("england-and-wales", "scotland", "northern-ireland")

# Echoed input is cut short: a message must stay one readable line.
_MAX_ECHO = 40


class ParseError(ValueError):
    """Input that could not be understood. `message` is one line with an example to type.

    `suggestion` is the corrected value when there is exactly one good guess, so a caller can
    build a full corrected command from it.
    """

    def __init__(self, message: str | Msg, *, suggestion: str | None = None) -> None:
        # A Msg is written in the channel's language by `text`; `message` is the English.
        self.msg = message
        self.message = one_line(str(message))  # one line, whatever was passed in
        self.suggestion = suggestion
        super().__init__(self.message)

    def text(self, t: Translator) -> str:
        """The message in `t`'s language (one line), Welsh then English for `both`."""
        return t.each(lambda one: one_line(render(self.msg, one)))


def show(text: str) -> str:
    """User input made safe to quote inside a one-line message between backticks."""
    flat = " ".join(text.split()).replace("`", "'")
    return flat if len(flat) <= _MAX_ECHO else flat[: _MAX_ECHO - 1] + "…"


def quote(text: str) -> str | Msg:
    """User input quoted in backticks for a message, or "nothing" if there was none (a Msg:
    written in the message's language)."""
    shown = show(text)
    return f"`{shown}`" if shown else Msg(N_("nothing"))


def _squash(text: str) -> str:
    """Lower case, no surrounding space or trailing list punctuation ("Mon," -> "mon")."""
    return text.strip().strip(",;").strip().lower()


# --- days ---------------------------------------------------------------------------------

_DAY_ALIASES: dict[str, int] = {}
for _i, _name in enumerate(DAY_NAMES):
    _DAY_ALIASES[_name.lower()] = _i
    _DAY_ALIASES[_name[:3].lower()] = _i
    _DAY_ALIASES[_name[:2].lower()] = _i  # "mo", "tu", "we", "th", "fr", "sa", "su"
for _alias, _i in {"tues": 1, "weds": 2, "wednes": 2, "thur": 3, "thurs": 3, "thu": 3}.items():
    _DAY_ALIASES[_alias] = _i


def parse_day(text: str) -> int:
    """A day of the week -> 0 (Monday) to 6 (Sunday). "mon", "Monday", "tues", "Thursdays"."""
    key = _squash(text).rstrip(".")
    if key in _DAY_ALIASES:
        return _DAY_ALIASES[key]
    # "Mondays" / "mondays": people write the plural when they mean every week.
    if key.endswith("s") and key[:-1] in _DAY_ALIASES and len(key) > 3:
        return _DAY_ALIASES[key[:-1]]
    close = difflib.get_close_matches(key, [d.lower() for d in DAY_NAMES], n=1, cutoff=0.6)
    if close:
        name = DAY_NAMES[_DAY_ALIASES[close[0]]]
        raise ParseError(
            Msg(
                N_("{text} is not a day I know. Did you mean `{name}`?"),
                text=quote(text),
                name=name,
            ),
            suggestion=name[:3].lower(),
        )
    raise ParseError(
        Msg(N_("{text} is not a day of the week: use e.g. `mon` or `Monday`."), text=quote(text))
    )


def day_name(weekday: int) -> str:
    return DAY_NAMES[weekday]


# --- times --------------------------------------------------------------------------------

_TIME_WORDS = {"noon": "12:00", "midday": "12:00", "midnight": "00:00"}
# 9, 09, 930, 0930, 9:30, 09.30, 17h30, each optionally followed by am/pm.
_TIME_RE = re.compile(r"(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2}))?(?P<ap>am|pm|a|p)?")
_TIME_COMPACT_RE = re.compile(r"(?P<h>\d{1,2})(?P<m>\d{2})(?P<ap>am|pm|a|p)?")
_TIME_EXAMPLE = Msg(N_("use e.g. `09:00`, `17.30` or `9:30am`"))


def parse_time(text: str) -> str:
    """A time of day -> "HH:MM" (24-hour). "09:00", "9:00", "0900", "17.30", "9am", "9:30 pm".

    "12pm" is noon and "12am" midnight, as on a UK timetable.
    """
    key = _squash(text).replace(" ", "")
    # "a.m." / "p.m." -> "am" / "pm"
    key = re.sub(r"([ap])\.?m\.?$", r"\1m", key)
    if key in _TIME_WORDS:
        return _TIME_WORDS[key]
    match = _TIME_RE.fullmatch(key) or _TIME_COMPACT_RE.fullmatch(key)
    if match is None:
        raise ParseError(
            Msg(N_("{text} is not a time: {example}."), text=quote(text), example=_TIME_EXAMPLE)
        )
    hour = int(match["h"])
    minute = int(match["m"] or 0)
    meridiem = match["ap"]
    if minute > 59:
        raise ParseError(
            Msg(
                N_("{text} has minutes past 59: {example}."),
                text=quote(text),
                example=_TIME_EXAMPLE,
            )
        )
    if meridiem:
        if not 1 <= hour <= 12:
            raise ParseError(
                Msg(
                    N_(
                        "{text} mixes 24-hour and am/pm: with am/pm use 1–12, e.g. `1pm`, "
                        "or drop it, e.g. `13:00`."
                    ),
                    text=quote(text),
                )
            )
        hour = hour % 12 + (12 if meridiem.startswith("p") else 0)
    elif hour > 23:
        hint = Msg(N_(" (for midnight use `00:00`)")) if hour == 24 and minute == 0 else ""
        raise ParseError(
            Msg(
                N_("{text} is past 23:59{hint}: {example}."),
                text=quote(text),
                hint=hint,
                example=_TIME_EXAMPLE,
            )
        )
    return f"{hour:02d}:{minute:02d}"


def is_meridiem(token: str) -> bool:
    """True for a lone "am"/"pm" token, as in "9:30 pm", so a caller can join it to the time."""
    return re.fullmatch(r"[ap]\.?m\.?", token.strip().lower()) is not None


# --- time zones ---------------------------------------------------------------------------

_LONDON = "Europe/London"
# Names UK staff use for UK time. GMT and BST mean "whatever the UK clock says" to most people,
# so they map to Europe/London (which follows the clock change), not to fixed offsets.
_ZONE_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        [
            "uk",
            "gb",
            "gb-eire",
            "britain",
            "great_britain",
            "united_kingdom",
            "england",
            "scotland",
            "wales",
            "northern_ireland",
            "gmt",
            "bst",
            "uk_time",
            "british_time",
            "london",
            "edinburgh",
            "glasgow",
            "cardiff",
            "belfast",
            "europe/belfast",
            "manchester",
            "birmingham",
            "leeds",
            "liverpool",
            "bristol",
            "newcastle",
        ],
        _LONDON,
    ),
    "dublin": "Europe/Dublin",
    "ireland": "Europe/Dublin",
    "eire": "Europe/Dublin",
}
# Etc/GMT+1 means UTC-1 (POSIX signs are inverted): never offer it as a guess.
_NO_GUESS_PREFIXES = ("etc/",)


def _zone_key(text: str) -> str:
    return "_".join(text.strip().lower().split())


@cache
def _zone_index() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(lower-case name -> IANA name, lower-case city -> IANA names). Built once: it is slow."""
    names = {zone.lower(): zone for zone in available_timezones()}
    cities: dict[str, list[str]] = {}
    for lower, zone in names.items():
        if "/" in lower and not lower.startswith(_NO_GUESS_PREFIXES):
            cities.setdefault(lower.rsplit("/", 1)[1], []).append(zone)
    return names, {city: tuple(sorted(zones)) for city, zones in cities.items()}


def parse_zone(text: str) -> str:
    """An IANA time zone, case-insensitive, or a UK name for UK time -> the IANA name.

    Accepted: exact IANA names ("europe/london"), the aliases above ("London", "UK", "BST"),
    and a city that names exactly one zone ("Paris", "new york"). Anything else raises
    ParseError, suggesting close matches ("Europe/Londn" -> did you mean Europe/London?).
    """
    key = _zone_key(text)
    names, cities = _zone_index()
    if key in _ZONE_ALIASES:
        return _ZONE_ALIASES[key]
    if key in names:
        return names[key]
    found = cities.get(key, ())
    if len(found) == 1:
        return found[0]
    if found:
        options = " or ".join(f"`{z}`" for z in found[:3])
        raise ParseError(
            Msg(
                N_("{text} could be {options}: give the full name."),
                text=quote(text),
                options=options,
            )
        )
    if re.fullmatch(r"(utc|gmt|z)?[+-]\d{1,2}(:?\d{2})?", key):
        # A fixed offset would go wrong at the clock change; a place follows it.
        raise ParseError(
            Msg(
                N_(
                    "{text} is an offset: name a place instead, so the clock change is "
                    "followed, e.g. `Europe/London`."
                ),
                text=quote(text),
            )
        )
    guesses = _zone_guesses(key)
    if guesses:
        options = " or ".join(f"`{z}`" for z in guesses)
        raise ParseError(
            Msg(
                N_("{text} is not a time zone I know. Did you mean {options}?"),
                text=quote(text),
                options=options,
            ),
            suggestion=guesses[0],
        )
    raise ParseError(
        Msg(
            N_("{text} is not a time zone I know: use an IANA name such as `Europe/London`."),
            text=quote(text),
        )
    )


def _zone_guesses(key: str) -> list[str]:
    if len(key) > 64:
        return []  # no zone name is this long; don't spend time comparing it with 600 names
    names, cities = _zone_index()
    candidates: dict[str, str] = dict(_ZONE_ALIASES)
    candidates.update(
        (lower, zone) for lower, zone in names.items() if not lower.startswith(_NO_GUESS_PREFIXES)
    )
    candidates.update((city, zones[0]) for city, zones in cities.items() if len(zones) == 1)
    scored = []
    for match in difflib.get_close_matches(key, list(candidates), n=6, cutoff=0.75):
        scored.append((difflib.SequenceMatcher(None, key, match).ratio(), candidates[match]))
    guesses: list[str] = []
    for ratio, zone in scored:
        # Only offer the runners-up that are about as good as the best guess.
        if ratio >= scored[0][0] - 0.05 and zone not in guesses:
            guesses.append(zone)
    return guesses[:3]


# --- channels and people ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelId:
    """A channel the platform named by id: a mention its adapter read, or an id as typed."""

    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelName:
    """A bare `#name` that is not a mention (no such channel, or one the person cannot see):
    only the platform can find its id, if it has one."""

    name: str


ChannelRef = ChannelId | ChannelName


@dataclass(frozen=True, slots=True)
class UserId:
    """A person the platform named by id: a mention its adapter read, or an id as typed."""

    id: str
    name: str | None = None


# A word of a command, as a platform's adapter hands it over: plain text, or a mention it has
# already turned into a channel or a person. No platform syntax is left in it.
Word = str | ChannelId | UserId

_CHANNEL_NAME_RE = re.compile(r"#([^\s#<>@|`]{1,80})")


def _single_word(raw: str) -> bool:
    return bool(raw) and not any(ch.isspace() for ch in raw) and not raw.startswith(("<", "@"))


def parse_channel(word: Word, *, any_id: bool = False) -> ChannelRef:
    """A channel: a ChannelId as it is; "#name" -> ChannelName.

    `any_id=True` takes any other single word as an id as it stands, for platforms whose
    names are ids (the console) or where an id is expected (the CLI's `--channel ID`).
    """
    if isinstance(word, ChannelId):
        return word
    if isinstance(word, UserId):
        raise ParseError(
            Msg(
                N_("{text} is a person, not a channel: e.g. `#general`."),
                text=quote(word_text(word)),
            )
        )
    raw = word.strip()
    if match := _CHANNEL_NAME_RE.fullmatch(raw):
        return ChannelName(match[1].lower())
    if any_id and _single_word(raw):
        return ChannelId(raw)
    raise ParseError(Msg(N_("{text} is not a channel: e.g. `#general`."), text=quote(word)))


def looks_like_channel(word: Word) -> bool:
    """Whether a command word is meant as a channel: a ChannelId, or a `#name` (but `#12` is
    left for `feeds remove #12`)."""
    if isinstance(word, ChannelId):
        return True
    if isinstance(word, UserId):
        return False
    raw = word.strip()
    return _CHANNEL_NAME_RE.fullmatch(raw) is not None and not raw[1:].isdigit()


def parse_user(word: Word, *, any_id: bool = False) -> UserId:
    """A person: a UserId as it is. `any_id=True` takes a single word as an id as it stands
    (the console, whose user names are ids; the CLI's USER_ID)."""
    if isinstance(word, UserId):
        return word
    text = word_text(word)
    raw = text.strip()
    if any_id and isinstance(word, str) and _single_word(raw):
        return UserId(raw)
    if raw.startswith("@"):
        # An @name the platform did not turn into a mention: nobody matched, or it was typed
        # by hand.
        raise ParseError(
            Msg(
                N_(
                    "I can't tell who {text} is: pick them from the list that appears as you "
                    "type @, e.g. `@Jane Smith`."
                ),
                text=quote(text),
            )
        )
    raise ParseError(
        Msg(N_("{text} is not a person: mention them, e.g. `@Jane Smith`."), text=quote(text))
    )


def word_text(word: Word) -> str:
    """A word as text, to echo it or to read it where text is expected: a mention as
    `#name`/`@name` when the platform gave its name, else its id."""
    if isinstance(word, str):
        return word
    if word.name:
        return ("#" if isinstance(word, ChannelId) else "@") + word.name
    return word.id


# --- dates --------------------------------------------------------------------------------

_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_UK_DATE_RE = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")


def parse_date(text: str, *, today: date | None = None) -> date:
    """A date "YYYY-MM-DD" -> date. Given `today`, a date before it is refused."""
    raw = text.strip()
    match = _ISO_DATE_RE.fullmatch(raw)
    if match is None:
        uk = _UK_DATE_RE.fullmatch(raw)
        if uk is not None:
            # A UK-style date (day first): show the same date the way we need it.
            guess = f"{uk[3]}-{int(uk[2]):02d}-{int(uk[1]):02d}"
            raise ParseError(
                Msg(N_("Write dates as YYYY-MM-DD: did you mean `{guess}`?"), guess=guess),
                suggestion=guess,
            )
        raise ParseError(
            Msg(N_("{text} is not a date: use YYYY-MM-DD, e.g. `2026-12-01`."), text=quote(text))
        )
    try:
        value = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ParseError(
            Msg(
                N_("{text} is not a real date: use YYYY-MM-DD, e.g. `2026-12-01`."),
                text=quote(text),
            )
        ) from None
    if today is not None and value < today:
        later = (today + timedelta(days=14)).isoformat()
        raise ParseError(
            Msg(
                N_("{day} has already passed: give a later date, e.g. `{later}`."),
                day=value.isoformat(),
                later=later,
            )
        )
    return value


# --- nations (for bank holidays) ----------------------------------------------------------

_NATION_ALIASES: dict[str, Nation] = {
    **dict.fromkeys(
        ["england-and-wales", "england", "wales", "eng", "wls", "e-and-w", "ew"],
        "england-and-wales",
    ),
    **dict.fromkeys(["scotland", "sco", "scot", "sct"], "scotland"),
    **dict.fromkeys(["northern-ireland", "ni", "nir", "n-ireland"], "northern-ireland"),
}


def parse_nation(text: str) -> Nation:
    """Whose bank holidays: "england" / "wales" / "eng", "scotland" / "sco", "ni"."""
    # "England & Wales", "england_and_wales", "N. Ireland" -> "england-and-wales", "n-ireland"
    spaced = _squash(text).replace("&", " and ")
    key = "-".join(re.sub(r"[-_.]", " ", spaced).split())
    if key in _NATION_ALIASES:
        return _NATION_ALIASES[key]
    close = difflib.get_close_matches(key, list(_NATION_ALIASES), n=1, cutoff=0.7)
    hint = f" Did you mean `{_NATION_ALIASES[close[0]]}`?" if close else ""
    raise ParseError(
        f"{quote(text)} is not a UK nation: use `england-and-wales`, `scotland` or "
        f"`northern-ireland`.{hint}",
        suggestion=_NATION_ALIASES[close[0]] if close else None,
    )


# --- questions and URLs -------------------------------------------------------------------


def describe_ids(ids: Sequence[str]) -> str:
    """ "Q1–Q10" for a run of numbered ids, else a list."""
    numbers = [int(i[1:]) for i in ids if re.fullmatch(r"Q\d+", i)]
    if len(numbers) == len(ids) >= 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{ids[0]}–{ids[-1]}"
    return ", ".join(ids)


def parse_question_id(text: str, ids: Sequence[str] | None = None) -> str:
    """A question id: "Q3", "q3" or "3" -> "Q3". Given the set's `ids`, it must be one of them."""
    key = _squash(text).upper()
    if re.fullmatch(r"\d{1,2}", key):
        key = f"Q{int(key)}"
    elif re.fullmatch(r"Q\d{1,2}", key):
        key = f"Q{int(key[1:])}"  # "Q03" -> "Q3"
    else:
        raise ParseError(
            Msg(
                N_("{text} is not a question ID: use e.g. `{example}`."),
                text=quote(text),
                example=example_id(ids),
            )
        )
    if ids is not None and key not in ids:
        raise ParseError(
            Msg(
                N_("There is no {id}: choose {ids}. Example: `{example}`."),
                id=key,
                ids=describe_ids(ids),
                example=example_id(ids),
            )
        )
    return key


def example_id(ids: Sequence[str] | None) -> str:
    """A question id to show in examples: Q3 where there is one."""
    if not ids or "Q3" in ids:
        return "Q3"
    return ids[0]


_URL_EXAMPLE = "`https://www.socitm.net/feed/`"


def parse_url(text: str) -> str:
    """A feed address: "https://…" (an adapter hands over a link's address as text)."""
    raw = text.strip()
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise ParseError(
            Msg(
                N_("{text} is not a web address: e.g. {example}."),
                text=quote(text),
                example=_URL_EXAMPLE,
            )
        ) from None
    if any(ch.isspace() or ord(ch) < 32 for ch in raw):
        raise ParseError(
            Msg(
                N_("{text} has spaces in it: e.g. {example}."),
                text=quote(text),
                example=_URL_EXAMPLE,
            )
        )
    if parts.scheme.lower() in ("http", "https") and parts.hostname:
        return raw
    if not parts.scheme and "." in raw.split("/", 1)[0]:
        guess = "https://" + raw
        raise ParseError(
            Msg(
                N_("A feed address starts with https://: did you mean {guess}?"), guess=quote(guess)
            ),
            suggestion=guess,
        )
    raise ParseError(
        Msg(
            N_("{text} is not a web (http/https) address: e.g. {example}."),
            text=quote(text),
            example=_URL_EXAMPLE,
        )
    )
