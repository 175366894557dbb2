"""A message not yet written in a language: a catalogue msgid and the values to fill it with.

Errors and refusals are decided in pure code that does not know whose channel it answers
(the grammar, the permission rules), so they carry a `Msg` and the caller writes it in the
channel's language:

    error = Msg(N_("{text} is not a time."), text=quote(word))
    error.render(translator("cy"))   # Welsh
    str(error)                       # English, as before

A value may itself be a `Msg` (a sentence wrapped in "... Try `/leadership help`."): it is
written in the same language. Plain strings (what the user typed, ids) are inserted as they
are. For `both`, `render` writes each half whole and joins them with " / "; a reply uses
`t.each(msg.render, "\n")` for one language per line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.language import ENGLISH, Translator


class Msg:
    """A msgid (marked with `N_` where it is written) and its placeholders' values."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, /, **params: Any) -> None:
        self.msgid = msgid
        self.params: Mapping[str, Any] = params

    def render(self, t: Translator) -> str:
        if t.language == "both":  # each half whole, values included: "Cymraeg / English"
            return t.each(self.render)
        values = {k: render(v, t) for k, v in self.params.items()}
        return t.gettext(self.msgid).format(**values) if values else t.gettext(self.msgid)

    def __str__(self) -> str:
        return self.render(ENGLISH)

    def __repr__(self) -> str:
        return f"Msg({self.msgid!r}, **{dict(self.params)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Msg) and (self.msgid, dict(self.params)) == (
            other.msgid,
            dict(other.params),
        )

    def __hash__(self) -> int:
        return hash(self.msgid)


Text = str | Msg


def render(value: Any, t: Translator) -> Any:
    """A `Msg` written with `t`; anything else as it is."""
    return value.render(t) if isinstance(value, Msg) else value


class MessageError(ValueError):
    """A refusal whose message may be a `Msg`: `str(error)` is the English (the CLI, the
    logs); `text(t)` writes it in `t`'s language for a chat answer."""

    def __init__(self, message: str | Msg) -> None:
        self.msg = message
        super().__init__(str(message))

    def text(self, t: Translator) -> str:
        return render(self.msg, t)


def one_line(text: str) -> str:
    return " ".join(text.split())
