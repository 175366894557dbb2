"""How a reply looks on each platform, who asked, and what they get back (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.domain.language import Language, Translator, translator
from bot.domain.messages import Msg
from bot.domain.parsing import Word

# How a platform reads a command's text into words (mentions as ChannelId / UserId).
Reader = Callable[[str], Sequence[Word]]


def _plain_link(url: str, label: str) -> str:
    return url if label == url else f"{label} ({url})"


@dataclass(frozen=True)
class Style:
    """How a reply names channels and people, links, and escapes what came from outside.
    The defaults are plain text (console, CLI); Slack passes mrkdwn versions."""

    channel: Callable[[str], str] = lambda channel_id: f"#{channel_id}"
    user: Callable[[str], str] = lambda user_id: user_id
    escape: Callable[[str], str] = lambda text: text
    bold: Callable[[str], str] = lambda text: text
    link: Callable[[str, str], str] = _plain_link
    # Who did something, as the audit log recorded them: a person's id, or a name such as
    # "cli". The platform knows its ids; plain text shows the record as it is.
    actor: Callable[[str], str] = lambda actor: actor


PLAIN = Style()


@dataclass(frozen=True)
class Invocation:
    """Who typed the command, where, and how to write the reply."""

    user_id: str
    channel_id: str  # where it was typed (the target unless a #channel is named)
    workspace_id: str | None = None
    channel_name: str | None = None
    style: Style = PLAIN
    # The console: a `#name` *is* the channel's id, and a bare word may be a person's id.
    # Where names are not ids, only a mention (read by the platform's `read`) names one.
    names_are_ids: bool = False
    # The platform's reader of command text; None: plain text (`plain_words`).
    read: Reader | None = None
    # The platform's name for messages that need it ("your Slack role"); None: neutral words.
    platform_label: str | None = None
    # The language of the channel it was typed in, which the reply is written in; None: not
    # looked up yet (`commands.run` and `execute` look it up).
    language: Language | None = None

    @property
    def t(self) -> Translator:
        return translator(self.language or "en")

    def write(self, message: Msg | Callable[[Translator], str]) -> str:
        """A reply in the channel's language: for `both`, the Welsh, a new line, the English.
        `message` is a Msg, or a function that writes the reply with a one-language
        translator (for replies made of several sentences)."""
        build = message.render if isinstance(message, Msg) else message
        return self.t.each(build, "\n")


@dataclass(frozen=True)
class Outcome:
    text: str  # for the person who typed it only (ephemeral)
    ok: bool = True  # False: refused, or bad input
    posted: bool = False  # something went to a channel publicly
    changed: bool = False  # a setting changed (the App Home refreshes)


def refused(text: str) -> Outcome:
    return Outcome(text, ok=False)


def change_made(text: str, *, posted: bool = False) -> Outcome:
    return Outcome(text, posted=posted, changed=True)


def as_sentence(text: str) -> str:
    """An error from elsewhere as a sentence: capital first, full stop last."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "`", ")")) else ".")
