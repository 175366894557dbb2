"""The `/leadership help` text: plain text (no mrkdwn, no angle brackets), so the slash
command, the App Home and the CLI can all show it as it is. Every subcommand has an example,
and tests check that every example parses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.domain.command_grammar import SLASH, SUBCOMMANDS
from bot.domain.language import ENGLISH, N_, Translator


@dataclass(frozen=True, slots=True)
class HelpEntry:
    topic: str  # the subcommand it belongs to (`help TOPIC` shows its entries)
    usage: str  # a msgid where it has words to translate (DAY, TIME), else as typed
    summary: str  # a msgid
    example: str  # what follows the command name, e.g. "schedule mon 09:00"
    changes: bool  # needs an admin


ENTRIES: tuple[HelpEntry, ...] = (
    HelpEntry(
        "help",
        N_("help [COMMAND]"),
        N_("This help, or more on one command."),
        "help schedule",
        False,
    ),
    HelpEntry(
        "status",
        "status",
        N_("This channel's schedule, next post, digest, feeds and the last 5 changes."),
        "status",
        False,
    ),
    HelpEntry(
        "questions", "questions", N_("The ten questions, with their IDs."), "questions", False
    ),
    HelpEntry(
        "feeds",
        "feeds",
        N_("The news feeds this channel follows, with their numbers."),
        "feeds",
        False,
    ),
    HelpEntry("admins", "admins", N_("Who can change leaderbot's settings."), "admins", False),
    HelpEntry(
        "ask",
        "ask [Qn]",
        N_("Post a question now: the next one, or the one you name."),
        "ask Q3",
        True,
    ),
    HelpEntry(
        "schedule",
        N_("schedule DAY TIME [ZONE]"),
        N_("Post a question every week at this day and time."),
        "schedule mon 09:00 Europe/London",
        True,
    ),
    HelpEntry("schedule", "schedule off", N_("Stop the weekly question."), "schedule off", True),
    HelpEntry(
        "pause",
        N_("pause [until YYYY-MM-DD]"),
        N_("Skip the weekly question until that date (or until you resume)."),
        "pause until {later}",
        True,
    ),
    HelpEntry("resume", "resume", N_("Start posting again after a pause."), "resume", True),
    HelpEntry(
        "digest",
        N_("digest DAY TIME [ZONE] [#channel]"),
        N_("Send a weekly digest of the replies, here or to the channel you name."),
        "digest fri 16:00 #leaders",
        True,
    ),
    HelpEntry(
        "digest", "digest now", N_("Post the digest of the replies so far."), "digest now", True
    ),
    HelpEntry("digest", "digest off", N_("Stop the weekly digest."), "digest off", True),
    HelpEntry(
        "feeds",
        N_("feeds add URL [KEYWORDS...]"),
        N_("Follow a news feed, optionally only items with these words."),
        "feeds add https://www.socitm.net/feed/ digital",
        True,
    ),
    HelpEntry(
        "feeds", N_("feeds remove NUMBER"), N_("Stop following a feed."), "feeds remove 3", True
    ),
    HelpEntry(
        "alerts",
        "alerts on|off",
        N_("Tell this channel about new Socitm reports, or stop."),
        "alerts on",
        True,
    ),
    HelpEntry(
        "language",
        "language cy|en|both",
        N_(
            "Write this channel's questions, nudges, digests and alerts in Welsh, English or both"
            " (Welsh first)."
        ),
        "language cy",
        True,
    ),
    HelpEntry(
        "admins",
        N_("admins add @person"),
        N_("Let someone change settings."),
        "admins add @jane",
        True,
    ),
    HelpEntry(
        "admins", N_("admins remove @person"), N_("Take that back."), "admins remove @jane", True
    ),
    HelpEntry(
        "quiet",
        "quiet",
        N_("The quiet periods (such as before an election) for this channel and every channel."),
        "quiet",
        False,
    ),
    HelpEntry(
        "quiet",
        N_("quiet add FIRST LAST [all] [questions,alerts,digests] [REASON...]"),
        N_(
            "Hold back posts from the first day to the last (YYYY-MM-DD), here or in every channel."
        ),
        "quiet add {later} {later} all questions,digests local elections",
        True,
    ),
    HelpEntry(
        "quiet", N_("quiet remove NUMBER"), N_("End a quiet period."), "quiet remove 3", True
    ),
    HelpEntry(
        "quiet",
        "quiet release",
        N_("Send this channel's digests a quiet period held back, now."),
        "quiet release",
        True,
    ),
)

# msgids; `{slash}` is the command's name.
_TOPIC_NOTES: dict[str, str] = {
    "schedule": N_(
        "Days: mon to sun, or full names. Times: 09:00, 0900, 17.30, 9am or 5:30pm. "
        "Zones: place names such as Europe/London or London."
    ),
    "digest": N_(
        "Days and times as for schedule. To set another channel's digest, add for #channel, "
        "e.g. {slash} digest fri 16:00 #leaders for #staff"
    ),
    "pause": N_("The question is posted again from that date."),
    "feeds": N_('Put a phrase in quotes to match it whole, e.g. "digital trends".'),
    "quiet": N_(
        "Without a list of what to hold, questions, alerts and digests are all held. "
        "Held questions and alerts are not posted later; held digests wait for quiet release."
    ),
    "admins": N_(
        "Workspace admins and owners can always change settings; guests never can. "
        "Pick the person from the list that appears as you type @."
    ),
}


def example(entry: HelpEntry, today: date | None = None) -> str:
    """The entry's example as typed after the command name, with any date in the future."""
    later = (today + timedelta(days=14)).isoformat() if today else "2026-12-01"
    return entry.example.replace("{later}", later)


def _entry_lines(
    entry: HelpEntry, prefix: str, today: date | None, t: Translator = ENGLISH
) -> list[str]:
    summary = t.gettext("{summary} Example: {prefix} {example}").format(
        summary=t.gettext(entry.summary), prefix=prefix, example=example(entry, today)
    )
    return [f"  {t.gettext(entry.usage)}", f"      {summary}"]


def help_text(
    topic: str | None = None,
    *,
    prefix: str = SLASH,
    default_timezone: str = "Europe/London",
    today: date | None = None,
    t: Translator = ENGLISH,
) -> str:
    """All the help, or just one subcommand's (`topic`, e.g. "schedule"). `prefix` is how the
    command is typed where the text is shown; `today` keeps example dates in the future; `t`
    writes it in one language (for `both`, call it once per language: `t.each`)."""
    if t.language == "both":
        return t.each(
            lambda one: help_text(
                topic, prefix=prefix, default_timezone=default_timezone, today=today, t=one
            ),
            "\n\n",
        )
    if topic is not None:
        entries = [e for e in ENTRIES if e.topic == topic]
        if not entries:
            return help_text(prefix=prefix, default_timezone=default_timezone, today=today, t=t)
        lines = [f"{prefix} {topic}:"]
        for entry in entries:
            lines += _entry_lines(entry, prefix, today, t)
        if topic in _TOPIC_NOTES:
            lines.append(t.gettext(_TOPIC_NOTES[topic]).format(slash=SLASH))
        if any(e.changes for e in entries):
            lines.append(
                t.gettext("Changes need an admin: {prefix} admins lists them.").format(
                    prefix=prefix
                )
            )
        return "\n".join(lines)

    lines = [
        t.gettext("{prefix}: the weekly leadership question for this channel.").format(
            prefix=prefix
        ),
        t.gettext("Add a #channel to any command to act on that channel instead of this one."),
        "",
        t.gettext("Anyone can use:"),
    ]
    for entry in ENTRIES:
        if not entry.changes:
            lines += _entry_lines(entry, prefix, today, t)
    lines += ["", t.gettext("Admins only ({prefix} admins lists them):").format(prefix=prefix)]
    for entry in ENTRIES:
        if entry.changes:
            lines += _entry_lines(entry, prefix, today, t)
    lines += [
        "",
        t.gettext("Days: mon to sun, or full names. Times: 09:00, 17.30, 9am or 5:30pm."),
        t.gettext("Zones: place names such as Europe/London (the default is {zone}).").format(
            zone=default_timezone
        ),
        t.gettext("More on one command: {prefix} help schedule").format(prefix=prefix),
    ]
    return "\n".join(lines)


def topics() -> tuple[str, ...]:
    """Every subcommand help covers (all of them)."""
    return SUBCOMMANDS
