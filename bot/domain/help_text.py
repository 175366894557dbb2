"""The `/leadership help` text: plain text (no mrkdwn, no angle brackets), so the slash
command, the App Home and the CLI can all show it as it is. Every subcommand has an example,
and tests check that every example parses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain.command_grammar import SLASH, SUBCOMMANDS


@dataclass(frozen=True, slots=True)
class HelpEntry:
    topic: str  # the subcommand it belongs to (`help TOPIC` shows its entries)
    usage: str
    summary: str
    example: str  # what follows the command name, e.g. "schedule mon 09:00"
    changes: bool  # needs an admin


ENTRIES: tuple[HelpEntry, ...] = (
    HelpEntry(
        "help", "help [COMMAND]", "This help, or more on one command.", "help schedule", False
    ),
    HelpEntry(
        "status",
        "status",
        "This channel's schedule, next post, digest, feeds and the last 5 changes.",
        "status",
        False,
    ),
    HelpEntry("questions", "questions", "The ten questions, with their IDs.", "questions", False),
    HelpEntry(
        "feeds", "feeds", "The news feeds this channel follows, with their numbers.", "feeds", False
    ),
    HelpEntry("admins", "admins", "Who can change leaderbot's settings.", "admins", False),
    HelpEntry(
        "ask",
        "ask [Qn]",
        "Post a question now: the next one, or the one you name.",
        "ask Q3",
        True,
    ),
    HelpEntry(
        "schedule",
        "schedule DAY TIME [ZONE]",
        "Post a question every week at this day and time.",
        "schedule mon 09:00 Europe/London",
        True,
    ),
    HelpEntry("schedule", "schedule off", "Stop the weekly question.", "schedule off", True),
    HelpEntry(
        "pause",
        "pause [until YYYY-MM-DD]",
        "Skip the weekly question until that date (or until you resume).",
        "pause until {later}",  # filled in with a date still to come
        True,
    ),
    HelpEntry("resume", "resume", "Start posting again after a pause.", "resume", True),
    HelpEntry(
        "digest",
        "digest DAY TIME [ZONE] [#channel]",
        "Send a weekly digest of the replies, here or to the channel you name.",
        "digest fri 16:00 #leaders",
        True,
    ),
    HelpEntry("digest", "digest now", "Post the digest of the replies so far.", "digest now", True),
    HelpEntry("digest", "digest off", "Stop the weekly digest.", "digest off", True),
    HelpEntry(
        "feeds",
        "feeds add URL [KEYWORDS...]",
        "Follow a news feed, optionally only items with these words.",
        "feeds add https://www.socitm.net/feed/ digital",
        True,
    ),
    HelpEntry("feeds", "feeds remove NUMBER", "Stop following a feed.", "feeds remove 3", True),
    HelpEntry(
        "alerts",
        "alerts on|off",
        "Tell this channel about new Socitm reports, or stop.",
        "alerts on",
        True,
    ),
    HelpEntry(
        "language",
        "language cy|en|both",
        "Write this channel's questions, nudges, digests and alerts in Welsh, English or both"
        " (Welsh first).",
        "language cy",
        True,
    ),
    HelpEntry(
        "admins", "admins add @person", "Let someone change settings.", "admins add @jane", True
    ),
    HelpEntry("admins", "admins remove @person", "Take that back.", "admins remove @jane", True),
    HelpEntry(
        "quiet",
        "quiet",
        "The quiet periods (such as before an election) for this channel and every channel.",
        "quiet",
        False,
    ),
    HelpEntry(
        "quiet",
        "quiet add FIRST LAST [all] [questions,alerts,digests] [REASON...]",
        "Hold back posts from the first day to the last (YYYY-MM-DD), here or in every channel.",
        "quiet add {later} {later} all questions,digests local elections",
        True,
    ),
    HelpEntry("quiet", "quiet remove NUMBER", "End a quiet period.", "quiet remove 3", True),
    HelpEntry(
        "quiet",
        "quiet release",
        "Send this channel's digests a quiet period held back, now.",
        "quiet release",
        True,
    ),
)

_TOPIC_NOTES: dict[str, str] = {
    "schedule": (
        "Days: mon to sun, or full names. Times: 09:00, 0900, 17.30, 9am or 5:30pm. "
        "Zones: place names such as Europe/London or London."
    ),
    "digest": (
        "Days and times as for schedule. To set another channel's digest, add for #channel, "
        f"e.g. {SLASH} digest fri 16:00 #leaders for #staff"
    ),
    "pause": "The question is posted again from that date.",
    "feeds": 'Put a phrase in quotes to match it whole, e.g. "digital trends".',
    "quiet": (
        "Without a list of what to hold, questions, alerts and digests are all held. "
        "Held questions and alerts are not posted later; held digests wait for quiet release."
    ),
    "admins": (
        "Workspace admins and owners can always change settings; guests never can. "
        "Pick the person from the list that appears as you type @."
    ),
}


def example(entry: HelpEntry, today: date | None = None) -> str:
    """The entry's example as typed after the command name, with any date in the future."""
    later = (today + timedelta(days=14)).isoformat() if today else "2026-12-01"
    return entry.example.replace("{later}", later)


def _entry_lines(entry: HelpEntry, prefix: str, today: date | None) -> list[str]:
    return [f"  {entry.usage}", f"      {entry.summary} Example: {prefix} {example(entry, today)}"]


def help_text(
    topic: str | None = None,
    *,
    prefix: str = SLASH,
    default_timezone: str = "Europe/London",
    today: date | None = None,
) -> str:
    """All the help, or just one subcommand's (`topic`, e.g. "schedule"). `prefix` is how the
    command is typed where the text is shown; `today` keeps example dates in the future."""
    if topic is not None:
        entries = [e for e in ENTRIES if e.topic == topic]
        if not entries:
            return help_text(prefix=prefix, default_timezone=default_timezone, today=today)
        lines = [f"{prefix} {topic}:"]
        for entry in entries:
            lines += _entry_lines(entry, prefix, today)
        if topic in _TOPIC_NOTES:
            lines.append(_TOPIC_NOTES[topic])
        if any(e.changes for e in entries):
            lines.append(f"Changes need an admin: {prefix} admins lists them.")
        return "\n".join(lines)

    lines = [
        f"{prefix}: the weekly leadership question for this channel.",
        "Add a #channel to any command to act on that channel instead of this one.",
        "",
        "Anyone can use:",
    ]
    for entry in ENTRIES:
        if not entry.changes:
            lines += _entry_lines(entry, prefix, today)
    lines += ["", f"Admins only ({prefix} admins lists them):"]
    for entry in ENTRIES:
        if entry.changes:
            lines += _entry_lines(entry, prefix, today)
    lines += [
        "",
        "Days: mon to sun, or full names. Times: 09:00, 17.30, 9am or 5:30pm.",
        f"Zones: place names such as Europe/London (the default is {default_timezone}).",
        f"More on one command: {prefix} help schedule",
    ]
    return "\n".join(lines)


def topics() -> tuple[str, ...]:
    """Every subcommand help covers (all of them)."""
    return SUBCOMMANDS
