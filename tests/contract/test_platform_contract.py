"""The platform contract: the same checks for every adapter (console, Slack, Teams).

Each test takes the `harness` fixture (tests/contract/conftest.py) and so runs once per platform.
Real adapters against real fakes (HTTP to FakeSlack), no mocks; times are fixed where the bot
chooses them (the platforms stamp posts with the real time, always after LONG_AGO).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.content import DigestPost, FeedAlert, Nudge, QuestionPost
from bot.domain.digest import (
    ChannelRef,
    DigestReply,
    DigestWindow,
    QuestionThread,
    WeekParticipation,
    build_digest,
)
from bot.domain.questions import load_question_set
from bot.port import DeliveryUnknown, PermanentFailure, PlatformError, RateLimited, Sent
from bot.services.ask import ask_and_deliver
from bot.settings import BUNDLED_PROMPTS
from tests.contract.harness import LONG_AGO, Harness, Seen

QUESTIONS = load_question_set(BUNDLED_PROMPTS)
QUESTION = QUESTIONS.questions[0]
LONDON = ZoneInfo("Europe/London")
# A 1x1 PNG header: enough for a platform that uploads the chart.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"

HOSTILE_BITS = (
    "<!channel>",
    "@everyone",
    "<@U123>",
    "<at>x</at>",
    "[link](https://evil.example)",
    "![img](https://evil.example/x.png)",
    "&lt;script&gt;",
    "<script>",
)
HOSTILE = " ".join(HOSTILE_BITS)
REPORT_LINK = "https://socitm.net/reports/contract"


def key() -> str:
    return f"contract:{uuid.uuid4().hex}"


def question_post() -> QuestionPost:
    return QuestionPost(question=QUESTION, report_title="Public Sector Digital Trends")


async def ask(harness: Harness) -> Sent:
    return await harness.platform.post(harness.channel_id, question_post(), key=key())


async def ours(harness: Harness, post_key: str) -> list[Seen]:
    """The bot's messages in the channel tagged `post_key` (or one of its parts)."""
    return [
        m
        for m in await harness.messages_in_channel()
        if m.by_bot and m.key is not None and (m.key == post_key or m.key.startswith(post_key))
    ]


def squeeze(text: str) -> str:
    return "".join(text.split())


# ----------------------------------------------------------------------------- post and find


async def test_a_post_is_found_by_its_key(harness: Harness) -> None:
    post_key = key()
    sent = await harness.platform.post(harness.channel_id, question_post(), key=post_key)
    assert sent.channel_id == harness.channel_id and sent.message_id and sent.complete

    found = await harness.platform.find_post(harness.channel_id, post_key, LONG_AGO)
    assert found is not None
    assert found.message_id == sent.message_id and found.complete
    [stored] = await ours(harness, post_key)
    assert stored.message_id == sent.message_id and stored.thread_id is None


async def test_a_key_never_posted_is_not_found(harness: Harness) -> None:
    await ask(harness)
    assert await harness.platform.find_post(harness.channel_id, key(), LONG_AGO) is None


async def test_a_post_in_a_thread_is_found_in_that_thread(harness: Harness) -> None:
    root = await ask(harness)
    nudge_key = key()
    sent = await harness.platform.post(
        harness.channel_id, Nudge(QUESTION.id), key=nudge_key, thread_id=root.message_id
    )
    found = await harness.platform.find_post(
        harness.channel_id, nudge_key, LONG_AGO, thread_id=root.message_id
    )
    assert found is not None and found.message_id == sent.message_id
    [stored] = await ours(harness, nudge_key)
    assert stored.thread_id == root.message_id
    assert stored.message_id in {m.message_id for m in await harness.thread(root.message_id)}


# ----------------------------------------------------------------------------- thread replies


async def test_a_reply_in_a_thread_is_read_back_as_typed(harness: Harness) -> None:
    root = await ask(harness)
    [alice] = await harness.add_people(1)
    typed = "We'd stop <printing> reports & meetings > 1h; a&lt;b is fine. <@U0X> *bold*"
    reply_id = await harness.user_says(root.message_id, alice, typed)
    nudge = await harness.platform.post(
        harness.channel_id, Nudge(QUESTION.id), key=key(), thread_id=root.message_id
    )

    replies = await harness.platform.fetch_thread(harness.channel_id, root.message_id)

    assert root.message_id not in {r.message_id for r in replies}  # not the first message
    assert [r.message_id for r in replies] == [reply_id, nudge.message_id]
    reply, bot = replies
    assert reply.text == typed
    assert reply.user_id == alice
    assert not reply.is_bot and not reply.edited
    assert reply.posted_at.tzinfo is not None and reply.posted_at > LONG_AGO
    assert bot.is_bot


async def test_a_long_thread_is_read_whole_in_order(harness: Harness) -> None:
    root = await ask(harness)
    people = await harness.add_people(5)
    ids = [
        await harness.user_says(root.message_id, people[n % 5], f"reply number {n}")
        for n in range(250)
    ]

    replies = await harness.platform.fetch_thread(harness.channel_id, root.message_id)

    assert [r.message_id for r in replies] == ids  # all, in order, none twice
    assert [r.text for r in replies] == [f"reply number {n}" for n in range(250)]
    assert [r.posted_at for r in replies] == sorted(r.posted_at for r in replies)


# ----------------------------------------------------------------------------- people


async def test_user_info_names_a_person(harness: Harness) -> None:
    people = await harness.add_people(3)
    for person in people:
        info = await harness.platform.user_info(person, channel_id=harness.channel_id)
        assert info.id == person
        assert info.display_name.strip()
        expected = harness.display_name_of(person)
        if expected is not None:
            assert info.display_name == expected
        assert not info.is_bot


async def test_member_count_is_a_number_or_none(harness: Harness) -> None:
    await harness.add_people(4)
    count = await harness.platform.member_count(harness.channel_id)
    assert count is None or (isinstance(count, int) and count >= 0)
    expected = harness.expected_member_count()
    if expected is not None:
        assert count == expected


async def test_ensure_channel_accepts_the_bots_channel(harness: Harness) -> None:
    await harness.platform.ensure_channel(harness.channel_id)
    assert harness.platform.owns(harness.channel_id)
    assert harness.platform.channel_id_problem(harness.channel_id) is None


# ----------------------------------------------------------------------------- exactly once


async def test_an_uncertain_post_is_found_so_not_posted_again(harness: Harness) -> None:
    if not await harness.make_uncertain_next_post():
        pytest.skip(f"{harness.name} has no post whose answer can be lost")
    post_key = key()
    with pytest.raises(DeliveryUnknown):
        await harness.platform.post(harness.channel_id, question_post(), key=post_key)

    found = await harness.platform.find_post(harness.channel_id, post_key, LONG_AGO)

    assert found is not None  # so the outbox would not post it again
    [stored] = await ours(harness, post_key)
    assert stored.message_id == found.message_id


async def test_the_outbox_posts_one_question(harness: Harness, make_context, sqlite_url) -> None:
    ctx = await make_context(sqlite_url, platform=harness.platform)
    result = await ask_and_deliver(ctx, harness.channel_id)
    assert result.delivered
    assert await question_messages(harness) == [result.post.message_id]


async def test_the_outbox_posts_one_question_after_an_uncertain_post(
    harness: Harness, make_context, sqlite_url
) -> None:
    if not await harness.make_uncertain_next_post():
        pytest.skip(f"{harness.name} has no post whose answer can be lost")
    ctx = await make_context(sqlite_url, platform=harness.platform)

    result = await ask_and_deliver(ctx, harness.channel_id)

    assert result.delivered
    assert result.report.found == [result.post.key]  # looked, found it, did not post again
    assert await question_messages(harness) == [result.post.message_id]
    [stored] = await ours(harness, result.post.key)
    assert stored.message_id == result.post.message_id


async def question_messages(harness: Harness) -> list[str]:
    """Ids of the bot's top-level messages in the channel (each a question, in these tests)."""
    return [
        m.message_id
        for m in await harness.messages_in_channel()
        if m.by_bot and m.thread_id is None
    ]


# ----------------------------------------------------------------------------- hostile text


async def test_hostile_feed_text_stays_inert(harness: Harness) -> None:
    alert = FeedAlert(
        title=f"Report {HOSTILE}",
        source="Socitm <b>news</b> & views",
        link=REPORT_LINK,
        summary=f"Summary: {HOSTILE}",
        published=datetime(2025, 4, 7, 9, 0, tzinfo=UTC),
        related_question=QUESTION,
    )
    post_key = key()
    await harness.platform.post(harness.channel_id, alert, key=post_key)

    messages = await ours(harness, post_key)
    assert messages
    problems = {
        m.message_id: harness.markup_problems(m, allowed_links={REPORT_LINK}) for m in messages
    }
    assert all(not p for p in problems.values()), problems
    shown = "\n".join(harness.rendered_text(m) for m in messages)
    for bit in HOSTILE_BITS:  # shown as the feed wrote it: text, not markup
        assert bit in shown, f"{bit!r} not shown as text in {shown!r}"


# ----------------------------------------------------------------------------- long content


def long_digest(replies: int = 400, length: int = 700) -> DigestPost:
    monday = datetime(2025, 4, 7, 9, 0, tzinfo=LONDON)
    window = DigestWindow(
        datetime(2025, 4, 4, 16, 0, tzinfo=LONDON), datetime(2025, 4, 11, 16, 0, tzinfo=LONDON)
    )
    words = "public services need joined up data and brave leadership to change "
    texts = [
        (f"Reply R{n:04d} says " + words * 20)[:length] + f" end R{n:04d}" for n in range(replies)
    ]
    digest = build_digest(
        channel=ChannelRef("contract", "leadership"),
        window=window,
        threads=[
            QuestionThread(
                QUESTION,
                monday,
                "https://example.org/question",
                [
                    DigestReply(
                        f"U{n % 37:03d}",
                        f"Person {n % 37}",
                        text,
                        f"{1744016400 + n}.000100",
                        False,
                        monday + timedelta(minutes=n),
                    )
                    for n, text in enumerate(texts)
                ],
            )
        ],
        member_count=50,
        question_set=QUESTIONS,
        asked_ids=(),
        history=[WeekParticipation(date(2025, 4, 7), 37, replies)],
    )
    return DigestPost(digest=digest, chart_png=PNG, chart_alt="People taking part per week")


async def test_a_long_digest_posts_whole_within_the_limits(harness: Harness) -> None:
    content = long_digest()
    post_key = key()

    sent = await harness.platform.post(harness.channel_id, content, key=post_key)

    assert sent.complete
    found = await harness.platform.find_post(
        harness.channel_id, post_key, content.digest.window.end
    )
    assert found is not None and found.complete and found.message_id == sent.message_id
    messages = await ours(harness, post_key)
    assert messages
    for message in messages:
        assert harness.limit_problems(message) == [], message.message_id
        if harness.max_message_chars is not None:
            assert len(harness.rendered_text(message)) <= harness.max_message_chars
    everything = squeeze("\n".join(harness.rendered_text(m) for m in messages))
    replies = content.digest.questions[0].replies
    missing = [r.text[:12] for r in replies if squeeze(r.text) not in everything]
    assert not missing, f"{len(missing)} of {len(replies)} replies not posted: {missing[:5]}"


# ----------------------------------------------------------------------------- errors


async def test_posting_to_an_unknown_channel_is_a_permanent_failure(
    harness: Harness, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(PermanentFailure):
        await harness.platform.post(harness.unknown_channel_id, question_post(), key=key())


async def test_ensuring_an_unknown_channel_is_a_permanent_failure(harness: Harness) -> None:
    with pytest.raises(PermanentFailure):
        await harness.platform.ensure_channel(harness.unknown_channel_id)


async def test_reading_a_missing_thread_is_an_error_not_an_empty_list(
    harness: Harness, request: pytest.FixtureRequest
) -> None:
    await ask(harness)
    with pytest.raises(PlatformError):
        await harness.platform.fetch_thread(harness.channel_id, harness.missing_thread_id)


async def test_a_rate_limit_is_rate_limited_with_retry_after(harness: Harness) -> None:
    if not await harness.make_rate_limited_next_post(7):
        pytest.skip(f"{harness.name} has no rate limit to inject")
    post_key = key()
    with pytest.raises(RateLimited) as raised:
        await harness.platform.post(harness.channel_id, question_post(), key=post_key)
    assert raised.value.retry_after == 7
    assert raised.value.retryable
    assert await ours(harness, post_key) == []  # nothing was delivered
    # and the next post goes through
    await harness.platform.post(harness.channel_id, question_post(), key=post_key)
    assert len(await ours(harness, post_key)) == 1
