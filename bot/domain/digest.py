"""The weekly digest of thread replies: plain values in, a `Digest` out. No I/O.

The services layer reads the database and the platform (question posts, replies, display names,
member count, participation history) and hands plain values to `build_digest`; renderers
(`bot.domain.digest_render`, `bot.domain.chart`, `bot.platforms.slack.digest_blocks`) turn the
result into text, files and Block Kit.

Windows are half-open, ``[start, end)``: a question posted exactly at a digest's time belongs to
the next digest, so no question is ever counted in two windows.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from bot.domain.questions import Question, QuestionSet
from bot.domain.themes import Theme

WEEKS = 12
"""Points in the participation series: the last 12 ISO weeks."""


@dataclass(frozen=True, slots=True)
class ChannelRef:
    id: str
    name: str | None = None

    @property
    def label(self) -> str:
        """How people refer to the channel: its name if known, else its id."""
        return f"#{self.name}" if self.name else self.id


@dataclass(frozen=True, slots=True)
class DigestWindow:
    """The span a digest covers, ``[start, end)``, both aware.

    `occurrence` is the local date of the digest (the date of `end` in its own time zone): with
    the schedule id and channel it makes the outbox key that posts each weekly digest once.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a digest window needs aware datetimes")
        if self.start >= self.end:
            raise ValueError("a digest window must start before it ends")

    @property
    def occurrence(self) -> date:
        return self.end.date()

    @property
    def tz(self) -> tzinfo:
        # The window's own zone decides where weeks begin (Monday 00:00 local).
        return self.end.tzinfo  # type: ignore[return-value]  # checked in __post_init__

    def __contains__(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True, slots=True)
class DigestReply:
    """One reply in a question's thread, with the author's display name already resolved.

    If the platform could not name the user, pass the user id as `user_name` (or leave it
    empty: the builder falls back to the id).
    """

    user_id: str
    user_name: str
    text: str
    message_id: str
    edited: bool
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class QuestionThread:
    """Input: a question post in the window and every reply in its thread, in any order."""

    question: Question
    posted_at: datetime
    link: str | None
    replies: Sequence[DigestReply] = ()
    themes: tuple[Theme, ...] = ()
    """What people said (`bot.domain.themes`), found by the caller; empty below the
    thresholds or with themes off."""


@dataclass(frozen=True, slots=True)
class WeekParticipation:
    """Participation in one ISO week. `week_start` is that week's Monday (local date)."""

    week_start: date
    participants: int
    replies: int

    @property
    def iso_week(self) -> str:
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"


@dataclass(frozen=True, slots=True)
class DigestQuestion:
    """Output: one question of the digest, its replies oldest first, and its counts."""

    question: Question
    posted_at: datetime
    link: str | None
    replies: tuple[DigestReply, ...]
    reply_count: int
    participants: int
    share: float | None
    """Participants of this question over channel members; None when the count is unknown."""
    themes: tuple[Theme, ...] = ()
    """What people said: a few key phrases, each with a quoted reply (may be empty)."""


@dataclass(frozen=True, slots=True)
class Digest:
    channel: ChannelRef
    window: DigestWindow
    questions: tuple[DigestQuestion, ...]
    member_count: int | None
    reply_count: int
    participants: int
    """Distinct users who replied to any question of the digest."""
    share: float | None
    """`participants` over `member_count`, at most 1.0; None when the count is unknown or 0."""
    not_yet_asked: tuple[Question, ...]
    """Questions of the set never asked in this channel, in the set's order."""
    participation: tuple[WeekParticipation, ...]
    """Exactly `WEEKS` points, oldest first, ending with the week the window ends in."""
    unread_threads: int = 0
    """Question threads that could not be read back from the platform before the digest was
    built: replies whose events were lost may be missing from them."""

    @property
    def is_empty(self) -> bool:
        return self.reply_count == 0

    @property
    def complete(self) -> bool:
        """Whether every question thread was reconciled with the platform."""
        return self.unread_threads == 0


def week_start(when: datetime | date, tz: tzinfo | None = None) -> date:
    """The Monday of the ISO week `when` falls in (converted to `tz` first, if given)."""
    if isinstance(when, datetime):
        when = (when.astimezone(tz) if tz is not None else when).date()
    return when - timedelta(days=when.weekday())


def participation_by_week(
    replies: Iterable[tuple[str, datetime]], tz: tzinfo
) -> list[WeekParticipation]:
    """Group (user_id, posted_at) pairs by local ISO week: distinct participants and replies.

    For callers that read raw reply rows; a caller that aggregates in SQL must use the same
    rule (weeks start Monday 00:00 in `tz`) or the chart and the digest will disagree.
    """
    users: dict[date, set[str]] = defaultdict(set)
    counts: dict[date, int] = defaultdict(int)
    for user_id, posted_at in replies:
        week = week_start(posted_at, tz)
        users[week].add(user_id)
        counts[week] += 1
    return [WeekParticipation(week, len(users[week]), counts[week]) for week in sorted(counts)]


def participation_series(
    history: Iterable[WeekParticipation], last_week: date, weeks: int = WEEKS
) -> tuple[WeekParticipation, ...]:
    """Exactly `weeks` points ending with the week of `last_week`, oldest first; missing = 0."""
    end = week_start(last_week)
    by_week: dict[date, WeekParticipation] = {}
    for point in history:
        monday = week_start(point.week_start)
        if monday in by_week:
            # Two rows for one week means the caller grouped wrongly; summing would
            # double-count people, so say so rather than guess.
            raise ValueError(f"participation history has week {point.iso_week} twice")
        by_week[monday] = point
    series = []
    for offset in range(weeks - 1, -1, -1):
        monday = end - timedelta(weeks=offset)
        point = by_week.get(monday)
        series.append(
            WeekParticipation(monday, point.participants, point.replies)
            if point
            else WeekParticipation(monday, 0, 0)
        )
    return tuple(series)


def _share(participants: int, member_count: int | None) -> float | None:
    if not member_count or member_count <= 0:
        return None
    # People who replied and then left the channel still count as participants; capping keeps
    # the share a share instead of printing "120% of members".
    return min(1.0, participants / member_count)


def _same_time_order(message_id: str) -> tuple[int, str]:
    """Replies posted at the same moment, in the order of their ids: platforms' ids grow
    with time (a shorter number is a smaller one)."""
    return (len(message_id), message_id)


def _normalise(reply: DigestReply) -> DigestReply:
    name = reply.user_name.strip() if reply.user_name else ""
    if name == reply.user_name and name:
        return reply
    return DigestReply(
        user_id=reply.user_id,
        user_name=name or reply.user_id,  # a users.info failure falls back to the id
        text=reply.text,
        message_id=reply.message_id,
        edited=reply.edited,
        posted_at=reply.posted_at,
    )


def build_digest(
    *,
    channel: ChannelRef,
    window: DigestWindow,
    threads: Iterable[QuestionThread],
    member_count: int | None,
    question_set: QuestionSet,
    asked_ids: Iterable[str],
    history: Iterable[WeekParticipation] = (),
    weeks: int = WEEKS,
    unread_threads: int = 0,
) -> Digest:
    """Assemble the digest for `channel` over `window`.

    `threads` are the question posts the caller selected for the window; every reply in their
    threads is included, even one that came after the window closed (late answers are still
    answers to this week's question). `asked_ids` are the questions already asked in the
    channel; the window's own questions count as asked too. `history` is participation per
    ISO week (see `participation_by_week`); weeks not given count as zero. `unread_threads`
    counts the threads the caller could not reconcile with the platform (the digest then says
    it may be incomplete).
    """
    questions: list[DigestQuestion] = []
    everyone: set[str] = set()
    total = 0
    for thread in sorted(threads, key=lambda t: (t.posted_at, t.question.id)):
        replies = tuple(
            sorted(
                (_normalise(r) for r in thread.replies),
                key=lambda r: (r.posted_at, _same_time_order(r.message_id)),
            )
        )
        people = {r.user_id for r in replies}
        everyone |= people
        total += len(replies)
        questions.append(
            DigestQuestion(
                question=thread.question,
                posted_at=thread.posted_at,
                link=thread.link,
                replies=replies,
                reply_count=len(replies),
                participants=len(people),
                share=_share(len(people), member_count),
                themes=thread.themes,
            )
        )

    asked = {qid.strip().upper() for qid in asked_ids}
    asked |= {q.question.id.upper() for q in questions}
    not_yet = tuple(q for q in question_set.questions if q.id.upper() not in asked)

    # The series ends with the week holding the window's last instant: a window ending at
    # Monday 00:00 belongs to the week before.
    last_instant = window.end - timedelta(microseconds=1)
    series = participation_series(history, week_start(last_instant, window.tz), weeks)

    return Digest(
        channel=channel,
        window=window,
        questions=tuple(questions),
        member_count=member_count,
        reply_count=total,
        participants=len(everyone),
        share=_share(len(everyone), member_count),
        not_yet_asked=not_yet,
        participation=series,
        unread_threads=unread_threads,
    )


def _at(day: date, at: time, tz: tzinfo) -> datetime:
    # Wall-clock time in `tz`. zoneinfo resolves a time skipped by the clocks going forward
    # with the earlier offset (fold=0), i.e. an hour later in real time; good enough for a
    # digest and deterministic.
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz)


def digest_window(now: datetime, tz: tzinfo, weekday: int, at: time) -> DigestWindow:
    """The window of the weekly digest due at `weekday` (Monday = 0) `at` wall-clock in `tz`.

    It ends at the latest occurrence not after `now` and starts at the same wall-clock time
    seven days earlier (so across a clock change it is 167 or 169 hours long, and
    consecutive windows still meet exactly). Call it at or after the digest's due time.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if not 0 <= weekday <= 6:
        raise ValueError("weekday must be 0 (Monday) to 6 (Sunday)")
    today = now.astimezone(tz).date()
    day = today - timedelta(days=(today.weekday() - weekday) % 7)
    end = _at(day, at, tz)
    if end > now:
        day -= timedelta(days=7)
        end = _at(day, at, tz)
    return DigestWindow(start=_at(day - timedelta(days=7), at, tz), end=end)


def window_since(since: date, now: datetime, tz: tzinfo) -> DigestWindow:
    """The on-demand window `--since DATE`: from that date's midnight in `tz` until `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return DigestWindow(start=_at(since, time(0, 0), tz), end=now.astimezone(tz))


ARCHIVE_MAX_WEEKS = 530
"""The most weeks one `leaderbot digest --out` archives (about ten years)."""


def archive_windows(since: date, until: date, tz: tzinfo) -> list[tuple[str, DigestWindow]]:
    """The ISO weeks of the days `since`..`until` (both included) in `tz`, each as its label
    ("2026-W45") and its window: Monday 00:00 to the next Monday 00:00, cut to the range.
    Raises ValueError for an empty or too long range."""
    if until < since:
        raise ValueError(f"the range ends ({until}) before it starts ({since})")
    weeks: list[tuple[str, DigestWindow]] = []
    range_start = _at(since, time(0, 0), tz)
    range_end = _at(until + timedelta(days=1), time(0, 0), tz)
    monday = week_start(since)
    while monday <= until:
        if len(weeks) == ARCHIVE_MAX_WEEKS:
            raise ValueError(f"the range is longer than {ARCHIVE_MAX_WEEKS} weeks: split it")
        start = max(range_start, _at(monday, time(0, 0), tz))
        end = min(range_end, _at(monday + timedelta(weeks=1), time(0, 0), tz))
        weeks.append((WeekParticipation(monday, 0, 0).iso_week, DigestWindow(start, end)))
        monday += timedelta(weeks=1)
    return weeks


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def archive_file_name(week: str, channel_id: str, extension: str) -> str:
    """E.g. "2026-W45-C0123ABCD.html": sorts by week, then channel; a channel id's characters
    that a file system may refuse (a Teams id's ":" and "@") become "_"."""
    channel = _UNSAFE_IN_NAME.sub("_", channel_id).strip("._") or "channel"
    return f"{week}-{channel}.{extension}"
