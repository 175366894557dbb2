"""SlackPlatform through the real slack_sdk client against the fake Slack Web API, and the
Block Kit renderer as pure functions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from bot.domain.content import FeedAlert, FileUpload, Notice, Nudge, QuestionPost
from bot.domain.questions import Question
from bot.platforms.slack import blocks
from bot.platforms.slack.client import build_web_client
from bot.platforms.slack.membership import Memberships
from bot.platforms.slack.platform import SlackPlatform
from bot.port import (
    ChatPlatform,
    DeliveryUnknown,
    PermanentFailure,
    RateLimited,
)
from bot.settings import Settings
from tests.fakes import eventually
from tests.fakes.slack_api import (
    DropAfterAccept,
    FakeSlack,
    HttpError,
    Latency,
    Pass,
    RateLimit,
    SlackError,
)

HOSTILE = "<!channel> & <https://evil|x>"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def question(text: str = "What would you stop doing?", **fields: str) -> Question:
    values = {
        "id": "Q3",
        "text": text,
        "theme": "Harnessing data",
        "provenance": "quoted",
        "source": "PublicTechnology",
        "source_url": "https://socitm.net/",
    }
    values.update(fields)
    return Question(**values)  # type: ignore[arg-type]


def settings_for(fake: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=fake.bot_token,
        slack_api_url=fake.url,
        slack_app_token=None,
        slack_signing_secret=None,
        _env_file=None,  # type: ignore[call-arg]
    )


class RecordingSleep:
    """Stands in for asyncio.sleep so rate-limit waits are checked, not waited."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        for uid in ("U1", "U2", "U3"):
            server.add_user(uid, uid.lower())
        server.add_channel("C1", "leadership", members={"U1", "U2", "U3"})
        yield server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def slack(fake: FakeSlack, sleep: RecordingSleep) -> SlackPlatform:
    return SlackPlatform(build_web_client(settings_for(fake)), sleep=sleep)


def an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


# ----------------------------------------------------------------------------- post


async def test_implements_the_port(slack: SlackPlatform) -> None:
    assert isinstance(slack, ChatPlatform)
    assert slack.name == "slack"


async def test_post_sends_escaped_blocks_tagged_with_the_key(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    sent = await slack.post("C1", QuestionPost(question(HOSTILE), "Digital Trends 2025"), key="k1")

    (call,) = fake.calls("chat.postMessage")
    body = call.body
    assert body["metadata"] == {"event_type": "leaderbot_post", "event_payload": {"key": "k1"}}
    assert body["unfurl_links"] is False and body["unfurl_media"] is False
    assert "link_names" not in body and "parse" not in body and "thread_ts" not in body
    raw = dump(body)
    assert "<!channel>" not in raw and "<https://evil" not in raw
    escaped = "&lt;!channel&gt; &amp; &lt;https://evil|x&gt;"
    assert escaped in body["text"]
    assert any(escaped in dump(block) for block in body["blocks"])
    assert "<https://socitm.net/|Digital Trends 2025>" in raw  # our own link survives
    assert body["blocks"][0]["type"] == "header" and "Q3" in body["blocks"][0]["text"]["text"]

    (stored,) = fake.messages("C1")
    assert sent.message_id == stored.ts and sent.channel_id == "C1"
    assert sent.link and sent.link.startswith("https://fake.slack.com/archives/C1/")


async def test_post_in_a_thread_and_prerendered_content(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    parent = await slack.post("C1", Notice("parent"), key="p")
    custom = {"text": "digest", "blocks": [{"type": "divider"}]}
    sent = await slack.post("C1", custom, key="d", thread_id=parent.message_id)
    body = fake.calls("chat.postMessage")[-1].body
    assert (body["thread_ts"], body["text"], body["blocks"]) == (
        parent.message_id,
        "digest",
        custom["blocks"],
    )
    assert fake.replies("C1", parent.message_id)[0].ts == sent.message_id
    assert "thread_ts" in (sent.link or "")


async def test_429_raises_rate_limited_with_retry_after_and_stores_nothing(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    fake.inject("chat.postMessage", RateLimit(retry_after=7))
    with pytest.raises(RateLimited) as caught:
        await slack.post("C1", Notice("hello"), key="k")
    assert caught.value.retry_after == 7.0
    assert fake.messages("C1") == []
    assert len(fake.calls("chat.postMessage")) == 1  # not retried behind our back


async def test_ratelimited_error_without_header_defaults_to_one_second(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    fake.inject("chat.postMessage", SlackError("ratelimited"))
    with pytest.raises(RateLimited) as caught:
        await slack.post("C1", Notice("hello"), key="k")
    assert caught.value.retry_after == 1.0


async def test_drop_after_accept_is_delivery_unknown_and_find_post_finds_it(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    fake.add_message("C1", "someone else", user="U1")
    fake.inject("chat.postMessage", DropAfterAccept())
    with pytest.raises(DeliveryUnknown):
        await slack.post("C1", Notice("hello"), key="week-12:C1")

    (stored,) = [m for m in fake.messages("C1") if m.bot_id]
    assert len(fake.calls("chat.postMessage")) == 1  # no hidden connection-error retry
    found = await slack.find_post("C1", "week-12:C1", an_hour_ago())
    assert found is not None and found.message_id == stored.ts and found.link
    assert await slack.find_post("C1", "week-13:C1", an_hour_ago()) is None
    history = fake.calls("conversations.history")[0].body
    assert history["include_all_metadata"] in ("1", "true", True)


async def test_find_post_pages_through_history_and_respects_since(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    fake.history_page_size = 2
    tag = {"event_type": "leaderbot_post", "event_payload": {"key": "old"}}
    fake.add_message("C1", "last year", bot=True, metadata=tag, ts="1600000000.000100")
    target = await slack.post("C1", Notice("target"), key="target")
    for i in range(5):
        await slack.post("C1", Notice(f"later {i}"), key=f"later-{i}")

    found = await slack.find_post("C1", "target", an_hour_ago())
    assert found is not None and found.message_id == target.message_id
    assert len(fake.calls("conversations.history")) >= 3  # it had to follow the cursor
    assert await slack.find_post("C1", "old", an_hour_ago()) is None  # before `since`


async def test_find_post_in_a_thread(fake: FakeSlack, slack: SlackPlatform) -> None:
    parent = await slack.post("C1", Notice("question"), key="q")
    nudge = await slack.post("C1", Nudge("Q3"), key="nudge", thread_id=parent.message_id)
    assert await slack.find_post("C1", "nudge", an_hour_ago()) is None  # not in history
    found = await slack.find_post("C1", "nudge", an_hour_ago(), thread_id=parent.message_id)
    assert found is not None and found.message_id == nudge.message_id


async def test_server_error_is_delivery_unknown(fake: FakeSlack, slack: SlackPlatform) -> None:
    fake.inject("chat.postMessage", HttpError(500))
    with pytest.raises(DeliveryUnknown):
        await slack.post("C1", Notice("hello"), key="k")
    assert fake.messages("C1") == []


async def test_timeout_is_delivery_unknown_and_the_late_post_is_found(
    fake: FakeSlack, sleep: RecordingSleep
) -> None:
    client = build_web_client(settings_for(fake), timeout=0.1)
    slow = SlackPlatform(client, sleep=sleep)
    fake.inject("chat.postMessage", Latency(0.3))
    with pytest.raises(DeliveryUnknown):
        await slow.post("C1", Notice("hello"), key="late")

    # We gave up waiting, but Slack carried on and posted it: looking first avoids a duplicate.
    async def landed() -> bool:
        return bool(fake.messages("C1"))

    await eventually(landed)
    found = await slow.find_post("C1", "late", an_hour_ago())
    assert found is not None and found.message_id == fake.messages("C1")[0].ts


async def test_pooled_platform_shares_a_session_and_keeps_the_timeout(fake: FakeSlack) -> None:
    async with SlackPlatform.pooled(settings_for(fake), request_timeout=0.2) as pooled:
        session = pooled.client.session
        assert session is not None
        first = await pooled.post("C1", Notice("one"), key="a")
        await pooled.post("C1", Notice("two"), key="b")
        assert pooled.client.session is session and first.link
        fake.inject("chat.postMessage", Latency(0.5))
        with pytest.raises(DeliveryUnknown):
            await pooled.post("C1", Notice("slow"), key="c")
    assert session.closed


async def test_unreachable_slack_is_delivery_unknown(fake: FakeSlack) -> None:
    url = fake.url
    await fake.stop()
    settings = settings_for(fake).model_copy(update={"slack_api_url": url})
    with pytest.raises(DeliveryUnknown):
        await SlackPlatform(build_web_client(settings)).post("C1", Notice("x"), key="k")


@pytest.mark.parametrize(
    ("channel", "code", "hint"),
    [
        ("C404", "channel_not_found", "channel not found"),
        ("C2", "needs_invite", "/invite @leaderbot"),
        ("C3", "is_archived", "archived"),
    ],
)
async def test_slack_refusals_are_permanent_with_a_human_message(
    fake: FakeSlack, slack: SlackPlatform, channel: str, code: str, hint: str
) -> None:
    fake.add_channel("C2", "outside", bot_member=False)
    fake.add_channel("C3", "old", is_archived=True)
    with pytest.raises(PermanentFailure) as caught:
        await slack.post(channel, Notice("hello"), key="k")
    assert caught.value.code == code
    assert hint in str(caught.value)
    assert not caught.value.retryable


async def test_invalid_auth_is_permanent(fake: FakeSlack) -> None:
    settings = settings_for(fake).model_copy(update={"slack_bot_token": SecretStr("xoxb-revoked")})
    with pytest.raises(PermanentFailure, match="SLACK_BOT_TOKEN"):
        await SlackPlatform(build_web_client(settings)).post("C1", Notice("x"), key="k")


async def test_permalink_failure_does_not_fail_the_post(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    fake.inject("auth.test", HttpError(500))
    sent = await slack.post("C1", Notice("hello"), key="k")
    assert sent.link is None
    assert [m.ts for m in fake.messages("C1")] == [sent.message_id]


async def test_permalinks_are_built_from_one_auth_test_with_no_call_per_post(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    fake.add_channel("C2")
    first = await slack.post("C1", Notice("one"), key="k1")
    second = await slack.post("C2", Notice("two"), key="k2")
    reply = await slack.post("C1", Notice("three"), key="k3", thread_id=first.message_id)
    for sent, channel in ((first, "C1"), (second, "C2"), (reply, "C1")):
        ts = sent.message_id
        expected = await slack.client.chat_getPermalink(channel=channel, message_ts=ts)
        assert sent.link == expected["permalink"]
    assert len(fake.calls("auth.test")) == 1
    assert len(fake.calls("chat.getPermalink")) == 3  # the three above, none from a post


# ----------------------------------------------------------------------------- reads


async def test_fetch_thread_pages_waits_out_a_429_and_excludes_the_parent(
    fake: FakeSlack, slack: SlackPlatform, sleep: RecordingSleep
) -> None:
    parent = await slack.post("C1", QuestionPost(question(), "Report"), key="q")
    posted = []
    for i in range(7):
        posted.append(fake.add_message("C1", f"reply {i}", user="U1", thread_ts=parent.message_id))
    fake.add_message("C1", "bot reply", bot=True, thread_ts=parent.message_id)
    fake.add_message("C1", "legacy bot", subtype="bot_message", thread_ts=parent.message_id)
    fake.edit_message("C1", posted[2].ts, "reply 2, edited", by="U1")
    fake.inject("conversations.replies", Pass(), RateLimit(retry_after=3))

    thread = await slack.fetch_thread("C1", parent.message_id)

    assert [m.text for m in thread][:7] == [
        "reply 0",
        "reply 1",
        "reply 2, edited",
        "reply 3",
        "reply 4",
        "reply 5",
        "reply 6",
    ]
    assert parent.message_id not in {m.message_id for m in thread}
    assert len(thread) == 9 and len({m.message_id for m in thread}) == 9
    assert [m.edited for m in thread][:3] == [False, False, True]
    assert [m.is_bot for m in thread][-3:] == [False, True, True]
    assert thread[0].user_id == "U1"
    assert thread[0].posted_at == datetime.fromtimestamp(float(posted[0].ts), UTC)
    assert sleep.waits == [3.0]
    # 10 messages at 3 a page = 4 pages, plus the one refused.
    assert len(fake.calls("conversations.replies")) == 5


async def test_fetch_thread_gives_up_after_bounded_rate_limits(
    fake: FakeSlack, sleep: RecordingSleep
) -> None:
    slack = SlackPlatform(build_web_client(settings_for(fake)), sleep=sleep, read_attempts=3)
    parent = fake.add_message("C1", "q", bot=True)
    fake.inject("conversations.replies", *[RateLimit(retry_after=2)] * 3)
    with pytest.raises(RateLimited):
        await slack.fetch_thread("C1", parent.ts)
    assert sleep.waits == [2.0, 2.0]


async def test_user_info_kinds_of_user(fake: FakeSlack, slack: SlackPlatform) -> None:
    fake.add_user("UA", "ann", real_name="Ann Admin", display_name="ann.a", is_admin=True)
    fake.add_user("UO", "olu", real_name="Olu Owner", is_owner=True)
    fake.add_user("UG", "gus", real_name="", is_restricted=True)
    fake.add_user("UU", "una", is_ultra_restricted=True)
    fake.add_user("UB", "helper", is_bot=True)
    fake.add_user("UD", "dee", deleted=True)

    admin = await slack.user_info("UA")
    assert (admin.display_name, admin.is_admin, admin.is_guest) == ("ann.a", True, False)
    owner = await slack.user_info("UO")
    assert (owner.display_name, owner.is_owner) == ("Olu Owner", True)
    assert (await slack.user_info("UG")).is_guest and (
        await slack.user_info("UG")
    ).display_name == "gus"
    assert (await slack.user_info("UU")).is_guest
    assert (await slack.user_info("UB")).is_bot
    deleted = await slack.user_info("UD")
    assert deleted.deleted and not deleted.is_admin and deleted.workspace_id == FakeSlack.TEAM_ID
    with pytest.raises(PermanentFailure) as caught:
        await slack.user_info("U404")
    assert caught.value.code == "user_not_found"


async def test_member_count(fake: FakeSlack, slack: SlackPlatform) -> None:
    assert await slack.member_count("C1") == 3  # U1-U3; the bot itself is not counted
    fake.add_channel("C2", "outside", members={"U1"}, bot_member=False)
    assert await slack.member_count("C2") == 1
    assert await slack.member_count("C404") is None
    assert fake.calls("conversations.info")[0].body["include_num_members"] in ("1", "true", True)


# ----------------------------------------------------------------------------- upload, join


async def test_upload_png_into_a_thread(fake: FakeSlack, slack: SlackPlatform) -> None:
    parent = await slack.post("C1", Notice("digest"), key="d")
    upload = FileUpload(filename="replies.png", data=PNG, title="Replies by week", alt_text="bars")
    await slack.upload("C1", upload, thread_ts=parent.message_id)
    (file,) = fake.files.values()
    assert file.data == PNG
    assert (file.filename, file.title, file.channel, file.thread_ts) == (
        "replies.png",
        "Replies by week",
        "C1",
        parent.message_id,
    )
    assert file.alt_txt == "bars" and file.completed


async def test_upload_to_a_missing_channel_is_permanent(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    with pytest.raises(PermanentFailure):
        await slack.upload("C404", FileUpload("a.png", PNG, "a"), thread_ts=None)


async def test_join_public_private_and_already_invited(
    fake: FakeSlack, slack: SlackPlatform
) -> None:
    public = fake.add_channel("C2", "open", bot_member=False)
    await slack.ensure_channel("C2")
    assert public.is_member

    fake.add_channel("G1", "secret", is_private=True, bot_member=False)
    with pytest.raises(PermanentFailure) as caught:
        await slack.ensure_channel("G1")
    assert "private channel" in str(caught.value) and "/invite @leaderbot" in str(caught.value)

    fake.add_channel("G2", "invited", is_private=True, bot_member=True)
    await slack.ensure_channel("G2")  # cannot join, but already in: fine


# ----------------------------------------------------------------------------- blocks


def test_escape_mrkdwn_neutralises_mentions_and_links() -> None:
    assert blocks.escape_mrkdwn(HOSTILE) == "&lt;!channel&gt; &amp; &lt;https://evil|x&gt;"
    assert blocks.escape_mrkdwn("&amp;") == "&amp;amp;"  # no double meaning


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "ftp://x.org/f", "https://", "/relative", "", None, "data:text/html,x"],
)
def test_only_http_links_are_made(url: str | None) -> None:
    assert blocks.safe_url(url) is None
    assert blocks.link(url, "label <b>") == "label &lt;b&gt;"


def test_link_cannot_be_broken_out_of() -> None:
    made = blocks.link("https://x.org/a|b>c<d e&f", "R&D")
    assert made == "<https://x.org/a%7Cb%3Ec%3Cd%20e&amp;f|R&amp;D>"


@pytest.mark.parametrize(
    "content",
    [
        QuestionPost(question("Bare https://evil.example @channel?"), "Report https://x.org"),
        Nudge("Q1", "Still time: @everyone https://evil.example"),
        Notice("A notice with https://evil.example and @here\n" * 200),
        FeedAlert(
            title="Title https://evil.example @channel",
            source="www.evil.example",
            link="https://socitm.net/r",
            summary="Summary @everyone https://evil.example",
            published=datetime(2025, 4, 7, tzinfo=UTC),
            related_question=question("Related https://evil.example?"),
        ),
    ],
)
def test_every_mrkdwn_text_object_is_verbatim(content: object) -> None:
    # Slack auto-links a bare URL and parses @channel in mrkdwn unless it says verbatim.
    rendered = blocks.render(content)
    objects = [
        obj
        for block in rendered["blocks"]
        for obj in [block.get("text"), *block.get("elements", [])]
        if isinstance(obj, dict) and obj.get("type") == "mrkdwn"
    ]
    assert objects and all(obj.get("verbatim") is True for obj in objects)


def test_truncate_never_splits_an_entity() -> None:
    text = blocks.escape_mrkdwn("a" * 9 + "<")  # "aaaaaaaaa&lt;"
    for limit in range(9, 14):
        cut = blocks.truncate(text, limit)
        assert len(cut) <= limit
        assert "&" not in cut.replace("&lt;", "")  # whole entity or none of it


def test_question_post_limits_and_fallback() -> None:
    long = question("Why? " * 1000, id="Q10")
    rendered = blocks.render(QuestionPost(long, "Report"))
    assert len(rendered["blocks"]) <= 50
    for block in rendered["blocks"]:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= (150 if block["type"] == "header" else 3000)
    assert rendered["text"].startswith("Q10: Why?") and len(rendered["text"]) <= 3000
    context_text = rendered["blocks"][-1]["elements"][0]["text"]
    assert "Harnessing data" in context_text and "<https://socitm.net/|Report>" in context_text


def test_source_link_is_dropped_when_not_http() -> None:
    rendered = blocks.render(QuestionPost(question(source_url="javascript:x"), "Report"))
    assert "javascript" not in dump(rendered)


def test_long_notice_is_split_and_capped() -> None:
    rendered = blocks.render(Notice(("line of text\n" * 400) * 40))
    assert 1 < len(rendered["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in rendered["blocks"])


def test_feed_alert_rendering() -> None:
    alert = FeedAlert(
        title="<!here> New   report",
        source="Socitm <news>",
        link="https://socitm.net/report?a=1&b=2",
        summary="First paragraph\nstill first.\n\nSecond paragraph.",
        published=datetime(2025, 3, 4, tzinfo=UTC),
        related_question=question(),
    )
    rendered = blocks.render(alert)
    raw = dump(rendered)
    assert "<!here>" not in raw and "&lt;!here&gt; New report" in raw
    assert "Socitm &lt;news&gt; · 4 March 2025" in raw
    assert "First paragraph still first." in raw and "Second paragraph" not in raw
    assert "Q3" in raw and "What would you stop doing?" in raw
    assert "<https://socitm.net/report?a=1&amp;b=2|" in raw
    no_link = blocks.render(
        FeedAlert(title="T", source="S", link="javascript:alert(1)", summary="")
    )
    assert "javascript" not in dump(no_link) and "<" not in dump(no_link)


def test_nudge_and_unknown_content() -> None:
    rendered = blocks.render(Nudge("Q4", text="Nudge <@U1>"))
    assert rendered["text"] == "Nudge &lt;@U1&gt;"
    with pytest.raises(TypeError):
        blocks.render(42)
    with pytest.raises(ValueError):
        blocks.render({"text": "x", "blocks": [{"type": "divider"}] * 51})


def test_a_channel_known_in_one_workspace_is_not_known_in_another() -> None:
    # A channel shared between two workspaces has one id in both; each workspace's bot joins.
    now = [0.0]
    memberships = Memberships(ttl_s=60, clock=lambda: now[0])
    memberships.remember("T1", "C1")
    assert memberships.known("T1", "C1")
    assert not memberships.known("T2", "C1") and not memberships.known(None, "C1")
    now[0] = 60.0
    assert not memberships.known("T1", "C1")  # expired


def test_memberships_are_bounded_forgetting_the_least_recently_proven() -> None:
    memberships = Memberships(capacity=2)
    for channel in ("C1", "C2", "C1", "C3"):
        memberships.remember(None, channel)
    assert memberships.known(None, "C1") and memberships.known(None, "C3")
    assert not memberships.known(None, "C2")
