"""What the bot says, platform-neutral. Each platform renders these its own way
(Block Kit for Slack, plain text for the console, Adaptive Cards for Teams)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.digest import Digest
from bot.domain.questions import Question

REPLY_INVITATION = "Reply in this thread: your answers are collected for the weekly digest."


@dataclass(frozen=True, slots=True)
class QuestionPost:
    question: Question
    report_title: str
    invitation: str = REPLY_INVITATION


@dataclass(frozen=True, slots=True)
class Nudge:
    """One gentle reminder in a quiet question thread."""

    question_id: str
    text: str = (
        "A gentle reminder: this week's question has no replies yet. "
        "A sentence or two in this thread is plenty."
    )


@dataclass(frozen=True, slots=True)
class Notice:
    """Plain text from the bot itself (a status line, an admin alert)."""

    text: str


@dataclass(frozen=True, slots=True)
class FeedAlert:
    title: str
    source: str
    link: str
    summary: str
    published: datetime | None = None
    related_question: Question | None = None


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


# Everything the bot posts: what a platform's `post` is given.
Content = QuestionPost | Nudge | Notice | FeedAlert | DigestPost
