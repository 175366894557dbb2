"""Which question comes next in a channel: the one asked longest ago, never-asked first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def next_question(question_ids: Sequence[str], history: Sequence[tuple[str, datetime]]) -> str:
    """Pick the next question.

    `history` is every (question_id, asked_at) in the channel, any order. Never-asked questions
    come first, in set order; then the one whose last ask is oldest. The question asked last is
    never picked again straight away (unless the set has only one question). Ids no longer in
    the set (an older edition) are ignored.
    """
    if not question_ids:
        raise ValueError("the question set is empty")
    last_asked: dict[str, datetime] = {}
    for qid, when in history:
        if qid in question_ids and (qid not in last_asked or when > last_asked[qid]):
            last_asked[qid] = when
    most_recent = max(last_asked, key=last_asked.__getitem__) if last_asked else None
    order = {qid: i for i, qid in enumerate(question_ids)}

    candidates = [q for q in question_ids if q != most_recent] or list(question_ids)
    never = [q for q in candidates if q not in last_asked]
    if never:
        return min(never, key=order.__getitem__)
    return min(candidates, key=lambda q: (last_asked[q], order[q]))
