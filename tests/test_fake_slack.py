"""The fake Slack Web API itself: if it lied, every Slack test would be worthless."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.signing import signature, signed_headers
from tests.fakes.slack_api import (
    Drop,
    DropAfterAccept,
    FakeSlack,
    HttpError,
    Latency,
    Pass,
    RateLimit,
    SlackError,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user("U1", "ann")
        server.add_user("U2", "bob")
        server.add_channel("C1", "general", members={"U1", "U2"})
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.url, retry_handlers=[])


async def test_url_is_a_usable_base_url(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert fake.url.startswith("http://127.0.0.1:") and fake.url.endswith("/api/")
    response = await client.auth_test()
    assert response["user_id"] == FakeSlack.BOT_USER_ID
    assert fake.calls("auth.test")[0].headers["Authorization"] == f"Bearer {fake.bot_token}"


async def test_wrong_or_missing_token_is_refused(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as wrong:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.url).auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as none:
        await AsyncWebClient(base_url=fake.url).auth_test()
    assert none.value.response["error"] == "not_authed"
    with pytest.raises(SlackApiError) as kind:
        await AsyncWebClient(token=fake.app_token, base_url=fake.url).auth_test()
    assert kind.value.response["error"] == "not_allowed_token_type"


async def test_post_records_json_and_form_bodies_alike(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    metadata = {"event_type": "leaderbot_post", "event_payload": {"key": "k"}}
    await client.chat_postMessage(channel="C1", text="hi", blocks=blocks, metadata=metadata)
    # The same call, form encoded, as older clients send it.
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C1", "text": "hi", "blocks": json.dumps(blocks)},
    )
    first, second = fake.calls("chat.postMessage")
    assert first.body["blocks"] == second.body["blocks"] == blocks
    stored = fake.messages("C1")
    assert [m.metadata for m in stored] == [metadata, None]
    assert stored[0].bot_id == FakeSlack.BOT_ID


async def test_post_errors_like_slack(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("C2", "outside", bot_member=False)
    fake.add_channel("G1", "secret", is_private=True, bot_member=False)
    fake.add_channel("C3", "old", is_archived=True)
    cases = {"C404": "channel_not_found", "C2": "not_in_channel", "G1": "channel_not_found"}
    cases["C3"] = "is_archived"
    for channel, error in cases.items():
        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(channel=channel, text="x")
        assert caught.value.response["error"] == error, channel
    too_many = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="x", blocks=too_many)
    assert caught.value.response["error"] == "invalid_blocks"
    assert fake.messages() == []


async def test_faults_are_consumed_in_order_per_method(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.inject("chat.postMessage", Pass(), RateLimit(retry_after=4), SlackError("fatal_error"))
    await client.chat_postMessage(channel="C1", text="one")
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C1", text="two")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "4"
    with pytest.raises(SlackApiError) as failed:
        await client.chat_postMessage(channel="C1", text="three")
    assert failed.value.response["error"] == "fatal_error"
    await client.chat_postMessage(channel="C1", text="four")
    assert [m.text for m in fake.messages("C1")] == ["one", "four"]
    assert [c.fault for c in fake.calls("chat.postMessage")] == [
        "Pass",
        "RateLimit",
        "SlackError",
        None,
    ]
    assert fake.pending_faults("chat.postMessage") == 0


async def test_http_error_and_drops(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.inject("chat.postMessage", HttpError(503), Drop(), DropAfterAccept())
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="a")
    assert caught.value.response.status_code == 503
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel="C1", text="b")
    assert fake.messages("C1") == []
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel="C1", text="c")
    assert [m.text for m in fake.messages("C1")] == ["c"]  # accepted, then dropped


async def test_latency_fault_delays_then_answers(fake: FakeSlack) -> None:
    slow = AsyncWebClient(token=fake.bot_token, base_url=fake.url, timeout=0.1, retry_handlers=[])  # type: ignore[arg-type]
    fake.inject("chat.postMessage", Latency(0.3))
    with pytest.raises(TimeoutError):
        await slow.chat_postMessage(channel="C1", text="late")
    # The client gave up, but the fake still carries the call out, as Slack would.
    fake_done = fake.calls("chat.postMessage")[0]
    assert fake_done.fault == "Latency"


async def test_history_pagination_window_and_metadata(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.history_page_size = 2
    old = fake.add_message("C1", "old", user="U1", ts="1000.000001")
    tagged = {"event_type": "leaderbot_post", "event_payload": {"key": "k"}}
    texts = []
    for i in range(5):
        fake.add_message("C1", f"m{i}", bot=True, metadata=tagged if i == 0 else None)
        texts.append(f"m{i}")
    seen, cursor = [], None
    while True:
        page = await client.conversations_history(
            channel="C1", oldest=old.ts, cursor=cursor, include_all_metadata=True
        )
        assert len(page["messages"]) <= 2
        seen.extend(page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert [m["text"] for m in seen] == list(reversed(texts))  # newest first; oldest exclusive
    assert seen[-1]["metadata"] == tagged
    plain = await client.conversations_history(channel="C1", limit=10)
    assert all("metadata" not in m for m in plain["messages"])


async def test_replies_are_paginated_and_reply_helpers_work(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    parent = fake.add_message("C1", "question", bot=True)
    replies = [fake.add_message("C1", f"r{i}", user="U1", thread_ts=parent.ts) for i in range(4)]
    fake.edit_message("C1", replies[1].ts, "r1 edited")
    fake.delete_message("C1", replies[2].ts)
    first = await client.conversations_replies(channel="C1", ts=parent.ts, limit=100)
    assert len(first["messages"]) == fake.replies_page_size  # capped, like Slack may do
    assert first["has_more"] is True
    second = await client.conversations_replies(
        channel="C1", ts=parent.ts, cursor=first["response_metadata"]["next_cursor"]
    )
    texts = [m["text"] for m in first["messages"] + second["messages"]]
    assert texts == ["question", "r0", "r1 edited", "r3"]
    assert "edited" in first["messages"][2]
    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["question"]  # replies stay in the thread
    assert history["messages"][0]["reply_count"] == 3


async def test_join_info_members_and_users(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_channel("C2", "outside", bot_member=False, members={"U1"})
    fake.add_channel("G1", "secret", is_private=True, bot_member=False)
    joined = await client.conversations_join(channel="C2")
    assert joined["channel"]["is_member"] is True
    with pytest.raises(SlackApiError) as private:
        await client.conversations_join(channel="G1")
    assert private.value.response["error"] == "method_not_supported_for_channel_type"
    info = await client.conversations_info(channel="C1", include_num_members=True)
    assert info["channel"]["num_members"] == 3  # U1, U2 and the bot
    fake.members_page_size = 2
    page = await client.conversations_members(channel="C1")
    assert len(page["members"]) == 2 and page["response_metadata"]["next_cursor"]
    fake.add_user("U9", "ann", is_admin=True)
    assert (await client.users_info(user="U9"))["user"]["is_admin"] is True
    with pytest.raises(SlackApiError) as missing:
        await client.users_info(user="U404")
    assert missing.value.response["error"] == "user_not_found"


async def test_update_delete_permalink_and_ephemeral(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C1", text="v1")
    await client.chat_update(channel="C1", ts=posted["ts"], text="v2")
    assert fake.message("C1", posted["ts"]).edited is not None  # type: ignore[union-attr]
    link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert link["permalink"].endswith(posted["ts"].replace(".", ""))
    await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert fake.ephemerals[0]["text"] == "only you"
    users_message = fake.add_message("C1", "mine", user="U1")
    with pytest.raises(SlackApiError) as other:
        await client.chat_update(channel="C1", ts=users_message.ts, text="hijack")
    assert other.value.response["error"] == "cant_update_message"
    await client.chat_delete(channel="C1", ts=posted["ts"])
    assert [m.text for m in fake.messages("C1")] == ["mine"]


async def test_files_upload_v2_round_trip(fake: FakeSlack, client: AsyncWebClient) -> None:
    await client.files_upload_v2(channel="C1", file=b"\x89PNG\r\n", filename="c.png", title="T")
    (file,) = fake.files.values()
    assert (file.data, file.title, file.channel, file.completed) == (
        b"\x89PNG\r\n",
        "T",
        "C1",
        True,
    )


async def test_views_are_recorded(fake: FakeSlack, client: AsyncWebClient) -> None:
    view = {"type": "home", "blocks": []}
    await client.views_publish(user_id="U1", view=view)
    await client.views_open(trigger_id="t.1", view={"type": "modal", "blocks": []})
    assert [v["action"] for v in fake.views] == ["publish", "open"]
    assert fake.views[0]["view"] == view


async def test_per_channel_rate_limit(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.channel_post_interval = 60
    fake.add_channel("C2", "other")
    await client.chat_postMessage(channel="C1", text="a")
    await client.chat_postMessage(channel="C2", text="b")  # another channel: fine
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="c")
    assert caught.value.response.status_code == 429
    assert int(caught.value.response.headers["Retry-After"]) >= 59


async def test_socket_mode_hello_envelopes_and_acks(fake: FakeSlack) -> None:
    app_client = AsyncWebClient(token=fake.app_token, base_url=fake.url)
    url = (await app_client.apps_connections_open(app_token=fake.app_token))["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello"
        await fake.wait_until(lambda: fake.socket_count == 1)
        envelope_id = await fake.push("events_api", {"event": {"type": "app_mention"}})
        envelope = await ws.receive_json()
        assert envelope["envelope_id"] == envelope_id
        await ws.send_json({"envelope_id": envelope_id, "payload": {"text": "ok"}})
        assert (await fake.ack(envelope_id))["payload"] == {"text": "ok"}
        await fake.drop_sockets(refuse_reconnect=True)
        assert (await ws.receive()).type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(url)


def test_signature_matches_slack_documented_example() -> None:
    # The worked example in Slack's "Verifying requests from Slack" guide.
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert signature(body, "8f742231b10e8888abcd99yyyzzz85a5", 1531420618) == expected
    headers = signed_headers(body, "8f742231b10e8888abcd99yyyzzz85a5", timestamp=1531420618)
    assert headers["X-Slack-Signature"] == expected


async def _installed(fake: FakeSlack, team: str) -> dict[str, Any]:
    """A workspace installed the way Slack does it: authorize, then exchange the code."""
    fake.redirect_url = "https://bot.invalid/slack/oauth_redirect"
    fake.approve_next_install(team, "UINSTALLER")
    query = f"client_id={fake.client_id}&state=s1&scope=chat:write"
    async with (
        aiohttp.ClientSession() as http,
        http.get(fake.base + "oauth/v2/authorize?" + query, allow_redirects=False) as response,
    ):
        assert response.status == 302
        location = response.headers["Location"]
    assert location.startswith(fake.redirect_url) and "state=s1" in location
    code = location.split("code=")[1].split("&")[0]
    oauth = AsyncWebClient(base_url=fake.url, retry_handlers=[])
    answer = await oauth.oauth_v2_access(
        client_id=fake.client_id, client_secret=fake.client_secret, code=code
    )
    return dict(answer.data)  # type: ignore[arg-type]


async def test_a_workspace_s_token_reaches_only_its_own_channels_and_people(
    fake: FakeSlack,
) -> None:
    fake.add_team("TOTHER", "Other Council")
    fake.add_channel("COTHER", "theirs", team_id="TOTHER")
    fake.add_user("UOTHER", "otto", team_id="TOTHER")
    answer = await _installed(fake, "TOTHER")
    assert answer["team"] == {"id": "TOTHER", "name": "Other Council"}
    theirs = AsyncWebClient(token=answer["access_token"], base_url=fake.url, retry_handlers=[])
    ours = AsyncWebClient(token=fake.bot_token, base_url=fake.url, retry_handlers=[])

    assert (await theirs.auth_test())["team_id"] == "TOTHER"
    await theirs.chat_postMessage(channel="COTHER", text="hello")
    for client, channel, user in ((ours, "COTHER", "UOTHER"), (theirs, "C1", "U1")):
        with pytest.raises(SlackApiError) as refused:
            await client.chat_postMessage(channel=channel, text="not yours")
        assert refused.value.response["error"] == "channel_not_found"
        with pytest.raises(SlackApiError) as unknown:
            await client.users_info(user=user)
        assert unknown.value.response["error"] == "user_not_found"
    assert [m.text for m in fake.messages("COTHER")] == ["hello"]


async def test_rotating_tokens_expire_and_are_renewed_with_the_refresh_token(
    fake: FakeSlack,
) -> None:
    fake.token_lifetime_s = 43_200
    answer = await _installed(fake, FakeSlack.TEAM_ID)
    assert answer["expires_in"] == 43_200 and answer["access_token"].startswith("xoxe.xoxb-")
    first = AsyncWebClient(token=answer["access_token"], base_url=fake.url, retry_handlers=[])
    await first.auth_test()
    fake.expire(answer["access_token"])
    with pytest.raises(SlackApiError) as expired:
        await first.auth_test()
    assert expired.value.response["error"] == "token_expired"

    oauth = AsyncWebClient(base_url=fake.url, retry_handlers=[])
    renewed = await oauth.oauth_v2_access(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        grant_type="refresh_token",
        refresh_token=answer["refresh_token"],
    )
    assert renewed["token_type"] == "bot" and renewed["access_token"] != answer["access_token"]
    fresh = AsyncWebClient(token=renewed["access_token"], base_url=fake.url, retry_handlers=[])
    assert (await fresh.auth_test())["team_id"] == FakeSlack.TEAM_ID
    with pytest.raises(SlackApiError) as bad:
        await oauth.oauth_v2_access(
            client_id=fake.client_id,
            client_secret="wrong",
            grant_type="refresh_token",
            refresh_token=answer["refresh_token"],
        )
    assert bad.value.response["error"] == "bad_client_secret"
