"""Slash-command text as Slack sends it, read into the grammar's neutral words.

With escaping on, Slack sends what the person typed with its own markup: a channel picked as
they typed # becomes `<#C123|name>` (the name may be empty), a person picked after @ becomes
`<@U123|name>`, a link `<https://…|label>`, and `&`, `<`, `>` elsewhere are `&amp;`, `&lt;`,
`&gt;`. Here a channel mention becomes a `ChannelId`, a person a `UserId`, a link its address,
and the rest is unescaped; an id typed as it stands (`C0123ABCD`, `U0123ABCD`) counts as a
mention. A bare `#name` Slack did not turn into a mention (no such channel, or a private one)
stays text: the grammar makes it a `ChannelName`, which the service refuses with a hint.
"""

from __future__ import annotations

import re

from bot.domain.command_grammar import QUOTED, SLASH
from bot.domain.language import N_
from bot.domain.messages import Msg
from bot.domain.parsing import ChannelId, ParseError, UserId, Word, quote
from bot.platforms.slack.text import unescape

# A token: a Slack escape <…> (whole, even with spaces in a label), a quoted phrase, or a run
# of anything else (a lone "<" cannot come from Slack, which escapes it, but is kept).
_TOKEN_RE = re.compile(rf"<[^<>]*>|{QUOTED}|[^\s<]+|<")
_CHANNEL_MENTION_RE = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^<>]*))?>")
_USER_MENTION_RE = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^<>]*))?>")
_LINK_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^|<>]*)(?:\|[^<>]*)?>")
_CHANNEL_ID_RE = re.compile(r"[CG][A-Z0-9]{6,20}")
_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{6,20}")


def command_words(text: str) -> list[Word]:
    """The words of a slash command's text. Raises ParseError for a mention that is not one
    (e.g. `<#c123>`), saying what to type instead."""
    words: list[Word] = []
    for match in _TOKEN_RE.finditer(text):
        if match[1] is not None:
            if match[1].strip():
                words.append(unescape(match[1].strip()))
        elif match[0].startswith("<") and len(match[0]) > 1:
            words.append(_escape_word(match[0]))
        else:
            words.append(_bare_word(unescape(match[0])))
    return words


def _escape_word(token: str) -> Word:
    if match := _CHANNEL_MENTION_RE.fullmatch(token):
        return ChannelId(match[1], unescape(match[2]) if match[2] else None)
    if match := _USER_MENTION_RE.fullmatch(token):
        return UserId(match[1], unescape(match[2]) if match[2] else None)
    if match := _LINK_RE.fullmatch(token):
        return unescape(match[1])
    if token.startswith("<#"):
        raise ParseError(
            Msg(
                N_(
                    "{text} is not a channel: e.g. `#general` or an ID like `C0123ABCD`. "
                    "Try `{slash} status #general`."
                ),
                text=quote(unescape(token)),
                slash=SLASH,
            )
        )
    if token.startswith("<@"):
        raise ParseError(
            Msg(
                N_(
                    "{text} is not a person: mention them, e.g. `@Jane Smith`, or give their "
                    "ID, e.g. `U0123ABCD`. Try `{slash} admins add @jane`."
                ),
                text=quote(unescape(token)),
                slash=SLASH,
            )
        )
    return unescape(token)


def _bare_word(token: str) -> Word:
    """An id typed as it stands. A channel id must have a digit, so that an upper-case word
    such as CYBERSECURITY is not taken for a channel; a word taken for a person's id reads
    back as the same text wherever the grammar wants text."""
    if _CHANNEL_ID_RE.fullmatch(token) and any(ch.isdigit() for ch in token):
        return ChannelId(token)
    if _USER_ID_RE.fullmatch(token):
        return UserId(token)
    return token
