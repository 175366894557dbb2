"""A stateful fake of Microsoft Teams for the bot, served by aiohttp on 127.0.0.1:0.

One aiohttp app serves everything the bot talks to, each under its own base URL:

* `login_url`: the Entra ID token endpoint, `POST {login_url}/{tenant}/oauth2/v2.0/token`
  (client credentials; scopes https://api.botframework.com/.default and
  https://graph.microsoft.com/.default). Errors are AADSTS-shaped.
* `openid_metadata_url`: Bot Framework's OpenID metadata; `jwks_url` is the same URL with
  `/openidconfiguration` replaced by `/keys`, as the Teams SDK derives it.
* `service_url`: the Bot Framework connector (v3 REST): new channel threads, replies, updates,
  deletes, conversation members. Every call needs an access token this fake issued for the
  Bot Framework scope.
* `graph_url`: Microsoft Graph v1.0: a team's channels and members, channel messages and replies
  (paged with `$top` and an absolute `@odata.nextLink`). Needs a Graph-scope token.

And it plays the Bot Framework side of inbound traffic: it mints RS256 activity tokens
(`inbound_token`), builds activities from its stored state (`message_activity` …) and POSTs them
to the bot (`send_activity`).

Tests set up teams, channels and members (`add_team`, `add_channel`, `add_member`), act as staff
(`user_post`, `user_reply`, `user_edit`, `user_delete`, `user_undelete`), then assert on what the
bot posted (`messages`, `thread`) and sent (`calls`). Faults are queued per operation and consumed
one per call, in the style of tests/fakes/slack_api.py:

    teams.inject("send_activity", RateLimit(retry_after=2), DropAfterAccept())

Operations: token, openid_metadata, jwks, create_conversation, send_activity (a new activity,
including a reply), update_activity, delete_activity, get_members, get_member, get_paged_members,
graph_channels, graph_messages, graph_message, graph_replies, graph_reply, graph_members.

Behaviour worth knowing (all modelled on the real services):
* Message ids are epoch milliseconds as strings, strictly increasing across the whole fake.
* A channel of a team where the app is not installed answers 403 BotNotInConversationRoster on
  the connector and 403 Forbidden on Graph (the resource-specific consent went with the app);
  an unknown channel or team answers 404.
* Graph lists messages newest-modified first; deleted messages stay listed, with
  `deletedDateTime` set and an empty body. Adaptive Card attachments come back with `content` as
  a JSON *string*, so a card's text is findable by substring.

Not modelled: personal and group chats, meetings, proactive installation, message reactions,
invoke activities and their responses, Graph change notifications and delta queries, `$expand`,
`$select`, `$filter`, Graph's throttling by itself (inject RateLimit instead), the connector's
own rate limits (7 messages/s per conversation; inject RateLimit), message size limits, files,
token caching semantics beyond expiry, x5c certificates in the JWKS, and sovereign clouds.
A bot's text is stored and shown in Graph verbatim (Teams would render markdown to HTML), and
activity types other than message (and typing, accepted and dropped) are refused with 400.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import itertools
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import jwt
from aiohttp import web
from multidict import CIMultiDict

from tests.fakes import deadline, describe
from tests.fakes import teams_activities as activities
from tests.fakes.teams_activities import BotIdentity, Person, Place, iso_millis
from tests.fakes.teams_tokens import (
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_SCOPE,
    GRAPH_SCOPE,
    SCOPE_AUDIENCES,
    SigningKey,
    access_token_claims,
    inbound_claims,
    signing_key,
)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
GRAPH_MAX_TOP = 50  # Graph refuses larger pages for channel messages and replies
BOT_TIMEOUT = 15.0  # Bot Framework gives up on a bot that takes longer to answer an activity


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Pass:
    """Answer normally (to place a fault on a later call: inject(op, Pass(), RateLimit()))."""


@dataclass(frozen=True)
class RateLimit:
    """HTTP 429 with Retry-After (seconds); nothing is stored."""

    retry_after: int = 1


@dataclass(frozen=True)
class HttpError:
    """An error status (500, 502, 503, 504, 412 …) with the service's JSON error body;
    nothing is stored."""

    status: int = 500


@dataclass(frozen=True)
class DropBeforeAccept:
    """The connection is closed before anything is done (a reset): nothing is stored."""


@dataclass(frozen=True)
class DropAfterAccept:
    """The call is carried out (a message is stored), then the connection is closed without a
    response: the sender cannot tell whether the post landed."""


@dataclass(frozen=True)
class Delay:
    """Wait this long, then carry the call out and answer normally. With a client timeout
    shorter than this, the post lands after the client gave up."""

    seconds: float


Fault = Pass | RateLimit | HttpError | DropBeforeAccept | DropAfterAccept | Delay


class ApiError(Exception):
    """Raised by a handler: answer `status` with this JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


# --------------------------------------------------------------------------- state


@dataclass
class Member:
    aad_object_id: str
    name: str
    owner: bool
    email: str

    @property
    def bot_framework_id(self) -> str:
        """A stable Bot Framework id ("29:1…") derived from the AAD object id."""
        digest = hashlib.sha256(self.aad_object_id.encode()).digest()
        return "29:1" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:40]

    def person(self) -> Person:
        return Person(id=self.bot_framework_id, aad_object_id=self.aad_object_id, name=self.name)


@dataclass
class Message:
    """A channel message (a thread root when root_id == id), by a user or by the bot."""

    id: str
    channel_id: str
    root_id: str
    created_ms: int
    modified_ms: int
    text: str  # users: plain text as typed; the bot: the activity's text as sent
    author_id: str  # AAD object id of a user, or the bot's app id
    author_name: str
    by_bot: bool
    mentions_bot: bool = False
    attachments: list[dict[str, Any]] = field(default_factory=list)  # Bot Framework shape
    activity: dict[str, Any] | None = None  # the bot's JSON, last version sent
    edited_ms: int | None = None
    deleted_ms: int | None = None

    @property
    def is_root(self) -> bool:
        return self.id == self.root_id

    @property
    def deleted(self) -> bool:
        return self.deleted_ms is not None


@dataclass
class Channel:
    id: str
    name: str
    group_id: str
    created_ms: int
    messages: list[Message] = field(default_factory=list)


@dataclass
class Team:
    group_id: str
    name: str
    thread_id: str  # "19:…@thread.tacv2": channelData.team.id, and the General channel's id
    installed: bool
    channels: dict[str, Channel] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)


@dataclass
class Call:
    """One request, as received."""

    operation: str
    method: str
    path: str
    query: dict[str, str]
    json: Any
    form: dict[str, str]
    headers: CIMultiDict[str]
    status: int | None = None
    fault: str | None = None


Handler = Callable[[web.Request, "Call"], Awaitable[tuple[int, Any]]]


# --------------------------------------------------------------------------- helpers


def _thread_id() -> str:
    return f"19:{uuid.uuid4().hex}@thread.tacv2"


def _split_conversation_id(conversation_id: str) -> tuple[str, str | None]:
    """'19:…@thread.tacv2;messageid=123' -> ('19:…@thread.tacv2', '123')."""
    channel_id, _, rest = conversation_id.partition(";")
    root_id = rest.removeprefix("messageid=") if rest.startswith("messageid=") else None
    return channel_id, root_id


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _graph_error(400, "BadRequest", "Invalid skip token.") from exc


def _graph_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(
        status,
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        },
    )


def _connector_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, {"error": {"code": code, "message": message}})


def _aadsts_error(status: int, error: str, code: int, description: str) -> ApiError:
    return ApiError(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


def _family(operation: str) -> Literal["token", "graph", "connector"]:
    if operation == "token":
        return "token"
    if operation.startswith("graph_") or operation in ("openid_metadata", "jwks"):
        return "graph"
    return "connector"


def _fault_body(operation: str, status: int) -> dict[str, Any]:
    """The error body each service sends for a throttle or a server error."""
    family = _family(operation)
    if family == "token":
        return _aadsts_error(
            status, "temporarily_unavailable", 50001, "The service is temporarily unavailable."
        ).body
    if family == "graph":
        code = "TooManyRequests" if status == 429 else "UnknownError"
        return _graph_error(status, code, "Fault injected by the test.").body
    code = "Throttled" if status == 429 else "ServiceError"
    return _connector_error(status, code, "Fault injected by the test.").body


# --------------------------------------------------------------------------- the fake


class FakeTeams:
    """The fake server. Use `async with FakeTeams(...) as teams:` or `await start()` / `stop()`."""

    def __init__(
        self,
        *,
        app_id: str = "00000000-0000-0000-0000-00000000b07a",
        app_password: str = "fake-client-secret",
        tenant_id: str = "00000000-0000-0000-0000-0000000c0c11",
        bot_name: str = "leaderbot",
        graph_page_size: int = 20,
        token_lifetime: int = 3599,
    ) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.tenant_id = tenant_id
        self.bot = BotIdentity(app_id=app_id, name=bot_name)
        self.graph_page_size = graph_page_size  # Graph's default $top for messages is 20
        self.token_lifetime = token_lifetime

        # Bot Framework signs inbound activities with `_activity_key` (published in the JWKS);
        # `_stranger_key` is a forger's; `_aad_key` signs the access tokens the fake issues.
        self._activity_key: SigningKey = signing_key("bot-framework")
        self._stranger_key: SigningKey = signing_key("stranger")
        self._aad_key: SigningKey = signing_key("entra-id")
        self._token_generation = 0
        self._tokens_issued: dict[str, int] = defaultdict(int)

        self.teams: dict[str, Team] = {}
        self._channels: dict[str, Channel] = {}
        self._calls: list[Call] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._last_id_ms = 0
        self._attachment_ids = itertools.count(1)
        self._changed = asyncio.Event()

        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ------------------------------------------------------------------ lifecycle and URLs

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeTeams is not started")
        return f"http://127.0.0.1:{self.port}/"

    @property
    def login_url(self) -> str:
        """TEAMS_LOGIN_URL: the token URL is f"{login_url}/{tenant}/oauth2/v2.0/token"."""
        return self.url + "login"

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def openid_metadata_url(self) -> str:
        """TEAMS_OPENID_METADATA_URL."""
        return self.url + "botframework/v1/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return self.openid_metadata_url.removesuffix("/openidconfiguration") + "/keys"

    @property
    def service_url(self) -> str:
        """TEAMS_SERVICE_URL: the connector base, ending in '/'."""
        return self.url + "connector/"

    @property
    def graph_url(self) -> str:
        """TEAMS_GRAPH_URL, ending in '/v1.0/'."""
        return self.url + "graph/v1.0/"

    async def start(self) -> FakeTeams:
        app = web.Application()
        self._routes(app.router)
        # Calls still in flight (a Delay fault) get a moment to finish, then are cancelled.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTeams:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _routes(self, router: web.UrlDispatcher) -> None:
        conv = "/connector/v3/conversations/{cid}"
        graph_team = "/graph/v1.0/teams/{gid}"
        graph_msgs = graph_team + "/channels/{chid}/messages"
        table: list[tuple[str, str, str, Handler]] = [
            ("POST", "/login/{tenant}/oauth2/v2.0/token", "token", self._h_token),
            (
                "GET",
                "/botframework/v1/.well-known/openidconfiguration",
                "openid_metadata",
                self._h_openid,
            ),
            ("GET", "/botframework/v1/.well-known/keys", "jwks", self._h_jwks),
            ("POST", "/connector/v3/conversations", "create_conversation", self._h_create),
            ("POST", conv + "/activities", "send_activity", self._h_send),
            ("POST", conv + "/activities/{aid}", "send_activity", self._h_send),
            ("PUT", conv + "/activities/{aid}", "update_activity", self._h_update),
            ("DELETE", conv + "/activities/{aid}", "delete_activity", self._h_delete),
            ("GET", conv + "/members", "get_members", self._h_members),
            ("GET", conv + "/members/{member}", "get_member", self._h_member),
            # The REST docs spell it pagedmembers; the Teams SDK sends pagedMembers.
            ("GET", conv + "/pagedmembers", "get_paged_members", self._h_paged_members),
            ("GET", conv + "/pagedMembers", "get_paged_members", self._h_paged_members),
            ("GET", graph_team + "/channels", "graph_channels", self._h_graph_channels),
            ("GET", graph_msgs, "graph_messages", self._h_graph_messages),
            ("GET", graph_msgs + "/{mid}", "graph_message", self._h_graph_message),
            ("GET", graph_msgs + "/{mid}/replies", "graph_replies", self._h_graph_replies),
            ("GET", graph_msgs + "/{mid}/replies/{rid}", "graph_reply", self._h_graph_reply),
            ("GET", graph_team + "/members", "graph_members", self._h_graph_members),
        ]
        for method, path, operation, handler in table:
            router.add_route(method, path, self._endpoint(operation, handler))

    # ------------------------------------------------------------------ state set-up

    def add_team(
        self,
        group_id: str | None = None,
        name: str = "Leadership",
        *,
        installed: bool = True,
        general_channel_id: str | None = None,
    ) -> Team:
        """A team with its General channel (whose id is the team's thread id, as in Teams)."""
        group_id = group_id or str(uuid.uuid4())
        if group_id in self.teams:
            raise ValueError(f"team {group_id} exists")
        thread_id = general_channel_id or _thread_id()
        team = Team(group_id=group_id, name=name, thread_id=thread_id, installed=installed)
        self.teams[group_id] = team
        self.add_channel(group_id, thread_id, "General")
        return team

    def add_channel(self, group_id: str, channel_id: str | None = None, name: str = "") -> Channel:
        team = self._team(group_id)
        channel_id = channel_id or _thread_id()
        if not (channel_id.startswith("19:") and "@thread." in channel_id):
            raise ValueError(f"not a Teams channel id: {channel_id!r}")
        if channel_id in self._channels:
            raise ValueError(f"channel {channel_id} exists")
        channel = Channel(
            id=channel_id, name=name or channel_id, group_id=group_id, created_ms=self._next_ms()
        )
        team.channels[channel_id] = channel
        self._channels[channel_id] = channel
        return channel

    def add_member(
        self,
        group_id: str,
        aad_object_id: str | None = None,
        name: str = "Staff Member",
        *,
        owner: bool = False,
        email: str | None = None,
    ) -> Member:
        team = self._team(group_id)
        aad_object_id = aad_object_id or str(uuid.uuid4())
        slug = name.lower().replace(" ", ".")
        member = Member(aad_object_id, name, owner, email or f"{slug}@council.example")
        team.members[aad_object_id] = member
        return member

    def install(self, group_id: str) -> None:
        self._team(group_id).installed = True

    def uninstall(self, group_id: str) -> None:
        """The app leaves the team: connector posts and Graph reads there now answer 403."""
        self._team(group_id).installed = False

    # ------------------------------------------------------------------ staff activity

    def user_post(
        self, channel_id: str, user_id: str, text: str, *, mention_bot: bool = False
    ) -> str:
        """A member starts a new thread; returns its message id."""
        return self._user_message(channel_id, None, user_id, text, mention_bot).id

    def user_reply(
        self, channel_id: str, root_id: str, user_id: str, text: str, *, mention_bot: bool = False
    ) -> str:
        """A member replies in a thread; returns the reply's message id."""
        return self._user_message(channel_id, root_id, user_id, text, mention_bot).id

    def user_edit(self, channel_id: str, message_id: str, text: str) -> None:
        message = self._message(channel_id, message_id)
        message.text = text
        message.edited_ms = message.modified_ms = self._next_ms()
        self._notify()

    def user_delete(self, channel_id: str, message_id: str) -> None:
        """A soft delete: Graph keeps listing the message, with deletedDateTime and no body."""
        message = self._message(channel_id, message_id)
        message.deleted_ms = message.modified_ms = self._next_ms()
        self._notify()

    def user_undelete(self, channel_id: str, message_id: str) -> None:
        message = self._message(channel_id, message_id)
        message.deleted_ms = None
        message.modified_ms = self._next_ms()
        self._notify()

    def _user_message(
        self, channel_id: str, root_id: str | None, user_id: str, text: str, mention_bot: bool
    ) -> Message:
        channel = self._channel(channel_id)
        member = self._team(channel.group_id).members.get(user_id)
        if member is None:
            raise KeyError(f"{user_id} is not a member of team {channel.group_id}")
        if root_id is not None:
            self._root(channel, root_id)
        mid = self._next_id()
        message = Message(
            id=mid,
            channel_id=channel_id,
            root_id=root_id or mid,
            created_ms=int(mid),
            modified_ms=int(mid),
            text=text,
            author_id=member.aad_object_id,
            author_name=member.name,
            by_bot=False,
            mentions_bot=mention_bot,
        )
        channel.messages.append(message)
        self._notify()
        return message

    # ------------------------------------------------------------------ inspection

    def messages(self, channel_id: str, *, by_bot: bool | None = True) -> list[Message]:
        """Messages in a channel, oldest first: by default only what the bot posted (roots and
        replies); by_bot=None for everything, False for staff messages."""
        stored = self._channel(channel_id).messages
        return [m for m in stored if by_bot is None or m.by_bot == by_bot]

    def thread(self, channel_id: str, root_id: str) -> list[Message]:
        """A thread, root first, then replies oldest first (by the bot and by staff)."""
        channel = self._channel(channel_id)
        return [m for m in channel.messages if m.root_id == root_id]

    def message(self, channel_id: str, message_id: str) -> Message:
        return self._message(channel_id, message_id)

    def calls(self, operation: str | None = None) -> list[Call]:
        return [c for c in self._calls if operation is None or c.operation == operation]

    def clear_calls(self) -> None:
        self._calls.clear()

    def tokens_issued(self, scope: str | None = None) -> int:
        """Access tokens issued, for one scope or all."""
        if scope is not None:
            return self._tokens_issued[scope]
        return sum(self._tokens_issued.values())

    def revoke_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401), as after a secret
        rotation: the bot must fetch a new one."""
        self._token_generation += 1

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait, without polling, until `predicate()` holds; it is re-checked after every
        state change and every request the fake finishes; fail with an AssertionError naming
        the condition if it has not come within `within` s."""
        async with deadline(within, describe(predicate)):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    # ------------------------------------------------------------------ faults

    def inject(self, operation: str, *faults: Fault) -> None:
        """Queue faults for an operation; each call to it takes the next one."""
        self._faults[operation].extend(faults)

    def pending_faults(self, operation: str) -> int:
        return len(self._faults.get(operation, ()))

    def clear_faults(self) -> None:
        self._faults.clear()

    # ------------------------------------------------------------------ inbound: tokens

    def inbound_token(
        self,
        *,
        service_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: int = 3600,
        signed_by: Literal["fake", "stranger"] = "fake",
    ) -> str:
        """A Bot Framework -> bot JWT. signed_by="stranger" is a forgery: a key not in the
        JWKS (with its own kid). A negative expires_in gives an expired token."""
        claims = inbound_claims(
            app_id=self.app_id,
            service_url=service_url or self.service_url,
            audience=audience,
            issuer=issuer,
            expires_in=expires_in,
        )
        key = self._activity_key if signed_by == "fake" else self._stranger_key
        return key.sign(claims)

    async def send_activity(
        self,
        bot_url: str,
        activity: dict[str, Any],
        *,
        token: str | Literal["auto"] | None = "auto",
    ) -> tuple[int, Any]:
        """POST an activity to the bot as Bot Framework does. token="auto" mints a valid one
        for the activity's serviceUrl; None sends no Authorization header.
        Returns (status, body): the body parsed as JSON when it is JSON, else text."""
        if token == "auto":
            token = self.inbound_token(service_url=activity.get("serviceUrl"))
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=BOT_TIMEOUT)) as session,
            session.post(bot_url, json=activity, headers=headers) as response,
        ):
            raw = await response.text()
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            return response.status, body

    # ------------------------------------------------------------------ inbound: activities

    def message_activity(self, channel_id: str, message_id: str) -> dict[str, Any]:
        """The `message` activity Teams sends for a stored staff message (root or reply);
        mentions the bot if the message did (user_post/user_reply mention_bot=True)."""
        message = self._message(channel_id, message_id)
        return activities.message(
            self._place(channel_id),
            self.bot,
            self._person(message),
            message_id=message.id,
            root_id=message.root_id,
            text=message.text,
            mentions_bot=message.mentions_bot,
            at_ms=message.created_ms,
        )

    def edit_activity(self, channel_id: str, message_id: str) -> dict[str, Any]:
        """messageUpdate / editMessage for a stored message's current text."""
        return self._update_activity(channel_id, message_id, "editMessage")

    def undelete_activity(self, channel_id: str, message_id: str) -> dict[str, Any]:
        """messageUpdate / undeleteMessage, carrying the restored text."""
        return self._update_activity(channel_id, message_id, "undeleteMessage")

    def delete_activity(self, channel_id: str, message_id: str) -> dict[str, Any]:
        """messageDelete / softDeleteMessage."""
        message = self._message(channel_id, message_id)
        return activities.message_delete(
            self._place(channel_id),
            self.bot,
            self._person(message),
            message_id=message.id,
            root_id=message.root_id,
            at_ms=message.deleted_ms or self._now_ms(),
        )

    def installation_activity(
        self,
        group_id: str,
        action: Literal["add", "remove"] = "add",
        *,
        by: str | None = None,
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """installationUpdate for a team (builds it only: call install/uninstall for state).
        `by` is the installing member's AAD id (default: the first owner or member)."""
        return activities.installation_update(
            self._team_place(group_id, channel_id),
            self.bot,
            self._actor(group_id, by),
            action=action,
            at_ms=self._now_ms(),
        )

    def conversation_update_activity(
        self,
        group_id: str,
        event_type: activities.ConversationEvent,
        *,
        by: str | None = None,
        channel_id: str | None = None,
    ) -> dict[str, Any]:
        """conversationUpdate: teamMemberAdded (the bot), teamDeleted, or channelCreated
        (pass the channel_id of a channel added with add_channel)."""
        return activities.conversation_update(
            self._team_place(group_id, channel_id),
            self.bot,
            self._actor(group_id, by),
            event_type=event_type,
            at_ms=self._now_ms(),
        )

    def _update_activity(
        self,
        channel_id: str,
        message_id: str,
        event_type: Literal["editMessage", "undeleteMessage"],
    ) -> dict[str, Any]:
        message = self._message(channel_id, message_id)
        return activities.message_update(
            self._place(channel_id),
            self.bot,
            self._person(message),
            message_id=message.id,
            root_id=message.root_id,
            text=message.text,
            mentions_bot=message.mentions_bot,
            event_type=event_type,
            at_ms=message.modified_ms,
        )

    def _place(self, channel_id: str) -> Place:
        channel = self._channel(channel_id)
        return self._team_place(channel.group_id, channel_id)

    def _team_place(self, group_id: str, channel_id: str | None) -> Place:
        team = self._team(group_id)
        channel = team.channels.get(channel_id) if channel_id else None
        if channel_id is not None and channel is None:
            raise KeyError(f"no channel {channel_id} in team {group_id}")
        return Place(
            service_url=self.service_url,
            tenant_id=self.tenant_id,
            group_id=group_id,
            team_id=team.thread_id,
            team_name=team.name,
            channel_id=channel_id,
            channel_name=channel.name if channel else None,
        )

    def _person(self, message: Message) -> Person:
        member = self._team(self._channel(message.channel_id).group_id).members.get(
            message.author_id
        )
        if member is None:
            raise KeyError(f"{message.author_id} is not a member (a bot message?)")
        return member.person()

    def _actor(self, group_id: str, by: str | None) -> Person:
        team = self._team(group_id)
        if by is not None:
            return team.members[by].person()
        ranked = sorted(team.members.values(), key=lambda m: not m.owner)
        if not ranked:
            raise KeyError(f"team {group_id} has no members to act")
        return ranked[0].person()

    # ------------------------------------------------------------------ ids and lookups

    def _now_ms(self) -> int:
        return int(time.time() * 1000)

    def _next_ms(self) -> int:
        """Epoch milliseconds, strictly increasing: Teams message ids are ordered by time."""
        self._last_id_ms = max(self._now_ms(), self._last_id_ms + 1)
        return self._last_id_ms

    def _next_id(self) -> str:
        return str(self._next_ms())

    def _team(self, group_id: str) -> Team:
        team = self.teams.get(group_id)
        if team is None:
            raise KeyError(f"no team {group_id}")
        return team

    def _channel(self, channel_id: str) -> Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise KeyError(f"no channel {channel_id}")
        return channel

    def _find(self, channel: Channel, message_id: str) -> Message | None:
        return next((m for m in channel.messages if m.id == message_id), None)

    def _message(self, channel_id: str, message_id: str) -> Message:
        message = self._find(self._channel(channel_id), message_id)
        if message is None:
            raise KeyError(f"no message {message_id} in {channel_id}")
        return message

    def _root(self, channel: Channel, root_id: str) -> Message:
        root = self._find(channel, root_id)
        if root is None or not root.is_root:
            raise KeyError(f"no thread {root_id} in {channel.id}")
        return root

    # ------------------------------------------------------------------ HTTP plumbing

    def _endpoint(
        self, operation: str, handler: Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            call = await self._record(operation, request)
            try:
                response = await self._respond(operation, request, call, handler)
            finally:
                self._notify()
            call.status = response.status if response is not None else None
            if response is None:  # drop the connection on purpose: the client gets no answer
                if request.transport is not None:
                    request.transport.close()
                return web.Response()  # never reaches the client
            return response

        return endpoint

    async def _record(self, operation: str, request: web.Request) -> Call:
        body: Any = None
        form: dict[str, str] = {}
        if request.can_read_body:
            if request.content_type == "application/x-www-form-urlencoded":
                posted = await request.post()
                form = {k: v for k, v in posted.items() if isinstance(v, str)}
            else:
                with contextlib.suppress(ValueError):
                    body = await request.json()
        call = Call(
            operation=operation,
            method=request.method,
            path=request.path,
            query=dict(request.query),
            json=body,
            form=form,
            headers=CIMultiDict(request.headers),
        )
        self._calls.append(call)
        return call

    async def _respond(
        self, operation: str, request: web.Request, call: Call, handler: Handler
    ) -> web.Response | None:
        fault = self._faults[operation].popleft() if self._faults.get(operation) else None
        call.fault = type(fault).__name__ if fault is not None else None
        match fault:
            case Delay(seconds=seconds):
                await asyncio.sleep(seconds)
            case RateLimit(retry_after=retry_after):
                return web.json_response(
                    _fault_body(operation, 429),
                    status=429,
                    headers={"Retry-After": str(retry_after)},
                )
            case HttpError(status=status):
                return web.json_response(_fault_body(operation, status), status=status)
            case DropBeforeAccept():
                return None
        try:
            status, body = await handler(request, call)
        except ApiError as exc:
            return web.json_response(exc.body, status=exc.status)
        if isinstance(fault, DropAfterAccept):
            return None
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    def _require_token(self, request: web.Request, scope: str) -> None:
        """The bearer must be an unexpired access token this fake issued for `scope`."""
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        try:
            claims = self._aad_key.verify(token, audience=SCOPE_AUDIENCES[scope])
        except jwt.InvalidTokenError:
            claims = None
        fresh = claims is not None and claims.get("fake_generation") == self._token_generation
        if fresh:
            return
        if scope == GRAPH_SCOPE:
            raise _graph_error(
                401, "InvalidAuthenticationToken", "Access token validation failure."
            )
        raise ApiError(401, {"message": "Authorization has been denied for this request."})

    # ------------------------------------------------------------------ login and metadata

    async def _h_token(self, request: web.Request, call: Call) -> tuple[int, Any]:
        form = call.form
        tenant = request.match_info["tenant"]
        if tenant != self.tenant_id:
            raise _aadsts_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
            )
        if form.get("grant_type") != "client_credentials":
            raise _aadsts_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            )
        if form.get("client_id") != self.app_id:
            raise _aadsts_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{tenant}'.",
            )
        if form.get("client_secret") != self.app_password:
            raise _aadsts_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID.",
            )
        scope = form.get("scope", "")
        if scope not in SCOPE_AUDIENCES:
            raise _aadsts_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier.",
            )
        claims = access_token_claims(
            app_id=self.app_id,
            tenant_id=self.tenant_id,
            scope=scope,
            expires_in=self.token_lifetime,
            generation=self._token_generation,
        )
        self._tokens_issued[scope] += 1
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self._aad_key.sign(claims),
        }

    async def _h_openid(self, request: web.Request, call: Call) -> tuple[int, Any]:
        return 200, {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": self.jwks_url,
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    async def _h_jwks(self, request: web.Request, call: Call) -> tuple[int, Any]:
        return 200, {"keys": [self._activity_key.public_jwk()]}

    # ------------------------------------------------------------------ connector

    def _writable_channel(self, channel_id: str) -> Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise _connector_error(404, "ConversationNotFound", "Conversation not found.")
        if not self.teams[channel.group_id].installed:
            raise _connector_error(
                403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
            )
        return channel

    def _bot_post(self, channel: Channel, root_id: str | None, activity: dict[str, Any]) -> str:
        if not isinstance(activity, dict) or activity.get("type", "message") != "message":
            raise _connector_error(400, "BadArgument", "Activity must be of type message.")
        text = str(activity.get("text") or "")
        attachments = activity.get("attachments") or []
        if not text and not attachments:
            raise _connector_error(400, "BadArgument", "Activity text or attachments required.")
        mid = self._next_id()
        message = Message(
            id=mid,
            channel_id=channel.id,
            root_id=root_id or mid,
            created_ms=int(mid),
            modified_ms=int(mid),
            text=text,
            author_id=self.app_id,
            author_name=self.bot.name,
            by_bot=True,
            attachments=[self._with_attachment_id(a) for a in attachments],
            activity=activity,
        )
        channel.messages.append(message)
        return mid

    def _with_attachment_id(self, attachment: Any) -> dict[str, Any]:
        if not isinstance(attachment, dict) or "contentType" not in attachment:
            raise _connector_error(400, "BadArgument", "Attachment contentType required.")
        return {"id": f"att{next(self._attachment_ids):06d}", **attachment}

    async def _h_create(self, request: web.Request, call: Call) -> tuple[int, Any]:
        self._require_token(request, BOT_FRAMEWORK_SCOPE)
        body = call.json if isinstance(call.json, dict) else {}
        channel_data = body.get("channelData") or {}
        channel_id = (channel_data.get("channel") or {}).get("id")
        if not body.get("isGroup") or not channel_id or not isinstance(body.get("activity"), dict):
            raise _connector_error(
                400, "BadArgument", "isGroup, channelData.channel.id and activity are required."
            )
        channel = self._writable_channel(str(channel_id))
        mid = self._bot_post(channel, None, body["activity"])
        return 201, {"id": activities.thread_conversation_id(channel.id, mid), "activityId": mid}

    async def _h_send(self, request: web.Request, call: Call) -> tuple[int, Any]:
        """A new activity in a conversation: in a thread when the conversation id names one, or
        when the activity (or the URL) replies to a message; else a new thread root."""
        self._require_token(request, BOT_FRAMEWORK_SCOPE)
        channel_id, root_id = _split_conversation_id(request.match_info["cid"])
        channel = self._writable_channel(channel_id)
        activity = call.json if isinstance(call.json, dict) else {}
        if activity.get("type") == "typing":
            return 200, {}  # shown to people for a moment, never stored; the SDK expects {}
        reply_to = request.match_info.get("aid") or activity.get("replyToId")
        if root_id is None and reply_to:
            target = self._find(channel, str(reply_to))
            root_id = target.root_id if target is not None else str(reply_to)
        if root_id is not None:
            root = self._find(channel, root_id)
            if root is None or not root.is_root:
                raise _connector_error(404, "NotFound", "The thread does not exist.")
        mid = self._bot_post(channel, root_id, activity)
        return 201, {"id": mid}

    def _own_message(self, request: web.Request) -> Message:
        channel_id, _ = _split_conversation_id(request.match_info["cid"])
        channel = self._writable_channel(channel_id)
        message = self._find(channel, request.match_info["aid"])
        if message is None or message.deleted:
            raise _connector_error(404, "NotFound", "Activity not found.")
        if not message.by_bot:
            raise _connector_error(403, "Forbidden", "The bot can only change its own messages.")
        return message

    async def _h_update(self, request: web.Request, call: Call) -> tuple[int, Any]:
        self._require_token(request, BOT_FRAMEWORK_SCOPE)
        message = self._own_message(request)
        activity = call.json if isinstance(call.json, dict) else {}
        text = str(activity.get("text") or "")
        attachments = activity.get("attachments") or []
        if not text and not attachments:
            raise _connector_error(400, "BadArgument", "Activity text or attachments required.")
        message.text = text
        message.attachments = [self._with_attachment_id(a) for a in attachments]
        message.activity = activity
        message.edited_ms = message.modified_ms = self._next_ms()
        return 200, {"id": message.id}

    async def _h_delete(self, request: web.Request, call: Call) -> tuple[int, Any]:
        self._require_token(request, BOT_FRAMEWORK_SCOPE)
        message = self._own_message(request)
        message.deleted_ms = message.modified_ms = self._next_ms()
        return 200, None

    def _conversation_team(self, request: web.Request) -> Team:
        channel_id, _ = _split_conversation_id(request.match_info["cid"])
        return self.teams[self._writable_channel(channel_id).group_id]

    def _channel_account(self, member: Member) -> dict[str, Any]:
        given, _, surname = member.name.partition(" ")
        return {
            "id": member.bot_framework_id,
            "name": member.name,
            "aadObjectId": member.aad_object_id,
            "givenName": given,
            "surname": surname,
            "email": member.email,
            "userPrincipalName": member.email,
            "tenantId": self.tenant_id,
            "userRole": "user",
        }

    async def _h_members(self, request: web.Request, call: Call) -> tuple[int, Any]:
        self._require_token(request, BOT_FRAMEWORK_SCOPE)
        team = self._conversation_team(request)
        return 200, [self._channel_account(m) for m in team.members.values()]

    async def _h_member(self, request: web.Request, call: Call) -> tuple[int, Any]:
        """One member, by Bot Framework id ("29:…") or AAD object id, as the connector allows."""
        self._require_token(request, BOT_FRAMEWORK_SCOPE)
        team = self._conversation_team(request)
        wanted = request.match_info["member"]
        for member in team.members.values():
            if wanted in (member.bot_framework_id, member.aad_object_id):
                return 200, self._channel_account(member)
        raise _connector_error(404, "MemberNotFoundInConversation", "Member not found.")

    async def _h_paged_members(self, request: web.Request, call: Call) -> tuple[int, Any]:
        self._require_token(request, BOT_FRAMEWORK_SCOPE)
        team = self._conversation_team(request)
        try:
            size = max(1, min(int(request.query.get("pageSize", "200")), 500))
            start = int(request.query.get("continuationToken") or 0)
        except ValueError as exc:
            raise _connector_error(400, "BadArgument", "Invalid paging parameters.") from exc
        every = list(team.members.values())
        page = every[start : start + size]
        body: dict[str, Any] = {"members": [self._channel_account(m) for m in page]}
        if start + size < len(every):
            body["continuationToken"] = str(start + size)
        return 200, body

    # ------------------------------------------------------------------ Graph

    def _graph_team(self, request: web.Request) -> Team:
        self._require_token(request, GRAPH_SCOPE)
        team = self.teams.get(request.match_info["gid"])
        if team is None:
            raise _graph_error(404, "NotFound", "No team found with Group Id.")
        if not team.installed:
            # Resource-specific consent (ChannelMessage.Read.Group …) goes with the app.
            raise _graph_error(
                403,
                "Forbidden",
                "Missing role permissions on the request. API requires one of "
                "'ChannelMessage.Read.All, ChannelMessage.Read.Group'.",
            )
        return team

    def _graph_channel(self, request: web.Request) -> Channel:
        team = self._graph_team(request)
        channel = team.channels.get(request.match_info["chid"])
        if channel is None:
            raise _graph_error(404, "NotFound", "Channel not found.")
        return channel

    def _graph_root(self, request: web.Request) -> tuple[Channel, Message]:
        channel = self._graph_channel(request)
        message = self._find(channel, request.match_info["mid"])
        if message is None or not message.is_root:
            raise _graph_error(404, "NotFound", "Message not found.")
        return channel, message

    def _page(
        self, request: web.Request, items: list[Any], render: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        """One page of a Graph collection, with an absolute @odata.nextLink when more remain."""
        try:
            top = int(request.query.get("$top", self.graph_page_size))
        except ValueError as exc:
            raise _graph_error(400, "BadRequest", "Invalid $top.") from exc
        if not 1 <= top <= GRAPH_MAX_TOP:
            raise _graph_error(400, "BadRequest", f"$top must be between 1 and {GRAPH_MAX_TOP}.")
        start = _offset(request.query.get("$skiptoken"))
        # Graph percent-encodes channel ids (":" and "@") in the links it returns.
        path = quote(request.path.removeprefix("/graph/v1.0/"), safe="/")
        body: dict[str, Any] = {
            "@odata.context": f"{self.graph_url}$metadata#{path}",
            "value": [render(item) for item in items[start : start + top]],
        }
        if start + top < len(items):
            body["@odata.nextLink"] = (
                f"{self.graph_url}{path}?$top={top}&$skiptoken={quote(_skiptoken(start + top))}"
            )
        return body

    @staticmethod
    def _newest_first(messages: Iterable[Message]) -> list[Message]:
        return sorted(messages, key=lambda m: (m.modified_ms, int(m.id)), reverse=True)

    async def _h_graph_channels(self, request: web.Request, call: Call) -> tuple[int, Any]:
        team = self._graph_team(request)
        return 200, {
            "@odata.context": f"{self.graph_url}$metadata#teams('{team.group_id}')/channels",
            "value": [self._graph_channel_json(team, c) for c in team.channels.values()],
        }

    async def _h_graph_messages(self, request: web.Request, call: Call) -> tuple[int, Any]:
        channel = self._graph_channel(request)
        roots = self._newest_first(m for m in channel.messages if m.is_root)
        return 200, self._page(request, roots, lambda m: self._chat_message(channel, m))

    async def _h_graph_message(self, request: web.Request, call: Call) -> tuple[int, Any]:
        channel, message = self._graph_root(request)
        return 200, self._chat_message(channel, message)

    async def _h_graph_replies(self, request: web.Request, call: Call) -> tuple[int, Any]:
        channel, root = self._graph_root(request)
        replies = self._newest_first(
            m for m in channel.messages if m.root_id == root.id and not m.is_root
        )
        return 200, self._page(request, replies, lambda m: self._chat_message(channel, m))

    async def _h_graph_reply(self, request: web.Request, call: Call) -> tuple[int, Any]:
        channel, root = self._graph_root(request)
        reply = self._find(channel, request.match_info["rid"])
        if reply is None or reply.root_id != root.id or reply.is_root:
            raise _graph_error(404, "NotFound", "Message not found.")
        return 200, self._chat_message(channel, reply)

    async def _h_graph_members(self, request: web.Request, call: Call) -> tuple[int, Any]:
        team = self._graph_team(request)
        members = list(team.members.values())
        return 200, self._page(request, members, self._graph_member)

    def _graph_channel_json(self, team: Team, channel: Channel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "createdDateTime": iso_millis(channel.created_ms),
            "displayName": channel.name,
            "description": None,
            "isFavoriteByDefault": None,
            "email": "",
            "tenantId": self.tenant_id,
            "webUrl": (
                f"https://teams.microsoft.com/l/channel/{quote(channel.id, safe='')}/"
                f"{quote(channel.name)}?groupId={team.group_id}&tenantId={self.tenant_id}"
            ),
            "membershipType": "standard",
        }

    def _graph_member(self, member: Member) -> dict[str, Any]:
        # Graph's membership ids are opaque base64; this one is stable per tenant and user.
        membership = f"{self.tenant_id}##{member.aad_object_id}"
        return {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": base64.b64encode(membership.encode()).decode(),
            "roles": ["owner"] if member.owner else [],
            "displayName": member.name,
            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
            "userId": member.aad_object_id,
            "email": member.email,
            "tenantId": self.tenant_id,
        }

    def _chat_message(self, channel: Channel, message: Message) -> dict[str, Any]:
        """A message in Graph's chatMessage shape."""
        body, attachments, mentions = self._graph_content(message)
        return {
            "id": message.id,
            "replyToId": None if message.is_root else message.root_id,
            "etag": str(message.modified_ms),
            "messageType": "message",
            "createdDateTime": iso_millis(message.created_ms),
            "lastModifiedDateTime": iso_millis(message.modified_ms),
            "lastEditedDateTime": iso_millis(message.edited_ms) if message.edited_ms else None,
            "deletedDateTime": iso_millis(message.deleted_ms) if message.deleted_ms else None,
            "subject": None,
            "summary": None,
            "chatId": None,
            "importance": "normal",
            "locale": "en-us",
            "webUrl": self._web_url(channel, message),
            "policyViolation": None,
            "eventDetail": None,
            "from": self._graph_from(message),
            "body": {"contentType": "html", "content": body},
            "channelIdentity": {"teamId": channel.group_id, "channelId": channel.id},
            "attachments": attachments,
            "mentions": mentions,
            "reactions": [],
        }

    def _graph_from(self, message: Message) -> dict[str, Any]:
        if message.by_bot:
            return {
                "application": {
                    "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                    "id": self.app_id,
                    "displayName": self.bot.name,
                    "applicationIdentityType": "bot",
                },
                "device": None,
                "user": None,
            }
        return {
            "application": None,
            "device": None,
            "user": {
                "@odata.type": "#microsoft.graph.teamworkUserIdentity",
                "id": message.author_id,
                "displayName": message.author_name,
                "userIdentityType": "aadUser",
                "tenantId": self.tenant_id,
            },
        }

    def _graph_content(
        self, message: Message
    ) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        """(body html, attachments, mentions). A soft-deleted message keeps none of them."""
        if message.deleted:
            return "", [], []
        if message.by_bot:
            # Cards appear in the body as <attachment> placeholders, their JSON as a string.
            tags = "".join(f'<attachment id="{a["id"]}"></attachment>' for a in message.attachments)
            return message.text + tags, [self._graph_attachment(a) for a in message.attachments], []
        text = html.escape(message.text, quote=False)
        if not message.mentions_bot:
            return f"<p>{text}</p>", [], []
        name = html.escape(self.bot.name, quote=False)
        mention = {
            "id": 0,
            "mentionText": self.bot.name,
            "mentioned": {
                "application": {
                    "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                    "id": self.app_id,
                    "displayName": self.bot.name,
                    "applicationIdentityType": "bot",
                },
                "device": None,
                "conversation": None,
                "tag": None,
                "user": None,
            },
        }
        return f'<p><at id="0">{name}</at> {text}</p>', [], [mention]

    @staticmethod
    def _graph_attachment(attachment: dict[str, Any]) -> dict[str, Any]:
        content = attachment.get("content")
        return {
            "id": attachment["id"],
            "contentType": attachment["contentType"],
            "contentUrl": attachment.get("contentUrl"),
            # Graph serialises card JSON into a string; other content passes through.
            "content": json.dumps(content) if isinstance(content, dict | list) else content,
            "name": attachment.get("name"),
            "thumbnailUrl": attachment.get("thumbnailUrl"),
            "teamsAppId": None,
        }

    def _web_url(self, channel: Channel, message: Message) -> str:
        return (
            f"https://teams.microsoft.com/l/message/{quote(channel.id, safe='')}/{message.id}"
            f"?groupId={channel.group_id}&tenantId={self.tenant_id}"
            f"&createdTime={message.created_ms}&parentMessageId={message.root_id}"
        )
