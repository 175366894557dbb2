"""The fake Microsoft Teams itself: if it lied, every Teams test would be worthless.

Each endpoint and fault is exercised over real HTTP (httpx), inbound tokens are verified with
PyJWT and with the Teams SDK's own validator against the fake's JWKS, and the activity builders
are validated against the SDK's activity models.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web
from microsoft_teams.api.activities import (
    ActivityTypeAdapter,
    ConversationUpdateActivity,
    InstalledActivity,
    MessageActivity,
    MessageDeleteActivity,
    MessageUpdateActivity,
    UninstalledActivity,
)
from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides
from microsoft_teams.apps.auth.token_validator import TokenValidator
from pydantic import BaseModel

from tests.fakes.teams_api import (
    ADAPTIVE_CARD,
    Delay,
    DropAfterAccept,
    DropBeforeAccept,
    FakeTeams,
    HttpError,
    Pass,
    RateLimit,
)
from tests.fakes.teams_tokens import BOT_FRAMEWORK_SCOPE, GRAPH_SCOPE

APP_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cret~value"
TENANT = "99999999-8888-7777-6666-555555555555"
GROUP = "aaaaaaaa-0000-0000-0000-000000000001"
CHANNEL = "19:0f1e2d3c4b5a69788796a5b4c3d2e1f0@thread.tacv2"
ANN = "aad-ann"  # a team owner
BOB = "aad-bob"
MESSAGE_ID = re.compile(r"^1\d{12}$")  # epoch milliseconds, as Teams message ids are


@pytest.fixture
async def teams() -> AsyncIterator[FakeTeams]:
    async with FakeTeams(app_id=APP_ID, app_password=SECRET, tenant_id=TENANT) as fake:
        fake.add_team(GROUP, "Corporate Leadership Team")
        fake.add_channel(GROUP, CHANNEL, "Leadership")
        fake.add_member(GROUP, ANN, "Ann Owner", owner=True)
        fake.add_member(GROUP, BOB, "Bob Member")
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


async def token_for(http: httpx.AsyncClient, teams: FakeTeams, scope: str) -> str:
    response = await http.post(
        teams.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": APP_ID,
            "client_secret": SECRET,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
async def bf(http: httpx.AsyncClient, teams: FakeTeams) -> dict[str, str]:
    """Headers for the connector."""
    return {"Authorization": f"Bearer {await token_for(http, teams, BOT_FRAMEWORK_SCOPE)}"}


@pytest.fixture
async def graph(http: httpx.AsyncClient, teams: FakeTeams) -> dict[str, str]:
    """Headers for Graph."""
    return {"Authorization": f"Bearer {await token_for(http, teams, GRAPH_SCOPE)}"}


def card(text: str) -> dict[str, Any]:
    return {
        "contentType": ADAPTIVE_CARD,
        "content": {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        },
    }


async def new_thread(
    http: httpx.AsyncClient, teams: FakeTeams, bf: dict[str, str], text: str = "Weekly question"
) -> str:
    response = await http.post(
        teams.service_url + "v3/conversations",
        headers=bf,
        json={
            "isGroup": True,
            "channelData": {"channel": {"id": CHANNEL}},
            "activity": {"type": "message", "text": text, "attachments": [card(text)]},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["activityId"]


def activities_url(teams: FakeTeams, conversation_id: str, activity_id: str = "") -> str:
    url = f"{teams.service_url}v3/conversations/{conversation_id}/activities"
    return f"{url}/{activity_id}" if activity_id else url


def graph_messages_url(teams: FakeTeams, *tail: str) -> str:
    return "/".join([f"{teams.graph_url}teams/{GROUP}/channels/{CHANNEL}/messages", *tail])


# --------------------------------------------------------------------------- URLs and metadata


async def test_urls_are_the_settings_the_bot_needs(teams: FakeTeams) -> None:
    assert teams.url.startswith("http://127.0.0.1:")
    assert teams.token_url == f"{teams.login_url}/{TENANT}/oauth2/v2.0/token"
    assert teams.openid_metadata_url.endswith("/openidconfiguration")
    assert teams.jwks_url == re.sub(r"/openidconfiguration$", "/keys", teams.openid_metadata_url)
    assert teams.service_url.endswith("/")
    assert teams.graph_url.endswith("/v1.0/")


async def test_openid_metadata_and_jwks(teams: FakeTeams, http: httpx.AsyncClient) -> None:
    metadata = (await http.get(teams.openid_metadata_url)).json()
    assert metadata["issuer"] == "https://api.botframework.com"
    assert metadata["jwks_uri"] == teams.jwks_url
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    (key,) = (await http.get(metadata["jwks_uri"])).json()["keys"]
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["e"] == "AQAB"
    assert key["kid"] and key["n"] and key["endorsements"] == ["msteams"]


# --------------------------------------------------------------------------- inbound tokens


def verify_with_jwks(teams: FakeTeams, token: str) -> dict[str, Any]:
    """What a bot does (blocking: PyJWKClient fetches with urllib, so run it in a thread)."""
    key = jwt.PyJWKClient(teams.jwks_url).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=APP_ID,
        issuer="https://api.botframework.com",
        options={"require": ["exp", "nbf", "iat", "aud", "iss"]},
    )


async def test_inbound_token_verifies_against_the_jwks(teams: FakeTeams) -> None:
    token = teams.inbound_token()
    claims = await asyncio.to_thread(verify_with_jwks, teams, token)
    assert claims["serviceurl"] == teams.service_url
    assert claims["aud"] == APP_ID and claims["iss"] == "https://api.botframework.com"
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"signed_by": "stranger"}, jwt.PyJWKClientError),  # its kid is not in the JWKS
        ({"expires_in": -600}, jwt.ExpiredSignatureError),
        ({"audience": "someone-else"}, jwt.InvalidAudienceError),
        ({"issuer": "https://evil.example"}, jwt.InvalidIssuerError),
    ],
)
async def test_bad_inbound_tokens_fail_verification(
    teams: FakeTeams, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await asyncio.to_thread(verify_with_jwks, teams, teams.inbound_token(**kwargs))


async def test_a_forgery_fails_even_when_checked_against_the_published_key(
    teams: FakeTeams, http: httpx.AsyncClient
) -> None:
    (key,) = (await http.get(teams.jwks_url)).json()["keys"]
    forged = teams.inbound_token(signed_by="stranger")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, jwt.PyJWK(key).key, algorithms=["RS256"], audience=APP_ID)


async def test_the_teams_sdk_validator_accepts_the_fake_and_rejects_forgeries(
    teams: FakeTeams,
) -> None:
    cloud = with_overrides(PUBLIC, openid_metadata_url=teams.openid_metadata_url)
    validator = TokenValidator.for_service(APP_ID, teams.service_url, cloud=cloud)

    def validate(token: str) -> dict[str, Any]:
        # The SDK's JWKS fetch is blocking I/O: off the loop that serves the fake.
        return asyncio.run(validator.validate_token(token))

    claims = await asyncio.to_thread(validate, teams.inbound_token())
    assert claims["serviceurl"] == teams.service_url
    for bad in (
        teams.inbound_token(signed_by="stranger"),
        teams.inbound_token(service_url="https://elsewhere.example/"),
        teams.inbound_token(expires_in=-600),
    ):
        with pytest.raises(jwt.PyJWTError):
            await asyncio.to_thread(validate, bad)


async def test_send_activity_posts_with_a_bearer_token(teams: FakeTeams) -> None:
    received: list[tuple[dict[str, Any], dict[str, Any]]] = []

    async def bot(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            claims = await asyncio.to_thread(
                verify_with_jwks, teams, header.removeprefix("Bearer ")
            )
        except jwt.PyJWTError:
            return web.json_response({"error": "unauthorized"}, status=401)
        received.append((await request.json(), claims))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/messages", bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    bot_url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/messages"
    try:
        activity = teams.message_activity(CHANNEL, teams.user_post(CHANNEL, ANN, "hi"))
        assert await teams.send_activity(bot_url, activity) == (200, None)
        forged = teams.inbound_token(signed_by="stranger")
        assert await teams.send_activity(bot_url, activity, token=forged) == (
            401,
            {"error": "unauthorized"},
        )
        assert (await teams.send_activity(bot_url, activity, token=None))[0] == 401
    finally:
        await runner.cleanup()
    ((body, claims),) = received
    assert body == activity
    assert claims["serviceurl"] == activity["serviceUrl"]


# --------------------------------------------------------------------------- activity builders

# Fields Teams really sends that the SDK's models do not declare (they land in model_extra).
KNOWN_EXTRAS = {"teamsChannelId", "teamsTeamId", "source", "textFormat"}


def unknown_fields(model: BaseModel) -> set[str]:
    """Extra (undeclared) field names anywhere in a validated model, minus known ones."""
    found = set(model.model_extra or {}) - KNOWN_EXTRAS
    for name in type(model).model_fields:
        value = getattr(model, name)
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, BaseModel):
                found |= unknown_fields(child)
    return found


def validated(activity: dict[str, Any], kind: type[BaseModel]) -> Any:
    model = ActivityTypeAdapter.validate_python(activity)
    assert isinstance(model, kind)
    assert unknown_fields(model) == set()
    # A round trip through the SDK keeps what the fake sent.
    dumped = model.model_dump(by_alias=True, exclude_none=True)
    assert dumped["type"] == activity["type"] and dumped["id"] == activity["id"]
    return model


async def test_channel_message_activities(teams: FakeTeams) -> None:
    root = teams.user_post(CHANNEL, ANN, "Is <this> & that on?", mention_bot=True)
    reply = teams.user_reply(CHANNEL, root, BOB, "Yes")

    first = teams.message_activity(CHANNEL, root)
    model = validated(first, MessageActivity)
    assert first["conversation"]["id"] == f"{CHANNEL};messageid={root}"
    assert first["conversation"]["conversationType"] == "channel"
    assert first["text"] == "<at>leaderbot</at> Is &lt;this&gt; &amp; that on?"
    assert first["from"] == {
        "id": teams.teams[GROUP].members[ANN].bot_framework_id,
        "name": "Ann Owner",
        "aadObjectId": ANN,
    }
    assert first["from"]["id"].startswith("29:")
    assert first["recipient"] == {"id": f"28:{APP_ID}", "name": "leaderbot"}
    assert first["serviceUrl"] == teams.service_url
    assert "replyToId" not in first
    data = first["channelData"]
    assert data["channel"]["id"] == CHANNEL
    assert data["team"] == {"id": teams.teams[GROUP].thread_id, "aadGroupId": GROUP}
    assert data["tenant"]["id"] == TENANT
    assert model.is_recipient_mentioned()
    assert model.get_account_mention(f"28:{APP_ID}") is not None

    second = teams.message_activity(CHANNEL, reply)
    model = validated(second, MessageActivity)
    assert second["conversation"]["id"] == f"{CHANNEL};messageid={root}"
    assert second["replyToId"] == root and second["id"] == reply
    assert not model.is_recipient_mentioned()
    assert second["text"] == "Yes"


async def test_edit_delete_undelete_activities(teams: FakeTeams) -> None:
    root = teams.user_post(CHANNEL, ANN, "Draft")
    reply = teams.user_reply(CHANNEL, root, BOB, "typo")
    teams.user_edit(CHANNEL, reply, "fixed")
    edit = teams.edit_activity(CHANNEL, reply)
    model = validated(edit, MessageUpdateActivity)
    assert model.channel_data.event_type == "editMessage"
    assert edit["text"] == "fixed" and edit["id"] == reply
    assert edit["conversation"]["id"] == f"{CHANNEL};messageid={root}"

    teams.user_delete(CHANNEL, reply)
    gone = teams.delete_activity(CHANNEL, reply)
    model = validated(gone, MessageDeleteActivity)
    assert model.channel_data.event_type == "softDeleteMessage"
    assert "text" not in gone

    teams.user_undelete(CHANNEL, reply)
    back = teams.undelete_activity(CHANNEL, reply)
    model = validated(back, MessageUpdateActivity)
    assert model.channel_data.event_type == "undeleteMessage"
    assert back["text"] == "fixed"


async def test_installation_and_conversation_update_activities(teams: FakeTeams) -> None:
    team = teams.teams[GROUP]
    added = teams.installation_activity(GROUP, "add")
    validated(added, InstalledActivity)
    assert added["action"] == "add" and added["from"]["aadObjectId"] == ANN  # an owner
    assert added["conversation"]["id"] == team.thread_id
    assert added["channelData"]["team"] == {
        "id": team.thread_id,
        "name": "Corporate Leadership Team",
        "aadGroupId": GROUP,
    }
    removed = teams.installation_activity(GROUP, "remove", by=BOB)
    validated(removed, UninstalledActivity)
    assert removed["from"]["aadObjectId"] == BOB

    joined = teams.conversation_update_activity(GROUP, "teamMemberAdded")
    model = validated(joined, ConversationUpdateActivity)
    assert model.channel_data.event_type == "teamMemberAdded"
    assert joined["membersAdded"] == [{"id": f"28:{APP_ID}"}]

    deleted = teams.conversation_update_activity(GROUP, "teamDeleted")
    assert validated(deleted, ConversationUpdateActivity).channel_data.event_type == "teamDeleted"

    new = teams.add_channel(GROUP, name="Budget")
    created = teams.conversation_update_activity(GROUP, "channelCreated", channel_id=new.id)
    model = validated(created, ConversationUpdateActivity)
    assert model.channel_data.event_type == "channelCreated"
    assert created["channelData"]["channel"] == {"id": new.id, "name": "Budget"}


# --------------------------------------------------------------------------- token endpoint


async def test_token_endpoint_issues_tokens_per_scope(
    teams: FakeTeams, http: httpx.AsyncClient
) -> None:
    form = {"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": SECRET}
    response = await http.post(teams.token_url, data={**form, "scope": BOT_FRAMEWORK_SCOPE})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["aud"] == (
        "https://api.botframework.com"
    )
    await http.post(teams.token_url, data={**form, "scope": GRAPH_SCOPE})
    assert teams.tokens_issued(BOT_FRAMEWORK_SCOPE) == 1
    assert teams.tokens_issued(GRAPH_SCOPE) == 1
    assert teams.tokens_issued() == 2
    assert teams.calls("token")[0].form["client_id"] == APP_ID


@pytest.mark.parametrize(
    ("tenant", "overrides", "status", "error", "code"),
    [
        ("other-tenant", {}, 400, "invalid_request", 90002),
        (TENANT, {"client_id": "not-the-app"}, 400, "unauthorized_client", 700016),
        (TENANT, {"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        (TENANT, {"scope": "https://graph.microsoft.com/User.Read"}, 400, "invalid_scope", 1002012),
        (TENANT, {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ],
)
async def test_token_endpoint_errors_are_aadsts_shaped(
    teams: FakeTeams,
    http: httpx.AsyncClient,
    tenant: str,
    overrides: dict[str, str],
    status: int,
    error: str,
    code: int,
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": APP_ID,
        "client_secret": SECRET,
        "scope": BOT_FRAMEWORK_SCOPE,
        **overrides,
    }
    response = await http.post(f"{teams.login_url}/{tenant}/oauth2/v2.0/token", data=form)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}:")
    assert teams.tokens_issued() == 0


# --------------------------------------------------------------------------- connector


async def test_connector_requires_a_bot_framework_token(
    teams: FakeTeams, http: httpx.AsyncClient, graph: dict[str, str]
) -> None:
    url = activities_url(teams, CHANNEL)
    activity = {"type": "message", "text": "hi"}
    assert (await http.post(url, json=activity)).status_code == 401
    assert (await http.post(url, json=activity, headers=graph)).status_code == 401
    stranger = {"Authorization": f"Bearer {teams.inbound_token()}"}  # right shape, wrong issuer
    response = await http.post(url, json=activity, headers=stranger)
    assert response.status_code == 401
    assert response.json() == {"message": "Authorization has been denied for this request."}
    assert teams.messages(CHANNEL) == []


async def test_expired_and_revoked_tokens_are_refused(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    url = activities_url(teams, CHANNEL)
    activity = {"type": "message", "text": "hi"}
    assert (await http.post(url, json=activity, headers=bf)).status_code == 201
    teams.revoke_tokens()
    assert (await http.post(url, json=activity, headers=bf)).status_code == 401
    teams.token_lifetime = -120  # already expired when issued
    stale = await token_for(http, teams, BOT_FRAMEWORK_SCOPE)
    response = await http.post(url, json=activity, headers={"Authorization": f"Bearer {stale}"})
    assert response.status_code == 401


async def test_create_conversation_starts_a_thread(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    body = {
        "isGroup": True,
        "channelData": {"channel": {"id": CHANNEL}},
        "activity": {"type": "message", "text": "Question of the week", "attachments": []},
    }
    response = await http.post(teams.service_url + "v3/conversations", headers=bf, json=body)
    assert response.status_code == 201
    answer = response.json()
    root = answer["activityId"]
    assert answer == {"id": f"{CHANNEL};messageid={root}", "activityId": root}
    assert MESSAGE_ID.match(root)
    (stored,) = teams.messages(CHANNEL)
    assert stored.id == root and stored.is_root and stored.by_bot
    assert stored.activity == body["activity"]
    (call,) = teams.calls("create_conversation")
    assert (call.method, call.path, call.json) == ("POST", "/connector/v3/conversations", body)


async def test_create_conversation_needs_group_channel_and_activity(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    url = teams.service_url + "v3/conversations"
    for body in (
        {"channelData": {"channel": {"id": CHANNEL}}, "activity": {"text": "x"}},
        {"isGroup": True, "activity": {"text": "x"}},
        {"isGroup": True, "channelData": {"channel": {"id": CHANNEL}}},
    ):
        response = await http.post(url, headers=bf, json=body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "BadArgument"


async def test_replies_go_into_the_thread_by_every_documented_route(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    root = await new_thread(http, teams, bf)
    thread_cid = f"{CHANNEL};messageid={root}"
    ids = []
    # 1. the thread's conversation id; 2. reply-to URL; 3. replyToId in the body (Teams SDK).
    for url, activity in (
        (activities_url(teams, thread_cid), {"type": "message", "text": "one"}),
        (activities_url(teams, CHANNEL, root), {"type": "message", "text": "two"}),
        (activities_url(teams, CHANNEL), {"type": "message", "text": "3", "replyToId": root}),
    ):
        response = await http.post(url, headers=bf, json=activity)
        assert response.status_code == 201, response.text
        assert response.json().keys() == {"id"}
        ids.append(response.json()["id"])
    assert all(MESSAGE_ID.match(i) for i in ids)
    assert [int(i) for i in [root, *ids]] == sorted({int(i) for i in [root, *ids]})
    assert [m.id for m in teams.thread(CHANNEL, root)] == [root, *ids]
    assert [m.text for m in teams.thread(CHANNEL, root)[1:]] == ["one", "two", "3"]

    # Typing indicators are accepted and never stored.
    typing = await http.post(activities_url(teams, thread_cid), headers=bf, json={"type": "typing"})
    assert (typing.status_code, typing.json()) == (200, {})
    assert len(teams.thread(CHANNEL, root)) == 4

    # Posting to the bare channel starts another thread; an unknown thread is a 404.
    response = await http.post(activities_url(teams, CHANNEL), headers=bf, json={"text": "new"})
    assert teams.message(CHANNEL, response.json()["id"]).is_root
    missing = await http.post(activities_url(teams, f"{CHANNEL};messageid=1"), headers=bf, json={})
    assert missing.status_code == 404


async def test_uninstalled_team_and_unknown_channel(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str], graph: dict[str, str]
) -> None:
    teams.uninstall(GROUP)
    response = await http.post(
        activities_url(teams, CHANNEL), headers=bf, json={"type": "message", "text": "hi"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "BotNotInConversationRoster"
    graph_read = await http.get(graph_messages_url(teams), headers=graph)
    assert graph_read.status_code == 403
    assert graph_read.json()["error"]["code"] == "Forbidden"

    unknown = activities_url(teams, "19:nope@thread.tacv2")
    response = await http.post(unknown, headers=bf, json={"type": "message", "text": "hi"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ConversationNotFound"
    teams.install(GROUP)
    assert (await http.get(graph_messages_url(teams), headers=graph)).status_code == 200


async def test_update_and_delete_own_messages_only(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str], graph: dict[str, str]
) -> None:
    root = await new_thread(http, teams, bf, "v1")
    url = activities_url(teams, f"{CHANNEL};messageid={root}", root)
    response = await http.put(url, headers=bf, json={"type": "message", "text": "v2"})
    assert (response.status_code, response.json()) == (200, {"id": root})
    message = teams.message(CHANNEL, root)
    assert message.text == "v2" and message.activity == {"type": "message", "text": "v2"}
    got = (await http.get(graph_messages_url(teams, root), headers=graph)).json()
    assert got["lastEditedDateTime"] is not None and got["body"]["content"] == "v2"

    staff = teams.user_reply(CHANNEL, root, BOB, "mine")
    staff_url = activities_url(teams, CHANNEL, staff)
    assert (await http.put(staff_url, headers=bf, json={"text": "x"})).status_code == 403
    assert (await http.delete(staff_url, headers=bf)).status_code == 403

    response = await http.delete(url, headers=bf)
    assert (response.status_code, response.content) == (200, b"")
    got = (await http.get(graph_messages_url(teams, root), headers=graph)).json()
    assert got["deletedDateTime"] is not None and got["body"]["content"] == ""
    assert (await http.delete(url, headers=bf)).status_code == 404


async def test_conversation_members_and_paged_members(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    base = f"{teams.service_url}v3/conversations/{CHANNEL}"
    members = (await http.get(base + "/members", headers=bf)).json()
    assert [m["aadObjectId"] for m in members] == [ANN, BOB]
    assert members[0]["id"].startswith("29:") and members[0]["name"] == "Ann Owner"
    first = (await http.get(base + "/pagedmembers?pageSize=1", headers=bf)).json()
    assert [m["aadObjectId"] for m in first["members"]] == [ANN]
    token = first["continuationToken"]
    # The Teams SDK spells the path pagedMembers.
    rest = await http.get(
        base + "/pagedMembers", params={"pageSize": 1, "continuationToken": token}, headers=bf
    )
    assert [m["aadObjectId"] for m in rest.json()["members"]] == [BOB]
    assert "continuationToken" not in rest.json()


# --------------------------------------------------------------------------- Graph


async def test_graph_requires_a_graph_token(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    response = await http.get(f"{teams.graph_url}teams/{GROUP}/channels", headers=bf)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_graph_channels_and_members(
    teams: FakeTeams, http: httpx.AsyncClient, graph: dict[str, str]
) -> None:
    channels = (await http.get(f"{teams.graph_url}teams/{GROUP}/channels", headers=graph)).json()
    assert [(c["id"], c["displayName"]) for c in channels["value"]] == [
        (teams.teams[GROUP].thread_id, "General"),
        (CHANNEL, "Leadership"),
    ]
    members = (await http.get(f"{teams.graph_url}teams/{GROUP}/members", headers=graph)).json()
    assert [(m["userId"], m["displayName"], m["roles"]) for m in members["value"]] == [
        (ANN, "Ann Owner", ["owner"]),
        (BOB, "Bob Member", []),
    ]
    assert members["value"][0]["@odata.type"] == "#microsoft.graph.aadUserConversationMember"
    unknown = await http.get(f"{teams.graph_url}teams/no-such-group/channels", headers=graph)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NotFound"


async def follow(
    http: httpx.AsyncClient, url: str, headers: dict[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """Every item of a Graph collection, following @odata.nextLink; and how many pages."""
    items: list[dict[str, Any]] = []
    pages = 0
    next_url: str | None = url
    while next_url:
        response = await http.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        pages += 1
        items += response.json()["value"]
        next_url = response.json().get("@odata.nextLink")
    return items, pages


async def test_graph_messages_page_newest_first_with_absolute_next_links(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str], graph: dict[str, str]
) -> None:
    roots = [await new_thread(http, teams, bf, f"post {n}") for n in range(5)]
    first = (await http.get(graph_messages_url(teams) + "?$top=2", headers=graph)).json()
    assert first["@odata.nextLink"].startswith(teams.graph_url)
    assert [m["id"] for m in first["value"]] == roots[::-1][:2]
    items, pages = await follow(http, graph_messages_url(teams) + "?$top=2", graph)
    assert [m["id"] for m in items] == roots[::-1] and pages == 3
    too_big = await http.get(graph_messages_url(teams) + "?$top=51", headers=graph)
    assert too_big.status_code == 400


async def test_graph_chat_message_shape_for_bot_cards(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str], graph: dict[str, str]
) -> None:
    root = await new_thread(http, teams, bf, "outbox-key-42 Weekly question")
    message = (await http.get(graph_messages_url(teams, root), headers=graph)).json()
    assert message["id"] == root and message["replyToId"] is None
    assert message["messageType"] == "message" and message["deletedDateTime"] is None
    assert message["createdDateTime"].endswith("Z")
    assert message["from"]["user"] is None
    assert message["from"]["application"]["id"] == APP_ID
    assert message["from"]["application"]["displayName"] == "leaderbot"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    assert isinstance(attachment["content"], str)
    assert json.loads(attachment["content"])["body"][0]["text"] == "outbox-key-42 Weekly question"
    assert "outbox-key-42" in attachment["content"]  # findable by what the card says
    assert message["body"]["contentType"] == "html"
    assert f'<attachment id="{attachment["id"]}"></attachment>' in message["body"]["content"]
    stored = teams.message(CHANNEL, root)
    assert stored.attachments[0]["content"]["type"] == "AdaptiveCard"


async def test_graph_replies_reflect_staff_activity(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str], graph: dict[str, str]
) -> None:
    root = await new_thread(http, teams, bf)
    ann = teams.user_reply(CHANNEL, root, ANN, "Ann's answer", mention_bot=True)
    bob = teams.user_reply(CHANNEL, root, BOB, "Bob <3")
    gone = teams.user_reply(CHANNEL, root, BOB, "oops")
    teams.user_edit(CHANNEL, ann, "Ann's better answer")
    teams.user_delete(CHANNEL, gone)

    replies, pages = await follow(http, graph_messages_url(teams, root, "replies?$top=2"), graph)
    assert pages == 2
    # Newest modified first: the deletion, then the edit, then Bob's untouched reply.
    assert [r["id"] for r in replies] == [gone, ann, bob]
    by_id = {r["id"]: r for r in replies}
    assert by_id[ann]["body"]["content"] == (
        '<p><at id="0">leaderbot</at> Ann\'s better answer</p>'
    )
    assert by_id[ann]["mentions"][0]["mentioned"]["application"]["id"] == APP_ID
    assert by_id[ann]["lastEditedDateTime"] is not None
    assert by_id[bob]["body"]["content"] == "<p>Bob &lt;3</p>"
    assert by_id[bob]["from"]["user"] == {
        "@odata.type": "#microsoft.graph.teamworkUserIdentity",
        "id": BOB,
        "displayName": "Bob Member",
        "userIdentityType": "aadUser",
        "tenantId": TENANT,
    }
    assert all(r["replyToId"] == root for r in replies)
    assert by_id[gone]["deletedDateTime"] is not None and by_id[gone]["body"]["content"] == ""

    teams.user_undelete(CHANNEL, gone)
    one = (await http.get(graph_messages_url(teams, root, "replies", gone), headers=graph)).json()
    assert one["deletedDateTime"] is None and one["body"]["content"] == "<p>oops</p>"
    # A reply is not a channel message of its own.
    assert (await http.get(graph_messages_url(teams, gone), headers=graph)).status_code == 404
    # Staff roots appear in the channel list too; thread() has everything in order.
    assert [m.id for m in teams.thread(CHANNEL, root)] == [root, ann, bob, gone]
    assert [m.id for m in teams.messages(CHANNEL)] == [root]


# --------------------------------------------------------------------------- faults


async def test_rate_limit_answers_429_with_retry_after_and_stores_nothing(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    teams.inject("create_conversation", RateLimit(retry_after=7))
    body = {
        "isGroup": True,
        "channelData": {"channel": {"id": CHANNEL}},
        "activity": {"type": "message", "text": "hi"},
    }
    response = await http.post(teams.service_url + "v3/conversations", headers=bf, json=body)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert teams.messages(CHANNEL) == []
    assert teams.calls("create_conversation")[0].fault == "RateLimit"
    ok = await http.post(teams.service_url + "v3/conversations", headers=bf, json=body)
    assert ok.status_code == 201 and len(teams.messages(CHANNEL)) == 1


@pytest.mark.parametrize("status", [412, 500, 502, 503, 504])
async def test_http_errors_store_nothing(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str], status: int
) -> None:
    teams.inject("send_activity", HttpError(status))
    response = await http.post(activities_url(teams, CHANNEL), headers=bf, json={"text": "hi"})
    assert response.status_code == status
    assert "error" in response.json()
    assert teams.messages(CHANNEL) == []


async def test_faults_on_graph_and_token_use_each_service_error_shape(
    teams: FakeTeams, http: httpx.AsyncClient, graph: dict[str, str]
) -> None:
    for operation in ("graph_messages", "graph_replies", "graph_members", "graph_channels"):
        teams.inject(operation, RateLimit(retry_after=3))
    root = teams.user_post(CHANNEL, ANN, "root")
    for url in (
        graph_messages_url(teams),
        graph_messages_url(teams, root, "replies"),
        f"{teams.graph_url}teams/{GROUP}/members",
        f"{teams.graph_url}teams/{GROUP}/channels",
    ):
        response = await http.get(url, headers=graph)
        assert response.status_code == 429 and response.headers["Retry-After"] == "3"
        assert response.json()["error"]["code"] == "TooManyRequests"
        assert (await http.get(url, headers=graph)).status_code == 200  # one fault per call

    teams.inject("token", HttpError(503))
    form = {"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": SECRET}
    response = await http.post(teams.token_url, data={**form, "scope": GRAPH_SCOPE})
    assert response.status_code == 503 and response.json()["error"] == "temporarily_unavailable"


async def test_faults_are_consumed_in_order(
    teams: FakeTeams, http: httpx.AsyncClient, graph: dict[str, str]
) -> None:
    teams.inject("graph_messages", Pass(), HttpError(502))
    url = graph_messages_url(teams)
    statuses = [(await http.get(url, headers=graph)).status_code for _ in range(3)]
    assert statuses == [200, 502, 200]
    assert [c.fault for c in teams.calls("graph_messages")] == ["Pass", "HttpError", None]
    assert teams.pending_faults("graph_messages") == 0


async def test_drop_before_accept_stores_nothing(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str]
) -> None:
    teams.inject("send_activity", DropBeforeAccept())
    with pytest.raises(httpx.TransportError):
        await http.post(activities_url(teams, CHANNEL), headers=bf, json={"text": "hi"})
    assert teams.messages(CHANNEL) == []
    assert teams.calls("send_activity")[0].status is None


async def test_drop_after_accept_stores_then_hangs_up(
    teams: FakeTeams, http: httpx.AsyncClient, bf: dict[str, str], graph: dict[str, str]
) -> None:
    root = await new_thread(http, teams, bf)
    teams.inject("send_activity", DropAfterAccept())
    with pytest.raises(httpx.TransportError):
        await http.post(
            activities_url(teams, f"{CHANNEL};messageid={root}"),
            headers=bf,
            json={"type": "message", "text": "did it land?", "attachments": [card("k-7")]},
        )
    (reply,) = teams.thread(CHANNEL, root)[1:]
    assert reply.text == "did it land?"
    # The look-up a careful sender makes finds it through Graph.
    replies, _ = await follow(http, graph_messages_url(teams, root, "replies"), graph)
    assert any("k-7" in a["content"] for r in replies for a in r["attachments"])


async def test_delay_lets_a_post_land_after_the_client_gave_up(
    teams: FakeTeams, bf: dict[str, str]
) -> None:
    teams.inject("send_activity", Delay(0.5))
    async with httpx.AsyncClient(timeout=0.05) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.post(activities_url(teams, CHANNEL), headers=bf, json={"text": "hi"})
    await teams.wait_until(lambda: len(teams.messages(CHANNEL)) == 1)
    assert teams.calls("send_activity")[0].fault == "Delay"


# --------------------------------------------------------------------------- the Teams SDK


async def test_the_teams_sdk_clients_work_against_the_fake(
    teams: FakeTeams, http: httpx.AsyncClient
) -> None:
    """The SDK the bot uses must be able to talk to the fake unchanged (bar the URLs).
    The token comes from our own request: the SDK's MSAL path refuses http authorities."""
    from microsoft_teams.api import ApiClient, CreateConversationParams, MessageActivityInput
    from microsoft_teams.common.http import ClientOptions

    token = await token_for(http, teams, BOT_FRAMEWORK_SCOPE)
    client = ApiClient(teams.service_url, ClientOptions(token=token, timeout=5))
    conversations = client.conversations
    created = await conversations.create(
        CreateConversationParams(
            channel_data={"channel": {"id": CHANNEL}},
            activity=MessageActivityInput(text="Question"),
            **{"isGroup": True},
        )
    )
    root = created.activity_id
    assert root is not None and created.id == f"{CHANNEL};messageid={root}"
    reply = await conversations.create_activity(
        created.id, MessageActivityInput(text="in the thread")
    )
    also = await conversations.reply_to_activity(
        CHANNEL, root, MessageActivityInput(text="a reply to the root")
    )
    await conversations.update_activity(created.id, reply.id, MessageActivityInput(text="edited"))
    await conversations.delete_activity(created.id, also.id)
    assert [m.text for m in teams.thread(CHANNEL, root)] == [
        "Question",
        "edited",
        "a reply to the root",
    ]
    assert teams.message(CHANNEL, also.id).deleted

    assert [m.aad_object_id for m in await conversations.get_members(CHANNEL)] == [ANN, BOB]
    ann_id = teams.teams[GROUP].members[ANN].bot_framework_id
    assert (await conversations.get_member_by_id(CHANNEL, ann_id)).name == "Ann Owner"
    page = await conversations.get_paged_members(CHANNEL, page_size=1)
    assert page.continuation_token is not None and len(page.members) == 1
