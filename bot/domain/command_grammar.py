"""The admin command grammar: a command's words -> a typed command. Pure, no platform calls.

Every platform reads its own text into words first (`bot.domain.parsing.Word`: text, or a
mention already turned into a ChannelId or UserId); plain text is read with `plain_words`.

    help [command] | status | questions | ask [Qn]
    schedule <day> <time> [zone] | schedule off | pause [until YYYY-MM-DD] | resume
    digest <day> <time> [zone] [#channel] | digest now | digest off
    feeds | feeds add <url> [keywords…] | feeds remove <id> | alerts on|off
    language cy|en|both
    admins | admins add @user | admins remove @user
    quiet | quiet add <YYYY-MM-DD> <YYYY-MM-DD> [all] [questions,alerts,digests] [reason…]
    quiet remove <id> | quiet release

Any command may name a `#channel` (anywhere; "in", "for" or "to" before it is fine) to act
on that channel instead of the one it was typed in. In `digest <day> <time> #channel` the
channel is where the digest is *sent* (`deliver_to`); `for #channel` there picks whose
digest it is. Errors are `ParseError`s whose one-line message says what to type instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import ClassVar, TypeVar, dataclass_transform

from bot.domain.language import N_, Language, LanguageError, parse_language
from bot.domain.messages import Msg, Text
from bot.domain.parsing import (
    DAY_NAMES,
    ChannelId,
    ChannelName,
    ChannelRef,
    ParseError,
    UserId,
    Word,
    describe_ids,
    example_id,
    is_meridiem,
    looks_like_channel,
    parse_channel,
    parse_date,
    parse_day,
    parse_question_id,
    parse_time,
    parse_url,
    parse_user,
    parse_zone,
    quote,
    show,
    word_text,
)
from bot.domain.quiet import ALL_HOLDS, HOLDABLE

SLASH = "/leadership"
MAX_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 100


# --- the commands -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandBase:
    """`channel` is the `#channel` named in the command, or None for "where it was typed"."""

    channel: ChannelRef | None = None
    # The audit log's name for the action, and whether it needs an admin.
    action: ClassVar[str] = ""
    changes: ClassVar[bool] = False


_C = TypeVar("_C", bound=type[CommandBase])


@dataclass_transform(frozen_default=True)
def _command(action: str, *, changes: bool = False) -> Callable[[_C], _C]:
    """A command class: a frozen, slotted dataclass with its audit `action` and `changes` set."""

    def make(cls: _C) -> _C:
        cls.action = action
        cls.changes = changes
        return dataclass(frozen=True, slots=True)(cls)

    return make


@_command("help")
class Help(CommandBase):
    topic: str | None = None  # a subcommand name, for help on just that


@_command("status")
class Status(CommandBase):
    pass


@_command("questions")
class ListQuestions(CommandBase):
    pass


@_command("ask", changes=True)  # posts publicly in the channel
class Ask(CommandBase):
    question_id: str | None = None  # None: the next in the channel's rotation


@_command("schedule.set", changes=True)
class SetSchedule(CommandBase):
    weekday: int  # Monday = 0
    time: str  # "HH:MM"
    timezone: str | None = None  # None: keep the current zone, or the default


@_command("schedule.off", changes=True)
class ScheduleOff(CommandBase):
    pass


@_command("schedule.pause", changes=True)
class Pause(CommandBase):
    until: date | None = None  # posting resumes on this date; None: until `resume`


@_command("schedule.resume", changes=True)
class Resume(CommandBase):
    pass


@_command("digest.set", changes=True)
class SetDigest(CommandBase):
    weekday: int
    time: str
    timezone: str | None = None
    deliver_to: ChannelRef | None = None  # None: the channel the questions go to


@_command("digest.now", changes=True)  # posts publicly in the channel
class DigestNow(CommandBase):
    pass


@_command("digest.off", changes=True)
class DigestOff(CommandBase):
    pass


@_command("feeds")
class ListFeeds(CommandBase):
    pass


@_command("feeds.add", changes=True)
class AddFeed(CommandBase):
    url: str
    keywords: tuple[str, ...] = ()


@_command("feeds.remove", changes=True)
class RemoveFeed(CommandBase):
    feed_id: int


@_command("alerts", changes=True)
class SetAlerts(CommandBase):
    enabled: bool


@_command("language", changes=True)
class SetLanguage(CommandBase):
    """What the bot writes in the channel: Welsh, English, or both (Welsh first)."""

    language: Language


@_command("admins")
class ListAdmins(CommandBase):
    pass


@_command("admins.add", changes=True)
class AddAdmin(CommandBase):
    user: UserId


@_command("admins.remove", changes=True)
class RemoveAdmin(CommandBase):
    user: UserId


@_command("quiet")
class ListQuiet(CommandBase):
    pass


@_command("quiet.add", changes=True)
class AddQuiet(CommandBase):
    first_day: date
    last_day: date  # included
    every_channel: bool = False  # `all`: every channel, not just this one
    holds: tuple[str, ...] = ALL_HOLDS
    reason: str = ""  # empty: the service's default


@_command("quiet.remove", changes=True)
class RemoveQuiet(CommandBase):
    period_id: int


@_command("quiet.release", changes=True)  # posts the held digests publicly
class ReleaseQuiet(CommandBase):
    pass


Command = (
    Help
    | Status
    | ListQuestions
    | Ask
    | SetSchedule
    | ScheduleOff
    | Pause
    | Resume
    | SetDigest
    | DigestNow
    | DigestOff
    | ListFeeds
    | AddFeed
    | RemoveFeed
    | SetAlerts
    | SetLanguage
    | ListAdmins
    | AddAdmin
    | RemoveAdmin
    | ListQuiet
    | AddQuiet
    | RemoveQuiet
    | ReleaseQuiet
)


def is_change(command: CommandBase) -> bool:
    """True if the command changes settings or posts to the channel (so needs an admin);
    False if it only reads (open to everyone)."""
    return command.changes


# --- parsing ------------------------------------------------------------------------------

SUBCOMMANDS = (
    "help",
    "status",
    "questions",
    "ask",
    "schedule",
    "pause",
    "resume",
    "digest",
    "feeds",
    "alerts",
    "language",
    "admins",
    "quiet",
)
# Words people reach for that mean a subcommand; matched silently.
_ALIASES = {
    "?": "help",
    "question": "questions",
    "unpause": "resume",
    "feed": "feeds",
    "alert": "alerts",
    "admin": "admins",
    "purdah": "quiet",
    "iaith": "language",
    "lang": "language",
}
_CONNECTORS = frozenset({"in", "for", "to"})
_FILLERS = frozenset({"at", "on", "every"})
_OFF = frozenset({"off", "stop", "disable", "disabled", "none"})
_ON = frozenset({"on", "start", "enable", "enabled", "yes"})
_NO = frozenset({"no"})
_LIST = frozenset({"list", "ls", "show"})
_REMOVE = frozenset({"remove", "rm", "delete", "del"})

# A quoted phrase (straight or curly quotes, as phones type them); an adapter that tokenizes
# its own markup uses the same pattern for phrases.
QUOTED = r"[\"“”]([^\"“”]*)[\"“”]"
_TOKEN_RE = re.compile(rf"{QUOTED}|\S+")


@dataclass(frozen=True, slots=True)
class _Context:
    today: date | None
    question_ids: Sequence[str] | None
    any_id: bool  # a bare word may be a person's id (platforms whose names are ids)
    users: dict[str, UserId]  # the people mentioned, by the text that stands for them


def _fail(message: Text, example: str) -> ParseError:
    return ParseError(
        Msg(N_("{message} Try `{slash} {example}`."), message=message, slash=SLASH, example=example)
    )


_MEANT_THIS = Msg(N_(" Did you mean this?"))


def tokenize(text: str) -> list[str]:
    """Plain text -> words: runs of non-space, or a quoted phrase as one word."""
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        if match[1] is not None:
            if match[1].strip():
                tokens.append(match[1].strip())
        else:
            tokens.append(match[0])
    return tokens


def plain_words(text: str, *, names_are_ids: bool = False) -> list[Word]:
    """The words of plain text with no mention syntax (the console, the CLI). Where names are
    ids (the console), a `#name` is that channel's id."""
    words: list[Word] = []
    for token in tokenize(text):
        if names_are_ids and looks_like_channel(token):
            ref = parse_channel(token)
            name = ref.name if isinstance(ref, ChannelName) else token
            words.append(ChannelId(name, name))
        else:
            words.append(token)
    return words


def _take_channels(
    tokens: Sequence[Word],
) -> tuple[list[str], list[tuple[str | None, ChannelRef]], dict[str, UserId]]:
    """Split out the channel words, each with the connector ("in", "for", "to") before it;
    the other words as text, with the people mentioned among them by that text."""
    rest: list[str] = []
    found: list[tuple[str | None, ChannelRef]] = []
    users: dict[str, UserId] = {}
    for token in tokens:
        if not looks_like_channel(token):
            rest.append(word_text(token))
            if isinstance(token, UserId):
                users[rest[-1]] = token
            continue
        try:
            ref = parse_channel(token)
        except ParseError as exc:
            raise _fail(exc.msg, "status #general") from None
        connector = rest.pop().lower() if rest and rest[-1].lower() in _CONNECTORS else None
        found.append((connector, ref))
    return rest, found, users


def _one_channel(
    channels: Sequence[tuple[str | None, ChannelRef]], example: str
) -> ChannelRef | None:
    if len(channels) > 1:
        raise _fail(Msg(N_("Name one channel at most.")), example)
    return channels[0][1] if channels else None


def _suggest(word: str, options: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word.lower(), list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def parse_command(
    words: str | Sequence[Word],
    *,
    today: date | None = None,
    question_ids: Sequence[str] | None = None,
    any_id: bool = False,
) -> Command:
    """Parse what followed `/leadership`: the words a platform's adapter read (plain text is
    read with `plain_words`). `today` refuses past pause dates; `question_ids` (a QuestionSet's
    ids) checks `ask Qn`; `any_id` takes a bare word as a person's id (where names are ids).
    Raises ParseError with what to type instead."""
    if isinstance(words, str):
        words = plain_words(words)
    tokens, channels, users = _take_channels(words)
    if tokens and tokens[0].lower() == SLASH:
        tokens = tokens[1:]  # pasted with the command name: harmless
    if not tokens:
        if channels:
            raise _fail(Msg(N_("Say what to do in that channel.")), "status #general")
        return Help()
    word = tokens[0].lower()
    name = _ALIASES.get(word, word)
    if name not in _HANDLERS:
        guess = _suggest(name, [*SUBCOMMANDS, *_ALIASES])
        if guess is not None:
            raise ParseError(
                Msg(
                    N_("I don't know {word}. Did you mean `{guess}`? Try `{slash} help`."),
                    word=quote(tokens[0]),
                    guess=_ALIASES.get(guess, guess),
                    slash=SLASH,
                )
            )
        raise ParseError(
            Msg(N_("I don't know {word}. Try `{slash} help`."), word=quote(tokens[0]), slash=SLASH)
        )
    ctx = _Context(today=today, question_ids=question_ids, any_id=any_id, users=users)
    return _HANDLERS[name](tokens[1:], channels, ctx)


Channels = list[tuple[str | None, ChannelRef]]


def _no_more(args: Sequence[str], usage: str) -> None:
    if args:
        raise _fail(Msg(N_("I didn't expect {words} there."), words=quote(" ".join(args))), usage)


def _help(args: list[str], channels: Channels, ctx: _Context) -> Command:
    if not args:
        return Help(channel=_one_channel(channels, "help"))
    topic = _ALIASES.get(args[0].lower(), args[0].lower())
    if topic not in SUBCOMMANDS:
        guess = _suggest(topic, SUBCOMMANDS)
        message = (
            Msg(
                N_("There is no {word} command. Did you mean `{guess}`?"),
                word=quote(args[0]),
                guess=guess,
            )
            if guess
            else Msg(N_("There is no {word} command."), word=quote(args[0]))
        )
        raise _fail(message, "help schedule")
    return Help(topic=topic, channel=_one_channel(channels, "help"))


def _simple(cls: type[Status | ListQuestions | Resume], usage: str) -> _Handler:
    def handler(args: list[str], channels: Channels, ctx: _Context) -> Command:
        _no_more(args, usage)
        return cls(channel=_one_channel(channels, usage))

    return handler


def _ask(args: list[str], channels: Channels, ctx: _Context) -> Command:
    channel = _one_channel(channels, "ask Q3 #general")
    if not args or (len(args) == 1 and args[0].lower() == "next"):
        return Ask(channel=channel)
    example = f"ask {example_id(ctx.question_ids)}"
    _no_more(args[1:], example)
    try:
        question_id = parse_question_id(args[0])
    except ParseError as exc:
        raise _fail(exc.msg, example) from None
    ids = ctx.question_ids
    if ids is not None and question_id not in ids:
        raise _fail(
            Msg(N_("There is no {id}: choose {ids}."), id=question_id, ids=describe_ids(ids)),
            example,
        )
    return Ask(question_id=question_id, channel=channel)


def _join_meridiem(args: list[str]) -> list[str]:
    """["9:30", "pm"] -> ["9:30pm"]: am/pm typed as a word of its own."""
    joined: list[str] = []
    for token in args:
        if joined and is_meridiem(token) and re.search(r"\d$", joined[-1]):
            joined[-1] += token
        else:
            joined.append(token)
    return joined


def _day_and_time(args: list[str], verb: str) -> tuple[int, str, str | None]:
    """<day> <time> [zone] (either order), with "at"/"on"/"every" ignored -> parts."""
    words = _join_meridiem([a for a in args if a.lower() not in _FILLERS])
    example = f"{verb} mon 09:00"
    if len(words) < 2:
        raise ParseError(
            Msg(
                N_(
                    "Give a day and a time, e.g. `{slash} {example}`, or turn it off with "
                    "`{slash} {verb} off`; `{slash} status` shows the current one."
                ),
                slash=SLASH,
                example=example,
                verb=verb,
            )
        )
    try:
        weekday, at = parse_day(words[0]), parse_time(words[1])
    except ParseError as first:
        try:  # "9am monday" is as clear as "monday 9am"
            weekday, at = parse_day(words[1]), parse_time(words[0])
        except ParseError:
            day_ok = _parses(parse_day, words[0])
            raise _fail(first.msg, _fix_example(verb, words, first, day_ok)) from None
    zone = None
    if words[2:]:
        try:
            zone = parse_zone(" ".join(words[2:]))
        except ParseError as exc:
            suggestion = exc.suggestion or "Europe/London"
            day = DAY_NAMES[weekday][:3].lower()
            raise _fail(exc.msg, f"{verb} {day} {at} {suggestion}") from None
    return weekday, at, zone


def _parses(parser: Callable[[str], object], text: str) -> bool:
    try:
        parser(text)
    except ParseError:
        return False
    return True


def _fix_example(verb: str, words: list[str], error: ParseError, day_ok: bool) -> str:
    """The command as typed, with the part that failed swapped for a good one."""
    day = words[0] if day_ok else (error.suggestion or "mon")
    at = words[1] if not day_ok and _parses(parse_time, words[1]) else "09:00"
    return f"{verb} {day} {at}"


def _schedule(args: list[str], channels: Channels, ctx: _Context) -> Command:
    channel = _one_channel(channels, "schedule mon 09:00 #general")
    if len(args) == 1 and args[0].lower() in _OFF:
        return ScheduleOff(channel=channel)
    weekday, at, zone = _day_and_time(args, "schedule")
    return SetSchedule(weekday=weekday, time=at, timezone=zone, channel=channel)


def _pause(args: list[str], channels: Channels, ctx: _Context) -> Command:
    later = _later_date(ctx)
    channel = _one_channel(channels, f"pause until {later} #general")
    words = args[1:] if args and args[0].lower() == "until" else args
    if args and not words:
        raise _fail(Msg(N_("Pause until when? Give a date as YYYY-MM-DD.")), f"pause until {later}")
    if not words:
        return Pause(channel=channel)
    try:
        until = parse_date(words[0], today=ctx.today)
    except ParseError as exc:
        raise _fail(exc.msg, f"pause until {exc.suggestion or later}") from None
    _no_more(words[1:], f"pause until {later}")
    if ctx.today is not None and until == ctx.today:
        raise ParseError(
            Msg(
                N_(
                    "That is today, so nothing would pause: give a later date, e.g. "
                    "`{slash} pause until {later}`, or pause until you resume with "
                    "`{slash} pause`."
                ),
                slash=SLASH,
                later=later,
            )
        )
    return Pause(until=until, channel=channel)


def _later_date(ctx: _Context) -> str:
    """A date for examples that is still in the future whenever the message is read."""
    if ctx.today is None:
        return "2026-12-01"
    return (ctx.today + timedelta(days=14)).isoformat()


def _digest(args: list[str], channels: Channels, ctx: _Context) -> Command:
    if len(args) == 1 and args[0].lower() in ("now", *_OFF):
        channel = _one_channel(channels, "digest now #general")
        if args[0].lower() == "now":
            return DigestNow(channel=channel)
        return DigestOff(channel=channel)
    if len(args) == 1:
        guess = _suggest(args[0], ("now", "off"))
        if guess is not None and not _parses(parse_day, args[0]):
            raise _fail(
                Msg(N_("I don't know `digest {word}`."), word=show(args[0])), f"digest {guess}"
            )
    # Here a bare #channel (or "to"/"in" #channel) is where the digest goes; "for" #channel is
    # whose digest it is.
    example = "digest fri 16:00 #leaders"
    targets = [c for c in channels if c[0] == "for"]
    destinations = [c for c in channels if c[0] != "for"]
    weekday, at, zone = _day_and_time(args, "digest")
    return SetDigest(
        weekday=weekday,
        time=at,
        timezone=zone,
        deliver_to=_one_channel(destinations, example),
        channel=_one_channel(targets, f"{example} for #staff"),
    )


def _feeds(args: list[str], channels: Channels, ctx: _Context) -> Command:
    channel = _one_channel(channels, "feeds add https://www.socitm.net/feed/ #general")
    sub = args[0].lower() if args else "list"
    if sub in _LIST:
        _no_more(args[1:], "feeds")
        return ListFeeds(channel=channel)
    if sub == "add":
        example = "feeds add https://www.socitm.net/feed/ digital"
        if len(args) < 2:
            raise _fail(Msg(N_("Give the feed's web address, and keywords if you like.")), example)
        try:
            url = parse_url(args[1])
        except ParseError as exc:
            raise _fail(exc.msg, example) from None
        return AddFeed(url=url, keywords=_keywords(args[2:], example), channel=channel)
    if sub in _REMOVE:
        example = "feeds remove 3"
        if len(args) != 2:
            raise _fail(
                Msg(N_("Give the number of one feed (`/leadership feeds` lists them).")), example
            )
        digits = args[1].lstrip("#")
        if not digits.isdigit() or int(digits) == 0:
            raise _fail(Msg(N_("{word} is not a feed number."), word=quote(args[1])), example)
        return RemoveFeed(feed_id=int(digits), channel=channel)
    guess = _suggest(sub, ("add", "remove", "list"))
    examples = {"add": "feeds add https://www.socitm.net/feed/", "remove": "feeds remove 3"}
    example = examples.get(guess or "add", "feeds")
    hint = _MEANT_THIS if guess else ""
    raise _fail(
        Msg(N_("I don't know `feeds {word}`.{hint}"), word=show(args[0]), hint=hint), example
    )


def _keywords(words: Sequence[str], example: str) -> tuple[str, ...]:
    """Keywords: one per word, or per quoted phrase; commas separate too. Deduplicated."""
    keywords: list[str] = []
    seen: set[str] = set()
    for word in words:
        for part in word.split(","):
            keyword = " ".join(part.split())
            if not keyword or keyword.casefold() in seen:
                continue
            if len(keyword) > MAX_KEYWORD_LENGTH:
                raise _fail(
                    Msg(N_("Keywords can be {n} characters at most."), n=MAX_KEYWORD_LENGTH),
                    example,
                )
            seen.add(keyword.casefold())
            keywords.append(keyword)
    if len(keywords) > MAX_KEYWORDS:
        raise _fail(Msg(N_("Give {n} keywords at most."), n=MAX_KEYWORDS), example)
    return tuple(keywords)


def _alerts(args: list[str], channels: Channels, ctx: _Context) -> Command:
    channel = _one_channel(channels, "alerts on #general")
    if len(args) == 1 and args[0].lower() in _ON | _OFF | _NO:
        return SetAlerts(enabled=args[0].lower() in _ON, channel=channel)
    if not args:
        raise _fail(Msg(N_("Say `on` or `off`.")), "alerts on")
    guess = _suggest(args[0], ("on", "off"))
    message = (
        Msg(N_("Alerts are `on` or `off`. Did you mean `alerts {guess}`?"), guess=guess)
        if guess
        else Msg(N_("Alerts are `on` or `off`."))
    )
    raise _fail(message, f"alerts {guess or 'on'}")


def _language(args: list[str], channels: Channels, ctx: _Context) -> Command:
    channel = _one_channel(channels, "language cy #general")
    if not args:
        raise _fail(Msg(N_("Say `cy`, `en` or `both`.")), "language cy")
    if len(args) > 1:
        raise _fail(Msg(N_("Give one language: `cy`, `en` or `both`.")), "language both")
    try:
        return SetLanguage(language=parse_language(args[0]), channel=channel)
    except LanguageError:
        guess = _suggest(args[0], ("cy", "en", "both"))
        message = (
            Msg(
                N_(
                    "The bot writes Welsh (`cy`), English (`en`) or `both`."
                    " Did you mean `language {guess}`?"
                ),
                guess=guess,
            )
            if guess
            else Msg(N_("The bot writes Welsh (`cy`), English (`en`) or `both`."))
        )
        raise _fail(message, f"language {guess or 'cy'}") from None


def _admins(args: list[str], channels: Channels, ctx: _Context) -> Command:
    channel = _one_channel(channels, "admins")
    sub = args[0].lower() if args else "list"
    if sub in _LIST:
        _no_more(args[1:], "admins")
        return ListAdmins(channel=channel)
    if sub in ("add", *_REMOVE):
        verb = "add" if sub == "add" else "remove"
        example = f"admins {verb} @jane"
        if len(args) != 2:
            raise _fail(Msg(N_("Name one person, picked as you type @.")), example)
        try:
            user = ctx.users.get(args[1]) or parse_user(args[1], any_id=ctx.any_id)
        except ParseError as exc:
            raise _fail(exc.msg, example) from None
        if verb == "add":
            return AddAdmin(user=user, channel=channel)
        return RemoveAdmin(user=user, channel=channel)
    guess = _suggest(sub, ("add", "remove", "list"))
    examples = {"add": "admins add @jane", "remove": "admins remove @jane"}
    example = examples.get(guess or "add", "admins")
    hint = _MEANT_THIS if guess else ""
    raise _fail(
        Msg(N_("I don't know `admins {word}`.{hint}"), word=show(args[0]), hint=hint), example
    )


def _quiet(args: list[str], channels: Channels, ctx: _Context) -> Command:
    sub = args[0].lower() if args else "list"
    if sub in _LIST:
        _no_more(args[1:], "quiet")
        return ListQuiet(channel=_one_channel(channels, "quiet #general"))
    if sub == "add":
        return _quiet_add(args[1:], channels, ctx)
    if sub in _REMOVE:
        example = "quiet remove 3"
        if len(args) != 2:
            raise _fail(
                Msg(N_("Give the number of one quiet period (`/leadership quiet` lists them).")),
                example,
            )
        digits = args[1].lstrip("#")
        if not digits.isdigit() or int(digits) == 0:
            raise _fail(
                Msg(N_("{word} is not a quiet period number."), word=quote(args[1])), example
            )
        return RemoveQuiet(period_id=int(digits), channel=_one_channel(channels, example))
    if sub == "release":
        _no_more(args[1:], "quiet release")
        return ReleaseQuiet(channel=_one_channel(channels, "quiet release #general"))
    later = _later_date(ctx)
    guess = _suggest(sub, ("add", "remove", "release", "list"))
    examples = {
        "add": f"quiet add {later} {later}",
        "remove": "quiet remove 3",
        "release": "quiet release",
    }
    example = examples.get(guess or "add", "quiet")
    hint = _MEANT_THIS if guess else ""
    raise _fail(
        Msg(N_("I don't know `quiet {word}`.{hint}"), word=show(args[0]), hint=hint), example
    )


def _quiet_add(args: list[str], channels: Channels, ctx: _Context) -> Command:
    later = _later_date(ctx)
    example = f"quiet add {later} {later} all questions,digests local elections"
    if len(args) < 2:
        raise _fail(Msg(N_("Give the first and last days, as YYYY-MM-DD.")), example)
    try:
        first_day = parse_date(args[0])  # a period may already have begun
        last_day = parse_date(args[1], today=ctx.today)
    except ParseError as exc:
        raise _fail(exc.msg, example) from None
    if last_day < first_day:
        raise _fail(
            Msg(
                N_(
                    "It ends ({last}) before it starts ({first}): give the first day, then "
                    "the last."
                ),
                last=str(last_day),
                first=str(first_day),
            ),
            f"quiet add {first_day} {first_day}",
        )
    rest = args[2:]
    every_channel = bool(rest) and rest[0].lower() in ("all", "everywhere")
    if every_channel:
        rest = rest[1:]
        if channels:
            raise _fail(
                Msg(N_("Name a channel or say `all`, not both.")),
                f"quiet add {later} {later} all",
            )
    holds = ALL_HOLDS
    if rest and _looks_like_holds(rest[0]):
        holds = _holds(rest[0], f"quiet add {later} {later} questions,digests")
        rest = rest[1:]
    return AddQuiet(
        first_day=first_day,
        last_day=last_day,
        every_channel=every_channel,
        holds=holds,
        reason=" ".join(rest),
        channel=_one_channel(channels, f"quiet add {later} {later} #general"),
    )


def _looks_like_holds(word: str) -> bool:
    """`questions`, `alerts,digests`: a list of what to hold (else the reason begins)."""
    parts = [p for p in word.lower().split(",") if p]
    return bool(parts) and ("," in word or parts[0] in HOLDABLE)


def _holds(word: str, example: str) -> tuple[str, ...]:
    names = {p for p in word.lower().split(",") if p}
    for name in names:
        if name not in HOLDABLE:
            guess = _suggest(name, ALL_HOLDS)
            message = (
                Msg(
                    N_("{word} cannot be held: say which of {holds}. Did you mean `{guess}`?"),
                    word=quote(name),
                    holds=",".join(ALL_HOLDS),
                    guess=guess,
                )
                if guess
                else Msg(
                    N_("{word} cannot be held: say which of {holds}."),
                    word=quote(name),
                    holds=",".join(ALL_HOLDS),
                )
            )
            raise _fail(message, example)
    return tuple(name for name in ALL_HOLDS if name in names)


_Handler = Callable[[list[str], Channels, _Context], Command]
_HANDLERS: dict[str, _Handler] = {
    "help": _help,
    "status": _simple(Status, "status"),
    "questions": _simple(ListQuestions, "questions"),
    "ask": _ask,
    "schedule": _schedule,
    "pause": _pause,
    "resume": _simple(Resume, "resume"),
    "digest": _digest,
    "feeds": _feeds,
    "alerts": _alerts,
    "language": _language,
    "admins": _admins,
    "quiet": _quiet,
}


def with_channel(command: Command, channel: ChannelRef | None) -> Command:
    """The same command aimed at another channel (e.g. once a `#name` has been looked up)."""
    return replace(command, channel=channel)


__all__ = [
    "SLASH",
    "SUBCOMMANDS",
    "AddAdmin",
    "AddFeed",
    "AddQuiet",
    "Ask",
    "Command",
    "CommandBase",
    "DigestNow",
    "DigestOff",
    "Help",
    "ListAdmins",
    "ListFeeds",
    "ListQuestions",
    "ListQuiet",
    "ParseError",
    "Pause",
    "ReleaseQuiet",
    "RemoveAdmin",
    "RemoveFeed",
    "RemoveQuiet",
    "Resume",
    "ScheduleOff",
    "SetAlerts",
    "SetDigest",
    "SetLanguage",
    "SetSchedule",
    "Status",
    "is_change",
    "parse_command",
    "plain_words",
    "tokenize",
    "with_channel",
]
