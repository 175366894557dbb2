"""What the bot says, platform-neutral. Each platform renders these its own way
(Block Kit for Slack, plain text for the console, Adaptive Cards for Teams).

Every kind carries the `language` of the channel it goes to (`bot.domain.language`): the
outbox stamps it on the content a builder made, and a renderer writes through
`translator(content.language)`. The bot's own sentences here are msgids of the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain.digest import Digest
from bot.domain.language import DEFAULT_LANGUAGE, N_, Language, Translator
from bot.domain.questions import Question

REPLY_INVITATION = N_("Reply in this thread: your answers are collected for the weekly digest.")
NUDGE_TEXT = N_(
    "A gentle reminder: this week's question has no replies yet. "
    "A sentence or two in this thread is plenty."
)


@dataclass(frozen=True, slots=True)
class QuestionPost:
    question: Question
    report_title: str
    invitation: str = REPLY_INVITATION  # a msgid
    report_title_cy: str | None = None
    language: Language = DEFAULT_LANGUAGE

    def title_for(self, language: str) -> str:
        return (
            (self.report_title_cy or self.report_title) if language == "cy" else self.report_title
        )


@dataclass(frozen=True, slots=True)
class Nudge:
    """One gentle reminder in a quiet question thread."""

    question_id: str
    text: str = NUDGE_TEXT  # a msgid
    language: Language = DEFAULT_LANGUAGE


@dataclass(frozen=True, slots=True)
class Notice:
    """Plain text from the bot itself (a status line, an admin alert), already written in
    its language (or a msgid with `params`, when `translate` is set)."""

    text: str
    language: Language = DEFAULT_LANGUAGE
    translate: bool = False
    params: dict[str, str] = field(default_factory=dict)

    def text_in(self, t: Translator) -> str:
        if not self.translate:
            return self.text
        return t.gettext(self.text).format(**self.params)


@dataclass(frozen=True, slots=True)
class FeedAlert:
    title: str
    source: str
    link: str
    summary: str
    published: datetime | None = None
    related_question: Question | None = None
    language: Language = DEFAULT_LANGUAGE


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """A message read back from a platform thread (for reconciliation)."""

    message_id: str
    user_id: str | None
    text: str  # plain text, as the person typed it
    posted_at: datetime
    edited: bool = False
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class UserInfo:
    id: str
    display_name: str
    is_admin: bool = False
    is_owner: bool = False
    is_guest: bool = False
    is_bot: bool = False
    deleted: bool = False
    workspace_id: str | None = None


@dataclass(frozen=True, slots=True)
class FileUpload:
    filename: str
    data: bytes
    title: str
    alt_text: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DigestPost:
    """A digest and its participation chart (PNG), for a platform to render."""

    digest: Digest
    chart_png: bytes
    chart_alt: str
    language: Language = DEFAULT_LANGUAGE


# Everything the bot posts: what a platform's `post` is given.
Content = QuestionPost | Nudge | Notice | FeedAlert | DigestPost


def in_language(content: object, language: Language) -> object:
    """The content, to be written in `language` (what is not ours to translate, unchanged)."""
    if isinstance(content, QuestionPost | Nudge | Notice | FeedAlert | DigestPost):
        return replace(content, language=language)
    return content
