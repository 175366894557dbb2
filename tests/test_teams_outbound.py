"""TeamsPlatform against FakeTeams over real HTTP: posting, exactly once, look-ups, reads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.domain.clock import ManualClock
from bot.port import NOT_INSTALLED, PermanentFailure
from bot.services import outbox
from bot.services.ask import ask_and_deliver
from bot.store.models import Post
from tests.fakes.teams_api import (
    DropAfterAccept,
    DropBeforeAccept,
    FakeTeams,
    HttpError,
    RateLimit,
)
from tests.teams_support import (
    GROUP,
    LEADERS,
    OWNER,
    STAFF,
    TeamsBed,
    real_now_clock,
    record_team,
    setup_team,
    teams_bed,
)

ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
def clock() -> ManualClock:
    return real_now_clock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    async with FakeTeams() as teams:
        setup_team(teams)
        yield teams


@pytest.fixture
async def bed(fake: FakeTeams, sqlite_url: str, clock: ManualClock) -> AsyncIterator[TeamsBed]:
    async with teams_bed(fake, sqlite_url, clock) as bed:
        await record_team(bed.platform, fake)
        yield bed


def card_of(message) -> dict:
    [attachment] = message.attachments
    assert attachment["contentType"] == ADAPTIVE
    return attachment["content"]


def card_key(message) -> str | None:
    return next(
        (e["text"] for e in card_of(message)["body"] if e.get("id") == "leaderbot-key"), None
    )


async def stored(bed: TeamsBed, key: str) -> Post:
    async with bed.db.read() as session:
        return (await session.scalars(select(Post).where(Post.key == key))).one()


async def test_a_question_is_one_new_thread_with_the_card(fake: FakeTeams, bed: TeamsBed) -> None:
    result = await ask_and_deliver(bed.ctx, LEADERS, "Q3")

    assert result.report.sent == [result.post.key]
    [message] = fake.messages(LEADERS)
    assert message.is_root
    card = card_of(message)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    texts = json.dumps(card)
    assert "Q3" in texts and "Reply in this thread" in texts
    assert any(a["type"] == "Action.OpenUrl" for a in card.get("actions", []))
    assert card_key(message) == result.post.key
    assert result.post.message_id == message.id
    assert result.post.link and f"groupId={GROUP}" in result.post.link
    [create] = fake.calls("create_conversation")
    assert create.json["isGroup"] is True
    assert create.json["channelData"]["channel"]["id"] == LEADERS


async def test_rate_limited_then_posted_once(fake: FakeTeams, bed: TeamsBed) -> None:
    fake.inject("create_conversation", RateLimit(retry_after=1))

    result = await ask_and_deliver(bed.ctx, LEADERS)

    assert result.delivered
    assert len(fake.messages(LEADERS)) == 1
    assert len(fake.calls("create_conversation")) == 2


@pytest.mark.parametrize("fault", [HttpError(500), HttpError(502), DropBeforeAccept()])
async def test_a_failed_attempt_is_looked_up_then_posted_once(
    fake: FakeTeams, bed: TeamsBed, fault: object
) -> None:
    fake.inject("create_conversation", fault)

    result = await ask_and_deliver(bed.ctx, LEADERS)

    assert result.report.sent == [result.post.key]
    assert len(fake.messages(LEADERS)) == 1
    assert fake.calls("graph_messages"), "looked before posting again"


async def test_dropped_after_accept_is_found_not_reposted(fake: FakeTeams, bed: TeamsBed) -> None:
    fake.inject("create_conversation", DropAfterAccept())

    result = await ask_and_deliver(bed.ctx, LEADERS)

    assert result.report.found == [result.post.key]
    [message] = fake.messages(LEADERS)
    assert result.post.status == "sent" and result.post.message_id == message.id
    assert len(fake.calls("create_conversation")) == 1


async def test_a_failed_look_up_hands_the_post_back(
    fake: FakeTeams, bed: TeamsBed, clock: ManualClock
) -> None:
    fake.inject("create_conversation", DropAfterAccept())
    fake.inject("graph_messages", RateLimit(retry_after=120))

    result = await ask_and_deliver(bed.ctx, LEADERS)

    assert result.report.deferred == [result.post.key]
    assert result.post.status == "pending" and result.post.message_id is None
    assert len(fake.messages(LEADERS)) == 1  # never posted blind
    assert len(fake.calls("create_conversation")) == 1

    clock.advance(seconds=121)
    report = await outbox.deliver_due(bed.ctx, only_keys=[result.post.key])

    assert report.found == [result.post.key]
    assert len(fake.messages(LEADERS)) == 1
    assert (await stored(bed, result.post.key)).message_id == fake.messages(LEADERS)[0].id


async def test_look_up_follows_graph_pages(fake: FakeTeams, bed: TeamsBed) -> None:
    for n in range(7):
        fake.user_post(LEADERS, STAFF, f"chatter {n}")
    first = await ask_and_deliver(bed.ctx, LEADERS, "Q1")
    for n in range(60):
        fake.user_post(LEADERS, STAFF, f"more chatter {n}")

    found = await bed.platform.find_post(
        LEADERS, first.post.key, bed.ctx.clock() - timedelta(minutes=5)
    )

    assert found is not None and found.message_id == first.post.message_id
    assert len(fake.calls("graph_messages")) >= 2  # 50 a page


async def test_a_team_without_the_app_is_not_installed(fake: FakeTeams, bed: TeamsBed) -> None:
    fake.uninstall(GROUP)

    result = await ask_and_deliver(bed.ctx, LEADERS)

    assert result.report.failed == [result.post.key]
    assert "install" in (result.post.error or "")
    assert fake.messages(LEADERS) == []


async def test_ensure_channel_needs_the_team(fake: FakeTeams, bed: TeamsBed) -> None:
    await bed.platform.ensure_channel(LEADERS)
    unknown = "19:ffffffffffffffffffffffffffffffff@thread.tacv2"

    with pytest.raises(PermanentFailure) as caught:
        await bed.platform.ensure_channel(unknown)

    assert caught.value.code == NOT_INSTALLED and "install" in str(caught.value)


async def test_nudge_in_thread_and_its_look_up(fake: FakeTeams, bed: TeamsBed) -> None:
    from bot.domain.content import Nudge

    root = fake.user_post(LEADERS, STAFF, "a thread")
    fake.inject("send_activity", DropAfterAccept())
    from bot.port import DeliveryUnknown

    with pytest.raises(DeliveryUnknown):
        await bed.platform.post(LEADERS, Nudge("Q1"), key="nudge:1", thread_id=root)
    found = await bed.platform.find_post(
        LEADERS, "nudge:1", bed.ctx.clock() - timedelta(minutes=5), thread_id=root
    )

    [reply] = [m for m in fake.thread(LEADERS, root) if m.by_bot]
    assert found is not None and found.message_id == reply.id


async def test_fetch_thread_reads_every_page(fake: FakeTeams, bed: TeamsBed) -> None:
    root = (await ask_and_deliver(bed.ctx, LEADERS)).post.message_id
    assert root is not None
    ids = [fake.user_reply(LEADERS, root, STAFF, f"<b>reply</b> & {n}") for n in range(55)]
    fake.user_edit(LEADERS, ids[1], "edited words")
    fake.user_delete(LEADERS, ids[2])

    messages = await bed.platform.fetch_thread(LEADERS, root)

    assert [m.message_id for m in messages] == [i for i in ids if i != ids[2]]
    assert messages[0].text == "<b>reply</b> & 0"  # HTML decoded once, as typed
    assert messages[1].edited and messages[1].text == "edited words"
    assert not any(m.is_bot for m in messages)
    assert messages[0].user_id == STAFF


async def test_user_info_owner_and_member(fake: FakeTeams, bed: TeamsBed) -> None:
    owner = await bed.platform.user_info(OWNER, channel_id=LEADERS)
    staff = await bed.platform.user_info(STAFF, channel_id=LEADERS)

    assert owner.is_owner and owner.is_admin and owner.display_name == "Olive Owner"
    assert not staff.is_owner and not staff.is_admin
    assert await bed.platform.member_count(LEADERS) == 2


async def test_a_refused_token_is_fetched_again(fake: FakeTeams, bed: TeamsBed) -> None:
    await ask_and_deliver(bed.ctx, LEADERS)
    fake.revoke_tokens()

    result = await ask_and_deliver(bed.ctx, LEADERS)

    assert result.delivered
    assert len(fake.messages(LEADERS)) == 2


async def test_tokens_are_cached(fake: FakeTeams, bed: TeamsBed) -> None:
    for _ in range(3):
        await ask_and_deliver(bed.ctx, LEADERS)
    assert fake.tokens_issued() == 1


# --------------------------------------------------------------------------- digests


async def test_a_long_digest_is_a_thread_of_parts_and_resumes(
    fake: FakeTeams, bed: TeamsBed
) -> None:
    from tests.test_teams_cards import digest_post

    post = digest_post(40, 3000)
    calls = 0

    async def only_the_first_part() -> bool:
        nonlocal calls
        calls += 1
        return calls <= 1  # another sender takes over after the first continuation

    partial = await bed.platform.post(LEADERS, post, key="digest:1", still_ours=only_the_first_part)
    assert not partial.complete
    head = fake.messages(LEADERS)[0]
    since = post.digest.window.end
    # The head's card says how many parts there are; Graph finds the post incomplete.
    assert (await bed.platform.find_post(LEADERS, "digest:1", since)).complete is False  # type: ignore[union-attr]

    done = await bed.platform.post(LEADERS, post, key="digest:1")

    assert done.complete and done.message_id == head.id
    roots = [m for m in fake.messages(LEADERS) if m.is_root]
    assert roots == [head], "the head is never posted twice"
    keys = [card_key(m) for m in fake.thread(LEADERS, head.id) if m.by_bot][1:]
    assert len(keys) == len(set(keys)) and keys[0] == "digest:1#2"
    found = await bed.platform.find_post(LEADERS, "digest:1", since)
    assert found is not None and found.complete


async def test_pacing_within_teams_limits() -> None:
    from bot.platforms.teams.pacing import ConversationPacer

    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = ConversationPacer(clock=lambda: now[0], sleep=sleep)
    for _ in range(60):
        await pacer.wait("c")
    assert now[0] < 30.0 and waits  # 7 a second: it waited, but not for the 30 s window
    await pacer.wait("c")
    assert now[0] >= 30.0  # the 61st waits for the first to leave the 30 s window
    await pacer.wait("other")  # another conversation is not held up
