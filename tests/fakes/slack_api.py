"""A stateful fake of the Slack Web API (and Socket Mode), served by aiohttp on 127.0.0.1:0.

Tests point slack_sdk / Bolt at `fake.url` (it ends in "/api/") and then assert on what was
stored (`fake.messages(...)`) and what was sent (`fake.calls("chat.postMessage")`).

Faults are queued per method and consumed one per call, in order, in the style of
python-slack-sdk's mock server:

    fake.inject("chat.postMessage", RateLimit(retry_after=3), DropAfterAccept())

Only what leaderbot uses is modelled, but what is modelled follows Slack's documented
behaviour (error codes, cursor pagination, oldest/latest exclusivity, metadata only with
include_all_metadata, private channels answering channel_not_found to outsiders).

Workspaces: every channel and user belongs to one (`add_team`; T0FAKE by default), and every
bot token to one: a call with one workspace's token about another's channel or user answers
channel_not_found / user_not_found, as Slack does. Installing (OAuth v2): `GET
/oauth/v2/authorize` sends the browser back to the app's redirect URL with a one-time code
(or `error=access_denied`, after `deny_next_install()`), for the workspace named with
`approve_next_install(team)`; `oauth.v2.access` exchanges the code for a bot token and, with
`token_lifetime_s` set (token rotation on), a refresh token, and renews with
grant_type=refresh_token. An expired token answers token_expired.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import itertools
import json
import math
import os
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import BasicAuth, WSMsgType, web
from multidict import CIMultiDict

from tests.fakes import deadline, describe

JSON_FIELDS = frozenset({"blocks", "metadata", "attachments", "files", "view", "user_ids"})
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class SlackErrorResponse(Exception):
    """Raised by a method handler to answer {"ok": false, "error": code} with HTTP 200."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


# --------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class RateLimit:
    """HTTP 429 with Retry-After; nothing is stored."""

    retry_after: float = 1


@dataclass(frozen=True)
class HttpError:
    """An HTTP error status with a non-JSON body; nothing is stored."""

    status: int = 500


@dataclass(frozen=True)
class SlackError:
    """HTTP 200 with {"ok": false, "error": code}; nothing is stored."""

    code: str


@dataclass(frozen=True)
class Pass:
    """Answer normally (to place a fault on a later call: inject(m, Pass(), RateLimit()))."""


@dataclass(frozen=True)
class DropAfterAccept:
    """The call is carried out (the message is stored), then the connection is closed
    without a response."""


@dataclass(frozen=True)
class Drop:
    """The connection is closed before anything is done (a reset)."""


@dataclass(frozen=True)
class Latency:
    """Wait this long, then answer normally."""

    seconds: float


Fault = Pass | RateLimit | HttpError | SlackError | DropAfterAccept | Drop | Latency


# --------------------------------------------------------------------------- state


@dataclass
class FakeUser:
    id: str
    name: str
    real_name: str = ""
    display_name: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    is_bot: bool = False
    deleted: bool = False
    team_id: str = "T0FAKE"

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_restricted": self.is_restricted,
            "is_ultra_restricted": self.is_ultra_restricted,
            "is_bot": self.is_bot,
            "profile": {
                "display_name": self.display_name,
                "real_name": self.real_name,
            },
        }


@dataclass
class FakeTeam:
    id: str
    name: str
    domain: str


@dataclass
class FakeToken:
    team_id: str
    expires_at: float | None = None  # time.time(); None: never
    revoked: bool = False


# The workspace of the token the call being answered came with.
_calling_team: contextvars.ContextVar[str] = contextvars.ContextVar("fake_slack_team")


@dataclass
class FakeChannel:
    id: str
    name: str
    team_id: str = "T0FAKE"
    is_private: bool = False
    is_archived: bool = False
    members: set[str] = field(default_factory=set)
    is_member: bool = True  # is the bot in it?

    def to_api(self, *, with_num_members: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": self.is_member,
        }
        if with_num_members:
            data["num_members"] = len(self.members)
        return data


@dataclass
class FakeMessage:
    channel: str
    ts: str
    text: str
    user: str | None = None
    bot_id: str | None = None
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    subtype: str | None = None
    edited: dict[str, str] | None = None
    unfurl_links: Any = None
    unfurl_media: Any = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, *, with_metadata: bool = False, reply_count: int = 0) -> dict[str, Any]:
        data: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        for key in ("user", "bot_id", "subtype", "thread_ts", "blocks", "edited"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if reply_count:
            data["reply_count"] = reply_count
        if with_metadata and self.metadata is not None:
            data["metadata"] = self.metadata
        return data


@dataclass
class FakeFile:
    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: CIMultiDict[str]
    http_method: str
    status: int | None = None
    fault: str | None = None


# --------------------------------------------------------------------------- helpers


def ts_key(ts: str) -> int:
    """Slack timestamps as integer microseconds: floats lose the last digits."""
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds or 0) * 1_000_000 + int((fraction + "000000")[:6])


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in {"1", "true", "yes"}


def _cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.b64decode(str(cursor)).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SlackErrorResponse("invalid_cursor") from exc


def _page(items: list[Any], body: Mapping[str, Any], *, cap: int, default: int) -> tuple[list, str]:
    """Slice one page; Slack may return fewer than `limit`, so the fake caps the page size."""
    try:
        limit = int(body.get("limit") or default)
    except ValueError as exc:
        raise SlackErrorResponse("invalid_limit") from exc
    limit = max(1, min(limit, cap))
    start = _offset(body.get("cursor"))
    page = items[start : start + limit]
    next_cursor = _cursor(start + limit) if start + limit < len(items) else ""
    return page, next_cursor


def _validate_blocks(blocks: Any) -> list[dict[str, Any]] | None:
    """The limits Slack enforces that our renderer must respect."""
    if blocks in (None, "", []):
        return None
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise SlackErrorResponse("invalid_blocks")
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            raise SlackErrorResponse("invalid_blocks")
        text = block.get("text")
        if isinstance(text, dict):
            limit = 150 if block["type"] == "header" else 3000
            if len(str(text.get("text", ""))) > limit:
                raise SlackErrorResponse("invalid_blocks")
    return blocks


# --------------------------------------------------------------------------- the fake


class FakeSlack:
    """The fake server. Use `async with FakeSlack() as fake:` or `await start()` / `stop()`."""

    BOT_USER_ID = "UBOT"
    BOT_ID = "BBOT"
    TEAM_ID = "T0FAKE"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-fake-app-token",
        latency: float = 0.0,
        replies_page_size: int = 3,
        history_page_size: int = 100,
        members_page_size: int = 100,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.latency = latency  # applied to every Web API call (benchmarks)
        self.replies_page_size = replies_page_size
        self.history_page_size = history_page_size
        self.members_page_size = members_page_size
        # Minimum seconds between posts to one channel; None = no limit (Slack: about 1 s).
        self.channel_post_interval: float | None = None

        self.channels: dict[str, FakeChannel] = {}
        self.users: dict[str, FakeUser] = {}
        self.teams: dict[str, FakeTeam] = {}
        self.tokens: dict[str, FakeToken] = {bot_token: FakeToken(self.TEAM_ID)}
        # The distributed app (OAuth): its credentials, where Slack sends the browser back,
        # and how long a bot token lives (None: no token rotation, tokens never expire).
        self.client_id = "1111.2222"
        self.client_secret = "fake-client-secret"
        self.app_id = "A0FAKE"
        self.redirect_url: str | None = None
        self.token_lifetime_s: float | None = None
        self._next_install: tuple[str, str] | None = None  # (team, installer) or ("", "") deny
        self._codes: dict[str, tuple[str, str, str | None]] = {}  # code -> team, user, redirect
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> team
        self.add_team(self.TEAM_ID, "Fake Council", "fake")
        self.files: dict[str, FakeFile] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self._messages: dict[str, list[FakeMessage]] = defaultdict(list)
        self._calls: list[Call] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._last_post: dict[str, float] = {}
        self._last_ts = 0
        self._ids = itertools.count(1)

        # Socket Mode
        self.refuse_sockets = False
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_requests: dict[web.WebSocketResponse, web.Request] = {}
        self._acks: dict[str, dict[str, Any]] = {}
        self._socket_event = asyncio.Event()

        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.add_user(self.BOT_USER_ID, "leaderbot", real_name="leaderbot", is_bot=True)

    # ------------------------------------------------------------------ lifecycle

    @property
    def base(self) -> str:
        if self.port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self.port}/"

    @property
    def url(self) -> str:
        """The Web API base URL, for slack_sdk's base_url / SLACK_API_URL."""
        return self.base + "api/"

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/socket/{ticket}", self._handle_socket)
        app.router.add_get("/oauth/v2/authorize", self._handle_authorize)
        # Calls still in flight (a Latency fault) get a moment to finish, then are cancelled.
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ state setup

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def add_team(self, team_id: str, name: str, domain: str | None = None) -> FakeTeam:
        team = FakeTeam(team_id, name, domain or team_id.lower())
        self.teams[team_id] = team
        return team

    def approve_next_install(self, team_id: str, installer: str = "UINSTALLER") -> None:
        """The next visit to the authorize page is approved by `installer` in `team_id`."""
        self._next_install = (team_id, installer)

    def deny_next_install(self) -> None:
        """The next visit to the authorize page is cancelled (error=access_denied)."""
        self._next_install = ("", "")

    def bot_tokens(self, team_id: str) -> list[str]:
        """Every bot token issued for a workspace, oldest first."""
        return [t for t, grant in self.tokens.items() if grant.team_id == team_id]

    def expire(self, token: str) -> None:
        """The token expires now (Slack answers token_expired from here on)."""
        self.tokens[token].expires_at = time.time() - 1

    def revoke(self, team_id: str) -> None:
        """Every token of the workspace is revoked (as after an uninstall)."""
        for grant in self.tokens.values():
            if grant.team_id == team_id:
                grant.revoked = True

    def issue_token(self, team_id: str) -> str:
        """A bot token for the workspace, as an install issues (a benchmark's installations)."""
        return str(self._issue(team_id)["access_token"])

    def _issue(self, team_id: str) -> dict[str, Any]:
        token = f"xoxb-{team_id}-{next(self._ids)}-{base64.b32encode(os.urandom(10)).decode()}"
        grant = FakeToken(team_id)
        answer: dict[str, Any] = {"access_token": token, "token_type": "bot"}
        if self.token_lifetime_s is not None:
            token = "xoxe." + token
            answer["access_token"] = token
            grant.expires_at = time.time() + self.token_lifetime_s
            refresh = f"xoxe-1-{team_id}-{base64.b32encode(os.urandom(10)).decode()}"
            self._refresh_tokens[refresh] = team_id
            answer.update(refresh_token=refresh, expires_in=int(self.token_lifetime_s))
        self.tokens[token] = grant
        return answer

    def add_user(self, user_id: str | None = None, name: str = "user", **fields: Any) -> FakeUser:
        user = FakeUser(id=user_id or self._new_id("U"), name=name, team_id=self.TEAM_ID)
        for key, value in fields.items():
            if not hasattr(user, key):
                raise TypeError(f"FakeUser has no field {key!r}")
            setattr(user, key, value)
        self.users[user.id] = user
        return user

    def add_channel(
        self,
        channel_id: str | None = None,
        name: str | None = None,
        *,
        is_private: bool = False,
        is_archived: bool = False,
        members: Iterable[str] = (),
        bot_member: bool = True,
        team_id: str | None = None,
    ) -> FakeChannel:
        cid = channel_id or self._new_id("C")
        channel = FakeChannel(
            id=cid,
            name=name or cid.lower(),
            team_id=team_id or self.TEAM_ID,
            is_private=is_private,
            is_archived=is_archived,
            members=set(members),
            is_member=bot_member,
        )
        if bot_member:
            channel.members.add(self.BOT_USER_ID)
        self.channels[cid] = channel
        return channel

    def next_ts(self) -> str:
        """A unique, increasing message timestamp (as Slack's are, per channel)."""
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str | None = None,
        thread_ts: str | None = None,
        ts: str | None = None,
        bot: bool = False,
        metadata: dict[str, Any] | None = None,
        blocks: list[dict[str, Any]] | None = None,
        subtype: str | None = None,
    ) -> FakeMessage:
        """Store a message as if someone posted it (a user reply in a thread, an old post...)."""
        if channel not in self.channels:
            raise KeyError(f"no channel {channel}")
        if thread_ts is not None and self.message(channel, thread_ts) is None:
            raise KeyError(f"no thread {thread_ts} in {channel}")
        message = FakeMessage(
            channel=channel,
            ts=ts or self.next_ts(),
            text=text,
            user=user if user is not None else (self.BOT_USER_ID if bot else None),
            bot_id=self.BOT_ID if bot else None,
            thread_ts=thread_ts,
            blocks=blocks,
            metadata=metadata,
            subtype=subtype,
        )
        stored = self._messages[channel]
        stored.append(message)
        stored.sort(key=lambda m: ts_key(m.ts))
        if thread_ts is not None:
            parent = self.message(channel, thread_ts)
            if parent is not None and parent.thread_ts is None:
                parent.thread_ts = parent.ts  # Slack marks a parent once it has replies
        return message

    def edit_message(self, channel: str, ts: str, text: str, *, by: str | None = None) -> None:
        message = self.message(channel, ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel}")
        message.text = text
        message.edited = {"user": by or message.user or "", "ts": self.next_ts()}

    def delete_message(self, channel: str, ts: str) -> None:
        message = self.message(channel, ts)
        if message is None:
            raise KeyError(f"no message {ts} in {channel}")
        self._messages[channel].remove(message)

    # ------------------------------------------------------------------ inspection

    def message(self, channel: str, ts: str) -> FakeMessage | None:
        return next((m for m in self._messages.get(channel, []) if m.ts == ts), None)

    def messages(self, channel: str | None = None) -> list[FakeMessage]:
        """Every stored message (top level and replies), oldest first."""
        if channel is not None:
            return list(self._messages.get(channel, []))
        every = [m for stored in self._messages.values() for m in stored]
        return sorted(every, key=lambda m: ts_key(m.ts))

    def replies(self, channel: str, thread_ts: str) -> list[FakeMessage]:
        return [
            m for m in self._messages.get(channel, []) if m.is_reply and m.thread_ts == thread_ts
        ]

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self._calls if method is None or c.method == method]

    def clear_calls(self) -> None:
        self._calls.clear()

    # ------------------------------------------------------------------ faults

    def inject(self, method: str, *faults: Fault) -> None:
        """Queue faults for `method`; each call to it takes the next one."""
        self._faults[method].extend(faults)

    def clear_faults(self) -> None:
        self._faults.clear()

    def pending_faults(self, method: str) -> int:
        return len(self._faults.get(method, ()))

    # ------------------------------------------------------------------ HTTP plumbing

    async def _parse_body(self, request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    data = await request.json()
                except ValueError:
                    data = None
                if isinstance(data, dict):
                    body.update(data)
            else:
                form = await request.post()
                body.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in JSON_FIELDS & body.keys():
            if isinstance(body[key], str):
                with contextlib.suppress(ValueError):  # left as sent: the handler decides
                    body[key] = json.loads(body[key])
        return body

    def _token(self, request: web.Request, body: Mapping[str, Any]) -> str | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip()
        token = body.get("token")
        return str(token) if token else None

    @staticmethod
    def _json(data: dict[str, Any], status: int = 200, **headers: str) -> web.Response:
        return web.json_response(data, status=status, headers=headers or None)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await self._parse_body(request)
        call = Call(method, body, CIMultiDict(request.headers), request.method)
        self._calls.append(call)
        response = await self._respond(request, method, body, call)
        call.status = response.status if response is not None else None
        if response is None:  # drop the connection on purpose: the client gets no answer
            if request.transport is not None:
                request.transport.close()
            return web.Response()  # never reaches the client
        return response

    async def _respond(
        self, request: web.Request, method: str, body: dict[str, Any], call: Call
    ) -> web.Response | None:
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._faults[method].popleft() if self._faults.get(method) else None
        call.fault = type(fault).__name__ if fault is not None else None
        match fault:
            case Latency(seconds=seconds):
                await asyncio.sleep(seconds)
            case RateLimit(retry_after=retry_after):
                return self._ratelimited(retry_after)
            case HttpError(status=status):
                return web.Response(status=status, text="upstream error", content_type="text/html")
            case SlackError(code=code):
                return self._json({"ok": False, "error": code})
            case Drop():
                return None

        if method == "oauth.v2.access":  # the app's credentials, not a token
            try:
                return self._json({"ok": True, **self._oauth_access(request, body)})
            except SlackErrorResponse as exc:
                return self._json({"ok": False, "error": exc.code})
        handler: Handler | None = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._json({"ok": False, "error": "unknown_method"}, status=404)
        token = self._token(request, body)
        if not token:
            return self._json({"ok": False, "error": "not_authed"})
        grant = self.tokens.get(token)
        if method == "apps.connections.open":
            if token != self.app_token:
                error = "not_allowed_token_type" if grant is not None else "invalid_auth"
                return self._json({"ok": False, "error": error})
            grant = FakeToken(self.TEAM_ID)
        elif grant is None:
            error = "not_allowed_token_type" if token == self.app_token else "invalid_auth"
            return self._json({"ok": False, "error": error})
        if grant.revoked:
            return self._json({"ok": False, "error": "token_revoked"})
        if grant.expires_at is not None and grant.expires_at <= time.time():
            return self._json({"ok": False, "error": "token_expired"})
        _calling_team.set(grant.team_id)
        if method == "chat.postMessage" and (limited := self._channel_rate(body)) is not None:
            return self._ratelimited(limited)
        try:
            data = await handler(body)
        except SlackErrorResponse as exc:
            return self._json({"ok": False, "error": exc.code, **exc.extra})
        if isinstance(fault, DropAfterAccept):
            return None
        return self._json({"ok": True, **data})

    def _ratelimited(self, retry_after: float) -> web.Response:
        return self._json(
            {"ok": False, "error": "ratelimited"}, status=429, **{"Retry-After": str(retry_after)}
        )

    def _channel_rate(self, body: Mapping[str, Any]) -> float | None:
        """Seconds to wait if posts to this channel come faster than channel_post_interval."""
        if self.channel_post_interval is None:
            return None
        channel = str(body.get("channel", ""))
        now = time.monotonic()
        wait = self._last_post.get(channel, -math.inf) + self.channel_post_interval - now
        if wait > 0:
            return max(1, math.ceil(wait))
        self._last_post[channel] = now
        return None

    # ------------------------------------------------------------------ installing

    async def _handle_authorize(self, request: web.Request) -> web.Response:
        """Slack's authorize page, approved (or cancelled) at once as the test arranged."""
        query = request.query
        if query.get("client_id") != self.client_id:
            return web.Response(status=400, text="invalid_client_id")
        redirect = query.get("redirect_uri") or self.redirect_url
        if not redirect:
            return web.Response(status=400, text="no redirect URL")
        decision, self._next_install = self._next_install, None
        state = query.get("state", "")
        if decision is None or not decision[0]:
            params = {"error": "access_denied", "state": state}
        else:
            code = f"code-{next(self._ids)}-{base64.b32encode(os.urandom(5)).decode()}"
            self._codes[code] = (decision[0], decision[1], query.get("redirect_uri"))
            params = {"code": code, "state": state}
        location = f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(params)}"
        raise web.HTTPFound(location)

    def _oauth_access(self, request: web.Request, body: Mapping[str, Any]) -> dict[str, Any]:
        client_id, client_secret = body.get("client_id"), body.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            auth = BasicAuth.decode(header)
            client_id, client_secret = auth.login, auth.password
        if client_id != self.client_id:
            raise SlackErrorResponse("invalid_client_id")
        if client_secret != self.client_secret:
            raise SlackErrorResponse("bad_client_secret")
        if body.get("grant_type") == "refresh_token":
            team_id = self._refresh_tokens.get(str(body.get("refresh_token") or ""))
            if team_id is None:
                raise SlackErrorResponse("invalid_refresh_token")
            return {**self._issue(team_id), "app_id": self.app_id, "team": {"id": team_id}}
        grant = self._codes.pop(str(body.get("code") or ""), None)
        if grant is None:
            raise SlackErrorResponse("invalid_code")
        team_id, installer, redirect = grant
        if redirect is not None and body.get("redirect_uri") != redirect:
            raise SlackErrorResponse("bad_redirect_uri")
        team = self.teams[team_id]
        return {
            **self._issue(team_id),
            "scope": "commands,chat:write",
            "bot_user_id": self.BOT_USER_ID,
            "app_id": self.app_id,
            "team": {"id": team.id, "name": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
            "authed_user": {"id": installer},
        }

    # ------------------------------------------------------------------ access rules

    @staticmethod
    def _same_team(team_id: str) -> bool:
        """Whether something of `team_id` is visible to the call being answered."""
        return _calling_team.get(FakeSlack.TEAM_ID) == team_id

    def _channel(self, body: Mapping[str, Any], key: str = "channel") -> FakeChannel:
        cid = str(body.get(key) or "")
        channel = self.channels.get(cid)
        if channel is None:
            by_name = cid.lstrip("#")
            channel = next(
                (
                    c
                    for c in self.channels.values()
                    if c.name == by_name and self._same_team(c.team_id)
                ),
                None,
            )
        # Private channels are invisible to a bot that is not in them; another workspace's
        # channels to a token of this one.
        if (
            channel is None
            or (channel.is_private and not channel.is_member)
            or not self._same_team(channel.team_id)
        ):
            raise SlackErrorResponse("channel_not_found")
        return channel

    def _readable(self, body: Mapping[str, Any]) -> FakeChannel:
        channel = self._channel(body)
        if not channel.is_member:
            raise SlackErrorResponse("not_in_channel")
        return channel

    def _writable(self, body: Mapping[str, Any], key: str = "channel") -> FakeChannel:
        channel = self._channel(body, key)
        if channel.is_archived:
            raise SlackErrorResponse("is_archived")
        if not channel.is_member:
            raise SlackErrorResponse("not_in_channel")
        return channel

    def _own_message(self, channel: FakeChannel, ts: Any) -> FakeMessage:
        message = self.message(channel.id, str(ts or ""))
        if message is None:
            raise SlackErrorResponse("message_not_found")
        if message.bot_id != self.BOT_ID:
            raise SlackErrorResponse("cant_update_message")
        return message

    # ------------------------------------------------------------------ methods

    async def _m_auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        team = self.teams[_calling_team.get(self.TEAM_ID)]
        return {
            "url": f"https://{team.domain}.slack.com/",
            "team": team.name,
            "user": "leaderbot",
            "team_id": team.id,
            "user_id": self.BOT_USER_ID,
            "bot_id": self.BOT_ID,
            "is_enterprise_install": False,
        }

    async def _m_chat_postMessage(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(body)
        text = str(body.get("text") or "")
        blocks = _validate_blocks(body.get("blocks"))
        if not text and not blocks:
            raise SlackErrorResponse("no_text")
        if len(text) > 40_000:
            raise SlackErrorResponse("msg_too_long")
        thread_ts = body.get("thread_ts") or None
        if thread_ts is not None and self.message(channel.id, str(thread_ts)) is None:
            raise SlackErrorResponse("thread_not_found")
        metadata = body.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
        ):
            raise SlackErrorResponse("invalid_metadata_format")
        message = self.add_message(
            channel.id, text, thread_ts=thread_ts, bot=True, metadata=metadata, blocks=blocks
        )
        message.unfurl_links = body.get("unfurl_links")
        message.unfurl_media = body.get("unfurl_media")
        return {"channel": channel.id, "ts": message.ts, "message": message.to_api()}

    async def _m_chat_update(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(body)
        message = self._own_message(channel, body.get("ts"))
        if "text" in body:
            message.text = str(body["text"])
        if "blocks" in body:
            message.blocks = _validate_blocks(body["blocks"])
        if "metadata" in body:
            message.metadata = body["metadata"]
        message.edited = {"user": self.BOT_USER_ID, "ts": self.next_ts()}
        return {"channel": channel.id, "ts": message.ts, "text": message.text}

    async def _m_chat_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(body)
        message = self._own_message(channel, body.get("ts"))
        self._messages[channel.id].remove(message)
        return {"channel": channel.id, "ts": message.ts}

    async def _m_chat_getPermalink(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(body)
        message = self.message(channel.id, str(body.get("message_ts") or ""))
        if message is None:
            raise SlackErrorResponse("message_not_found")
        link = f"https://fake.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": link}

    async def _m_chat_postEphemeral(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._writable(body)
        user = str(body.get("user") or "")
        if user not in self.users:
            raise SlackErrorResponse("user_not_found")
        if user not in channel.members:
            raise SlackErrorResponse("user_not_in_channel")
        if not body.get("text") and not body.get("blocks"):
            raise SlackErrorResponse("no_text")
        ts = self.next_ts()
        self.ephemerals.append({**body, "channel": channel.id, "message_ts": ts})
        return {"message_ts": ts}

    async def _m_conversations_history(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(body)
        inclusive = _truthy(body.get("inclusive", False))
        oldest = ts_key(body.get("oldest") or "0")
        latest = ts_key(body["latest"]) if body.get("latest") else None

        def inside(message: FakeMessage) -> bool:
            key = ts_key(message.ts)
            if key < oldest or (key == oldest and not inclusive):
                return False
            return latest is None or key < latest or (key == latest and inclusive)

        top = [m for m in self._messages.get(channel.id, []) if not m.is_reply and inside(m)]
        top.reverse()  # newest first, as Slack does
        page, next_cursor = _page(
            top, body, cap=self.history_page_size, default=self.history_page_size
        )
        with_metadata = _truthy(body.get("include_all_metadata", False))
        return {
            "messages": [
                m.to_api(
                    with_metadata=with_metadata, reply_count=len(self.replies(channel.id, m.ts))
                )
                for m in page
            ],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    async def _m_conversations_replies(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(body)
        parent = self.message(channel.id, str(body.get("ts") or ""))
        if parent is None:
            raise SlackErrorResponse("thread_not_found")
        thread = [parent, *self.replies(channel.id, parent.ts)]
        page, next_cursor = _page(
            thread, body, cap=self.replies_page_size, default=self.replies_page_size
        )
        with_metadata = _truthy(body.get("include_all_metadata", False))
        return {
            "messages": [m.to_api(with_metadata=with_metadata) for m in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }

    async def _m_conversations_join(self, body: dict[str, Any]) -> dict[str, Any]:
        cid = str(body.get("channel") or "")
        channel = self.channels.get(cid)
        if channel is None or not self._same_team(channel.team_id):
            raise SlackErrorResponse("channel_not_found")
        if channel.is_private:
            raise SlackErrorResponse("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackErrorResponse("is_archived")
        extra: dict[str, Any] = {}
        if channel.is_member:
            extra = {"warning": "already_in_channel"}
        channel.is_member = True
        channel.members.add(self.BOT_USER_ID)
        return {"channel": channel.to_api(), **extra}

    async def _m_conversations_info(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(body)
        return {
            "channel": channel.to_api(
                with_num_members=_truthy(body.get("include_num_members", False))
            )
        }

    async def _m_conversations_members(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(body)
        page, next_cursor = _page(
            sorted(channel.members), body, cap=self.members_page_size, default=100
        )
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    async def _m_users_info(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(body.get("user") or ""))
        # The bot's own user is in every workspace.
        if user is None or not (user.id == self.BOT_USER_ID or self._same_team(user.team_id)):
            raise SlackErrorResponse("user_not_found")
        return {"user": user.to_api()}

    async def _m_files_getUploadURLExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        filename = body.get("filename")
        try:
            length = int(body.get("length") or -1)
        except ValueError:
            length = -1
        if not filename or length < 0:
            raise SlackErrorResponse("invalid_arguments")
        file = FakeFile(
            id=self._new_id("F"), filename=str(filename), length=length, alt_txt=body.get("alt_txt")
        )
        self.files[file.id] = file
        return {"upload_url": f"{self.base}upload/{file.id}", "file_id": file.id}

    async def _m_files_completeUploadExternal(self, body: dict[str, Any]) -> dict[str, Any]:
        entries = body.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackErrorResponse("invalid_arguments")
        channel = None
        if body.get("channel_id"):
            channel = self._writable(body, key="channel_id")
        thread_ts = body.get("thread_ts") or None
        if thread_ts and (channel is None or self.message(channel.id, str(thread_ts)) is None):
            raise SlackErrorResponse("invalid_thread_ts")
        completed = []
        for entry in entries:
            file = self.files.get(str(entry.get("id")))
            if file is None or file.data is None:
                raise SlackErrorResponse("file_not_found")
            file.title = entry.get("title") or file.filename
            file.channel = channel.id if channel else None
            file.thread_ts = thread_ts
            file.initial_comment = body.get("initial_comment")
            file.completed = True
            completed.append({"id": file.id, "name": file.filename, "title": file.title})
        return {"files": completed}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file = self.files.get(request.match_info["file_id"])
        data = await request.read()
        self._calls.append(
            Call("upload", {"bytes": len(data)}, CIMultiDict(request.headers), "POST")
        )
        if file is None:
            return web.Response(status=404, text="file not found", content_type="text/plain")
        file.data = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _m_views_publish(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._record_view("publish", body)

    async def _m_views_open(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("trigger_id"):
            raise SlackErrorResponse("invalid_trigger_id")
        return self._record_view("open", body)

    async def _m_views_update(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("view_id") and not body.get("external_id"):
            raise SlackErrorResponse("not_found")
        return self._record_view("update", body)

    def _record_view(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        view = body.get("view")
        if not isinstance(view, dict):
            raise SlackErrorResponse("invalid_arguments")
        view_id = str(body.get("view_id") or self._new_id("V"))
        self.views.append({"action": action, "view_id": view_id, **body})
        return {"view": {"id": view_id, **view}}

    # ------------------------------------------------------------------ Socket Mode

    async def _m_apps_connections_open(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket/{self._new_id('W')}"}

    @property
    def socket_count(self) -> int:
        return sum(1 for ws in self._sockets if not ws.closed)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_sockets:
            return web.Response(status=503, text="socket refused by the test")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._socket_requests[ws] = request
        self._socket_event.set()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets),
                "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "AFAKE"},
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if isinstance(data, dict) and "envelope_id" in data:
                        self._acks[data["envelope_id"]] = data
                        self._socket_event.set()
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._socket_requests.pop(ws, None)
            self._socket_event.set()
        return ws

    async def wait_until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """Wait (without polling) for a socket-side condition: a connection, an ack...; fail
        with an AssertionError naming the condition if it has not come within `within` s."""
        async with deadline(within, describe(predicate)):
            while not predicate():
                self._socket_event.clear()
                await self._socket_event.wait()

    async def push(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool = False,
    ) -> str:
        """Send an envelope (events_api, slash_commands, interactive) on the newest socket."""
        live = [ws for ws in self._sockets if not ws.closed]
        if not live:
            raise RuntimeError("no Socket Mode connection")
        envelope_id = self._new_id("E")
        await live[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
            }
        )
        return envelope_id

    async def ack(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        """The client's acknowledgement of an envelope (with its payload, if any)."""
        await self.wait_until(lambda: envelope_id in self._acks, within)
        return self._acks[envelope_id]

    async def drop_sockets(self, *, refuse_reconnect: bool = False, abrupt: bool = False) -> None:
        """Close every Socket Mode connection (abruptly: no close frame, like a network drop)."""
        self.refuse_sockets = refuse_reconnect
        for ws in list(self._sockets):
            transport = self._socket_requests[ws].transport if ws in self._socket_requests else None
            if abrupt and transport is not None:
                transport.abort()
            else:
                await ws.close(code=1001, message=b"going away")
