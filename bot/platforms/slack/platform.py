"""SlackPlatform: the ChatPlatform port over the Slack Web API.

Posts are tagged with message metadata {"event_type": "leaderbot_post", "event_payload":
{"key": <outbox key>}}, so that after a DeliveryUnknown the outbox can ask `find_post` whether
Slack has the message before sending it again.

Writes (post, upload, join) raise RateLimited to the caller, who owns the retry schedule.
Reads are idempotent, so they wait out Retry-After themselves, a bounded number of times.

A digest (`DigestPost`) is several messages: the head, tagged with the outbox key, then its
continuations in the head's thread, each tagged "<key>#<n>" (n as in "continued (n of N)"),
then the chart. Once the head is in Slack the post counts as made: a continuation that fails
is retried here, and if it still fails the thread says which parts are missing, but no error
reaches the outbox (it would post the head again).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.domain.chart import TITLE as CHART_TITLE
from bot.domain.content import Content, DigestPost, FileUpload, ThreadMessage, UserInfo
from bot.domain.language import translator
from bot.platforms import multipart
from bot.platforms.slack.blocks import SlackMessage, escape_mrkdwn, render
from bot.platforms.slack.client import DEFAULT_TIMEOUT_S, INVITE_HINT, build_web_client, call
from bot.platforms.slack.digest_blocks import digest_messages
from bot.platforms.slack.installations import DatabaseInstallationStore
from bot.platforms.slack.membership import Memberships, gone
from bot.platforms.slack.text import ts_to_datetime, unescape
from bot.platforms.slack.tokens import WorkspaceTokens, acting_workspace
from bot.port import (
    CHANNEL_NOT_FOUND,
    NEEDS_INVITE,
    NOT_INSTALLED,
    ChatPlatform,
    DeliveryUnknown,
    PermanentFailure,
    PlatformError,
    RateLimited,
    Sent,
    StillOurs,
)
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import Channel, ChatUser
from bot.store.token_cipher import TokenCipher

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "leaderbot_post"
PAGE_SIZE = 200  # Slack recommends at most 200 per page
READ_ATTEMPTS = 5
POST_INTERVAL_S = 1.0  # chat.postMessage: about one message per second per channel
CHART_FILENAME = "leadership-participation.png"
# Our clock and Slack's can disagree: look a little before `since` (the key decides anyway).
CLOCK_SKEW_MARGIN = timedelta(minutes=10)

Sleep = Callable[[float], Awaitable[None]]


def _ts_order(ts: str) -> Decimal:
    try:
        return Decimal(ts)
    except ArithmeticError:
        return Decimal(0)


def _payload(message: dict[str, Any]) -> dict[str, Any]:
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return {}
    payload = metadata.get("event_payload")
    return payload if isinstance(payload, dict) else {}


def post_key(message: dict[str, Any]) -> str | None:
    """The outbox key a message was tagged with, if it is one of ours."""
    key = _payload(message).get("key")
    return key if isinstance(key, str) else None


def post_parts(message: dict[str, Any]) -> int:
    """How many messages the post tagged on this head has in all (1 unless a long digest)."""
    parts = _payload(message).get("parts")
    return parts if isinstance(parts, int) and parts > 1 else 1


def metadata_for(key: str, parts: int = 1) -> dict[str, Any]:
    payload: dict[str, Any] = {"key": key}
    if parts > 1:
        payload["parts"] = parts
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": payload}


@dataclass
class ThreadContents:
    keys: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)


# Connections in the pool beyond LEADERBOT_MAX_CONCURRENT_POSTS: for the reads (look-ups,
# threads, users) that run beside a fan-out.
EXTRA_CONNECTIONS = 10
WORKSPACE_RETRY_S = 60.0  # after a failed auth.test, permalinks are None this long


def connection_limit(settings: Settings) -> int:
    """The connection pool's size: every post that may run at once gets a connection."""
    return settings.max_concurrent_posts + EXTRA_CONNECTIONS


def permalink_for(workspace_url: str, channel_id: str, ts: str, thread_ts: str | None) -> str:
    """The link Slack's chat.getPermalink gives, built from what is known:
    https://<domain>.slack.com/archives/<channel>/p<ts without the dot> (and, for a reply in a
    thread, ?thread_ts=<parent>&cid=<channel>)."""
    link = f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts is not None and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


# Slack channel ids: C… (public), G… (private, older), D… (direct). Names are lower case, so
# they never match.
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")


@dataclass
class _WorkspaceLink:
    """A workspace's URL ("https://<domain>.slack.com/"), from auth.test once per process:
    permalinks are built from it, with no call per post."""

    url: str | None = None
    lookup: asyncio.Future[str | None] | None = None
    retry_at: float = 0.0  # after a failed auth.test, not before (loop time)


# How many installed workspaces are asked whether they have a channel whose workspace is
# not recorded (one set from the CLI), before giving up.
PROBE_LIMIT = 50


def workspace_tokens(
    settings: Settings, db: Database, session: aiohttp.ClientSession | None = None
) -> WorkspaceTokens:
    """Many workspaces: the installations' tokens (the key is checked here: SecretKeyError)."""
    store = DatabaseInstallationStore(db, TokenCipher(settings.secret(settings.secret_key)))
    rotator = AsyncTokenRotator(
        client_id=settings.slack_client_id or "",
        client_secret=settings.secret(settings.slack_client_secret) or "",
        client=build_web_client(settings, session=session),
    )
    return WorkspaceTokens(store, rotator)


class SlackPlatform(ChatPlatform):
    name = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        sleep: Sleep = asyncio.sleep,
        read_attempts: int = READ_ATTEMPTS,
        page_size: int = PAGE_SIZE,
        post_interval: float = POST_INTERVAL_S,
        tokens: WorkspaceTokens | None = None,
        db: Database | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # One workspace: `client` carries SLACK_BOT_TOKEN. Many: `client` carries no token,
        # and each call goes out with the token of the workspace of its channel (`tokens`,
        # the channel's workspace read from `db`).
        self.client = client
        self.tokens = tokens
        self.db = db
        if tokens is not None and db is None:
            raise ValueError("many workspaces need the database (which channel is where)")
        self._links: dict[str, _WorkspaceLink] = {}
        # The channels the bot is known to be in: `ensure_channel` skips the join there.
        self.memberships = Memberships(clock=clock)
        self._channel_teams: dict[str, str] = {}
        self._channel_teams_loaded: asyncio.Future[None] | None = None
        self._sleep = sleep
        self._read_attempts = read_attempts
        self._page_size = page_size
        # Between the messages of one multi-message post (a long digest's continuations).
        self.post_interval = post_interval

    @classmethod
    def from_settings(
        cls, settings: Settings, *, db: Database | None = None, **kwargs: Any
    ) -> SlackPlatform:
        """A platform whose client opens a connection per call: nothing to close."""
        kwargs.setdefault("post_interval", settings.per_channel_interval_s)
        if settings.slack_oauth and db is not None:
            kwargs.setdefault("tokens", workspace_tokens(settings, db))
        return cls(build_web_client(settings), db=db, **kwargs)

    @classmethod
    @asynccontextmanager
    async def pooled(
        cls,
        settings: Settings,
        *,
        request_timeout: float = DEFAULT_TIMEOUT_S,
        db: Database | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[SlackPlatform]:
        """A platform sharing one connection pool (much faster for a fan-out), closed on exit.
        slack_sdk ignores its own timeout when given a session, so the session carries it.
        The pool holds as many connections as posts may run at once
        (LEADERBOT_MAX_CONCURRENT_POSTS), and a few more for the reads that run beside them:
        aiohttp's default of 100 would otherwise cap that setting silently."""
        kwargs.setdefault("post_interval", settings.per_channel_interval_s)
        connector = aiohttp.TCPConnector(limit=connection_limit(settings), limit_per_host=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=request_timeout)
        ) as session:
            if settings.slack_oauth and db is not None:
                kwargs.setdefault("tokens", workspace_tokens(settings, db, session))
            yield cls(
                build_web_client(settings, timeout=request_timeout, session=session),
                db=db,
                **kwargs,
            )

    # ------------------------------------------------------------------ whose token

    def _client_with(self, token: str) -> AsyncWebClient:
        """A client for one workspace's token, sharing the base client's pool and settings."""
        base = self.client
        return AsyncWebClient(
            token=token,
            base_url=base.base_url,
            timeout=base.timeout,
            session=base.session,
            retry_handlers=base.retry_handlers,
        )

    async def api(
        self, channel_id: str | None = None, *, workspace_id: str | None = None
    ) -> AsyncWebClient:
        """The client to call Slack with about this channel (or workspace): the one token of
        a single-workspace install, or the token of the workspace the channel is in."""
        return (await self._scoped(channel_id, workspace_id=workspace_id))[1]

    async def _scoped(
        self, channel_id: str | None = None, *, workspace_id: str | None = None
    ) -> tuple[str | None, AsyncWebClient]:
        """`api`'s client, with the workspace whose token it carries (None: the one token)."""
        if self.tokens is None:
            return None, self.client
        team = workspace_id
        if team is None and channel_id is not None:
            team = await self.workspace_of(channel_id)
        if team is None:
            team = acting_workspace.get() or await self._only_workspace()
        if team is None:
            raise PermanentFailure(
                "which Slack workspace this is for is not known: use a channel ID",
                code=NOT_INSTALLED,
            )
        return team, self._client_with(await self.tokens.token(team))

    async def _only_workspace(self) -> str | None:
        assert self.tokens is not None
        teams = await self.tokens.installed()
        return teams[0] if len(teams) == 1 else None

    async def workspace_of(self, channel_id: str) -> str | None:
        """The workspace a channel is in: recorded with the channel; else the workspace of
        the request being answered; else the installed workspace that can see it (asked,
        then recorded)."""
        if channel_id in self._channel_teams:
            return self._channel_teams[channel_id]
        assert self.db is not None and self.tokens is not None
        await self._channel_teams_read()
        if channel_id in self._channel_teams:
            return self._channel_teams[channel_id]
        async with self.db.read() as session:
            team = await session.scalar(
                select(Channel.workspace_id).where(Channel.id == channel_id)
            )
        if team is None:
            team = acting_workspace.get()
            if team is not None:
                return team  # not cached: the channel may be another workspace's
            team = await self._probe(channel_id)
            if team is None:
                return None
            await self._record(channel_id, team)
        self._channel_teams[channel_id] = team
        return team

    async def _channel_teams_read(self) -> None:
        """A fan-out meets thousands of channels at once: every recorded one in one read (a
        channel never changes workspace), not a read per channel; concurrent callers share it."""
        if self._channel_teams_loaded is None:
            self._channel_teams_loaded = asyncio.ensure_future(self._load_channel_teams())
        loading = self._channel_teams_loaded
        try:
            await asyncio.shield(loading)
        except Exception:
            if self._channel_teams_loaded is loading:
                self._channel_teams_loaded = None  # the next call tries again
            raise

    async def prepare(self, channel_ids: Collection[str]) -> None:
        """The tokens of every workspace these channels are recorded in, in one read (not a
        read per workspace as each post's token is first asked for). A channel not recorded
        is left to `workspace_of` (no call to Slack here)."""
        if self.tokens is None:
            return  # one shared token
        await self._channel_teams_read()
        teams = {self._channel_teams[c] for c in channel_ids if c in self._channel_teams}
        await self.tokens.preload(teams)

    async def _load_channel_teams(self) -> None:
        assert self.db is not None
        async with self.db.read() as session:
            rows = await session.execute(
                select(Channel.id, Channel.workspace_id).where(
                    Channel.platform == self.name, Channel.workspace_id.is_not(None)
                )
            )
            self._channel_teams.update({cid: team for cid, team in rows if team})

    async def _probe(self, channel_id: str) -> str | None:
        """Which installed workspace has this channel (conversations.info with each token)."""
        assert self.tokens is not None
        teams = await self.tokens.installed()
        for team in teams[:PROBE_LIMIT]:
            client = self._client_with(await self.tokens.token(team))
            try:
                await call(client.conversations_info(channel=channel_id))
            except PermanentFailure as exc:
                if exc.code in (CHANNEL_NOT_FOUND, NOT_INSTALLED):
                    continue
                return team  # it exists there (not_in_channel and the like)
            return team
        return None

    async def _record(self, channel_id: str, team: str) -> None:
        assert self.db is not None
        async with self.db.write() as session:
            channel = await session.get(Channel, channel_id)
            if channel is not None and channel.workspace_id is None:
                channel.workspace_id = team

    def owns(self, channel_id: str) -> bool:
        return CHANNEL_ID.fullmatch(channel_id) is not None

    def channel_id_problem(self, channel_id: str) -> str | None:
        # A name would post, but replies and look-ups (reported by id) would never match it.
        if self.owns(channel_id):
            return None
        return (
            f"{channel_id!r} is not a Slack channel ID: use the ID, e.g. C0123ABCD "
            "(channel name → About → Channel ID)"
        )

    # ------------------------------------------------------------------ writes

    async def post(
        self,
        channel_id: str,
        content: Content,
        *,
        key: str,
        thread_id: str | None = None,
        still_ours: StillOurs | None = None,
    ) -> Sent:
        if isinstance(content, DigestPost):
            return await self._post_digest(
                channel_id, content, key=key, thread_ts=thread_id, still_ours=still_ours
            )
        channel, ts = await self.send(channel_id, render(content), key=key, thread_ts=thread_id)
        return Sent(channel, ts, await self.permalink(channel, ts, thread_ts=thread_id))

    async def send(
        self,
        channel_id: str,
        message: SlackMessage,
        *,
        key: str,
        thread_ts: str | None = None,
        parts: int = 1,
    ) -> tuple[str, str]:
        """One chat.postMessage, tagged with `key`; returns (channel, ts). No retries.
        A post proves the bot is in the channel (or, failing for that reason, that it is not)."""
        team, client = await self._scoped(channel_id)
        try:
            response = await call(
                client.chat_postMessage(
                    channel=channel_id,
                    text=message["text"],
                    blocks=message["blocks"],
                    thread_ts=thread_ts,
                    # Links from feeds must not expand into previews; no link_names/parse=full.
                    unfurl_links=False,
                    unfurl_media=False,
                    metadata=metadata_for(key, parts),
                )
            )
        except PlatformError as exc:
            if gone(exc):
                self.memberships.forget(team, channel_id)
            raise
        self.memberships.remember(team, channel_id)
        return str(response.get("channel") or channel_id), str(response["ts"])

    # ------------------------------------------------------------------ digests

    async def _post_digest(
        self,
        channel_id: str,
        content: DigestPost,
        *,
        key: str,
        thread_ts: str | None,
        still_ours: StillOurs | None = None,
    ) -> Sent:
        """The head (tagged `key`, with the number of parts), each continuation in the
        head's thread, then the chart. Resumes a digest whose head is already in Slack."""
        messages = digest_messages(content.digest, translator(content.language))
        # The digest is posted after its window ends: no earlier message can carry its key.
        since = content.digest.window.end
        head = await self.find_message(channel_id, key, since, thread_ts=thread_ts)
        if head is not None:
            channel, head_ts = channel_id, str(head["ts"])
            log.info("digest %s: head already in Slack (ts %s), resuming", key, head_ts)
        else:

            async def find_head() -> tuple[str, str] | None:
                found = await self.find_message(channel_id, key, since, thread_ts=thread_ts)
                return None if found is None else (channel_id, str(found["ts"]))

            channel, head_ts = await multipart.send_head(
                lambda: self.send(
                    channel_id, messages[0], key=key, thread_ts=thread_ts, parts=len(messages)
                ),
                find_head,
                key,
            )
        parent = thread_ts or head_ts
        there = (
            await self.thread_contents(channel, parent, since)
            if head is not None
            else ThreadContents()
        )
        missing: list[int] = []
        for number, message in enumerate(messages[1:], start=2):
            part_key = f"{key}#{number}"
            if part_key in there.keys:
                continue
            try:
                posted = await self._post_part(
                    channel, message, part_key, parent, since, still_ours
                )
            except multipart.TakenOver:
                # Another sender took the post over (and resumes it): stop here.
                log.warning("digest %s: taken over by another sender at part %d", key, number)
                return Sent(channel, head_ts, None, complete=False)
            if not posted:
                missing.append(number)
        if still_ours is not None and not await still_ours():
            return Sent(channel, head_ts, None, complete=False)
        if content.chart_png and CHART_FILENAME not in there.files:
            await self._upload_chart(channel, content, parent)
        if missing and f"{key}#missing" not in there.keys:
            await self._report_missing(channel, content, key, parent, missing, len(messages))
        return Sent(channel, head_ts, await self.permalink(channel, head_ts, thread_ts=thread_ts))

    async def _post_part(
        self,
        channel: str,
        message: SlackMessage,
        key: str,
        parent: str,
        since: datetime,
        still_ours: StillOurs | None,
    ) -> bool:
        async def is_there() -> bool:
            return await self.find_message(channel, key, since, thread_ts=parent) is not None

        return await multipart.send_part(
            key=key,
            send=lambda: self.send(channel, message, key=key, thread_ts=parent),
            is_there=is_there,
            sleep=self._sleep,
            still_ours=still_ours,
            pause_s=self.post_interval,
        )

    async def _upload_chart(self, channel: str, content: DigestPost, parent: str) -> None:
        """The participation chart in the thread. A failure is logged, never raised."""
        chart = FileUpload(
            filename=CHART_FILENAME,
            data=content.chart_png,
            title=translator(content.language).gettext(CHART_TITLE),
            alt_text=content.chart_alt,
        )
        for attempt in range(1, multipart.PART_ATTEMPTS + 1):
            try:
                await self.upload(channel, chart, thread_ts=parent)
                return
            except RateLimited as exc:
                if (
                    exc.retry_after > multipart.LONGEST_PART_WAIT_S
                    or attempt == multipart.PART_ATTEMPTS
                ):
                    break
                await self._sleep(exc.retry_after)
            except DeliveryUnknown as exc:
                # Only a failed upload step is safe to repeat; a lost completion may have
                # shared the file, and a second chart is worse than none.
                if exc.code != "upload_failed" or attempt == multipart.PART_ATTEMPTS:
                    log.warning("digest chart in %s/%s: %s (not retried)", channel, parent, exc)
                    return
                await self._sleep(min(0.5 * 2**attempt, 8.0))
            except PlatformError as exc:
                log.warning("digest chart in %s/%s not uploaded: %s", channel, parent, exc)
                return
        log.warning("digest chart in %s/%s not uploaded: rate limited", channel, parent)

    async def _report_missing(
        self,
        channel: str,
        content: DigestPost,
        key: str,
        parent: str,
        missing: list[int],
        total: int,
    ) -> None:
        """Never truncate silently: say in the thread what is missing and where to get it."""
        command = escape_mrkdwn(multipart.full_digest_command(content.digest))
        text = multipart.missing_parts_text(
            content.digest, missing, total, f"`{command}`", translator(content.language)
        )
        numbers = ", ".join(str(n) for n in missing)
        log.error("digest %s in %s: parts %s of %d missing", key, channel, numbers, total)
        try:
            await self.send(
                channel,
                {
                    "text": text,
                    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                },
                key=f"{key}#missing",
                thread_ts=parent,
            )
        except PlatformError as exc:
            log.error("could not say in %s/%s that parts are missing: %s", channel, parent, exc)

    async def permalink(
        self, channel_id: str, ts: str, *, thread_ts: str | None = None
    ) -> str | None:
        """The message's permalink, built from the workspace's URL (auth.test, once per
        process) with no call per message; None if the workspace cannot be told: a post must
        not fail because of its link."""
        try:
            client = await self.api(channel_id)
        except PlatformError:
            return None
        # One auth.test per workspace (its tokens change as they are renewed).
        team = await self.workspace_of(channel_id) if self.tokens is not None else None
        workspace_url = await self.workspace_url(client, key=team)
        if workspace_url is None:
            return None
        return permalink_for(workspace_url, channel_id, ts, thread_ts)

    async def message_link(
        self, channel_id: str, message_id: str, *, thread_id: str | None = None
    ) -> str | None:
        return await self.permalink(channel_id, message_id, thread_ts=thread_id)

    async def workspace_url(
        self, client: AsyncWebClient | None = None, *, key: str | None = None
    ) -> str | None:
        """The URL of the workspace of `client`'s token from auth.test, asked once
        (concurrent callers share the one call); None if auth.test fails, and then not asked
        again for WORKSPACE_RETRY_S (an outage must not add a call to every post)."""
        client = client or self.client
        link = self._links.setdefault(key or client.token or "", _WorkspaceLink())
        if link.url is not None:
            return link.url
        loop = asyncio.get_running_loop()
        if link.lookup is None or link.lookup.done():
            if loop.time() < link.retry_at:
                return None
            link.lookup = asyncio.ensure_future(self._auth_test_url(client))
        url = await asyncio.shield(link.lookup)
        if url is None:
            link.retry_at = loop.time() + WORKSPACE_RETRY_S
        else:
            link.url = url
        return url

    async def _auth_test_url(self, client: AsyncWebClient) -> str | None:
        try:
            response = await call(client.auth_test())
        except PlatformError as exc:
            log.warning("no permalinks for now: auth.test failed: %s", exc)
            return None
        url = response.get("url")
        if not isinstance(url, str) or not url.startswith("https://"):
            log.warning("no permalinks: auth.test gave no workspace URL (%r)", url)
            return None
        return url

    async def upload(self, channel_id: str, upload: FileUpload, *, thread_ts: str | None) -> None:
        client = await self.api(channel_id)
        await call(
            client.files_upload_v2(
                channel=channel_id,
                file=upload.data,
                filename=upload.filename,
                title=upload.title,
                alt_txt=upload.alt_text or None,
                thread_ts=thread_ts,
            )
        )

    async def ensure_channel(self, channel_id: str) -> None:
        """Join the channel, unless this process knows the bot is in it (`memberships`)."""
        team, client = await self._scoped(channel_id)
        if self.memberships.known(team, channel_id):
            return
        try:
            await call(client.conversations_join(channel=channel_id))
        except PermanentFailure as exc:
            if exc.code != NEEDS_INVITE:
                raise
            # A private channel cannot be joined, only invited to: fine if that happened.
            if not await self._is_member(channel_id):
                raise PermanentFailure(f"private channel: {INVITE_HINT}", code=exc.code) from exc
        self.memberships.remember(team, channel_id)

    async def _is_member(self, channel_id: str) -> bool:
        client = await self.api(channel_id)
        try:
            response = await self._read(lambda: client.conversations_info(channel=channel_id))
        except PermanentFailure:
            return False
        return bool((response.get("channel") or {}).get("is_member"))

    # ------------------------------------------------------------------ reads

    async def _read(self, request: Callable[[], Awaitable[Any]]) -> Any:
        """Run an idempotent call, waiting out rate limits at most `read_attempts` times."""
        for attempt in range(1, self._read_attempts + 1):
            try:
                return await call(request())
            except RateLimited as exc:
                if attempt == self._read_attempts:
                    raise
                log.info("Slack rate limit on a read; waiting %.1f s", exc.retry_after)
                await self._sleep(exc.retry_after)
        raise AssertionError("unreachable")

    async def _pages(self, request: Callable[[str | None], Awaitable[Any]], field: str) -> list:
        """Every item of a cursor-paginated method, following next_cursor."""
        items: list = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            response = await self._read(lambda c=cursor: request(c))
            items.extend(response.get(field) or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None or cursor in seen:  # a repeated cursor would loop forever
                return items
            seen.add(cursor)

    async def find_post(
        self, channel_id: str, key: str, since: datetime, *, thread_id: str | None = None
    ) -> Sent | None:
        """Our message tagged `key` in the channel's top level since `since`.

        A post made into a thread (a nudge, a digest reply) is only in that thread: pass its
        `thread_ts` to look there instead; the channel history does not list thread replies.

        A long digest whose continuations are not all in its thread is answered with
        `complete=False`: the outbox then calls `post` again, which finds the head itself and
        posts only the missing parts (never the head twice).
        """
        message = await self.find_message(channel_id, key, since, thread_ts=thread_id)
        if message is None:
            return None
        ts = str(message["ts"])
        parts = post_parts(message)
        if parts > 1:
            keys = (await self.thread_contents(channel_id, thread_id or ts, since)).keys
            missing = [n for n in range(2, parts + 1) if f"{key}#{n}" not in keys]
            if missing:
                log.info("post %s is in Slack but parts %s are not: not complete", key, missing)
                return Sent(channel_id, ts, None, complete=False)
        return Sent(channel_id, ts, await self.permalink(channel_id, ts, thread_ts=thread_id))

    async def find_message(
        self, channel_id: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> dict[str, Any] | None:
        """The raw message tagged `key` (top level, or in `thread_ts`'s thread), if any."""
        for message in await self._tagged_messages(channel_id, since, thread_ts):
            if post_key(message) == key:
                return message
        return None

    async def thread_contents(
        self, channel_id: str, thread_ts: str, since: datetime
    ) -> ThreadContents:
        """The keys our messages in a thread carry, and the names of the files in it."""
        contents = ThreadContents()
        for message in await self._tagged_messages(channel_id, since, thread_ts):
            key = post_key(message)
            if key is not None:
                contents.keys.add(key)
            for file in message.get("files") or []:
                if isinstance(file, dict) and isinstance(file.get("name"), str):
                    contents.files.add(file["name"])
        return contents

    async def _tagged_messages(
        self, channel_id: str, since: datetime, thread_ts: str | None
    ) -> list[dict[str, Any]]:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        oldest = f"{max(0.0, (since - CLOCK_SKEW_MARGIN).timestamp()):.6f}"
        client = await self.api(channel_id)
        if thread_ts is None:
            messages = await self._pages(
                lambda cursor: client.conversations_history(
                    channel=channel_id,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=self._page_size,
                    cursor=cursor,
                ),
                "messages",
            )
        else:
            messages = await self._pages(
                lambda cursor: client.conversations_replies(
                    channel=channel_id,
                    ts=thread_ts,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=self._page_size,
                    cursor=cursor,
                ),
                "messages",
            )
        return [m for m in messages if isinstance(m, dict)]

    async def fetch_thread(self, channel_id: str, thread_id: str) -> list[ThreadMessage]:
        client = await self.api(channel_id)
        messages = await self._pages(
            lambda cursor: client.conversations_replies(
                channel=channel_id, ts=thread_id, limit=self._page_size, cursor=cursor
            ),
            "messages",
        )
        replies: dict[str, ThreadMessage] = {}
        for message in messages:
            ts = str(message.get("ts") or "")
            posted_at = ts_to_datetime(ts)
            if posted_at is None or ts == thread_id or ts in replies:  # the parent; overlaps
                continue
            replies[ts] = ThreadMessage(
                message_id=ts,
                user_id=message.get("user"),
                text=unescape(str(message.get("text") or "")),
                posted_at=posted_at,
                edited="edited" in message,
                is_bot=bool(message.get("bot_id")) or message.get("subtype") == "bot_message",
            )
        return sorted(replies.values(), key=lambda m: _ts_order(m.message_id))

    async def user_info(self, user_id: str, *, channel_id: str | None = None) -> UserInfo:
        client = (
            await self.api(channel_id)
            if channel_id is not None
            else await self.api(workspace_id=await self._workspace_of_user(user_id))
        )
        response = await self._read(lambda: client.users_info(user=user_id))
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        display = (
            profile.get("display_name")
            or user.get("real_name")
            or profile.get("real_name")
            or user.get("name")
            or user_id
        )
        return UserInfo(
            id=str(user.get("id") or user_id),
            display_name=str(display),
            is_admin=bool(user.get("is_admin")),
            is_owner=bool(user.get("is_owner") or user.get("is_primary_owner")),
            is_guest=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
            deleted=bool(user.get("deleted")),
            workspace_id=user.get("team_id"),
        )

    async def _workspace_of_user(self, user_id: str) -> str | None:
        """Many workspaces, no channel named: the workspace of the request being answered,
        else the one the user was last seen in."""
        if self.tokens is None or self.db is None:
            return None
        team = acting_workspace.get()
        if team is not None:
            return team
        async with self.db.read() as session:
            return await session.scalar(select(ChatUser.workspace_id).where(ChatUser.id == user_id))

    async def member_count(self, channel_id: str) -> int | None:
        """Slack's num_members, less this bot. Other bots are counted: telling them apart
        would cost a users.info call per member. None when Slack will not say."""
        try:
            client = await self.api(channel_id)
            response = await self._read(
                lambda: client.conversations_info(channel=channel_id, include_num_members=True)
            )
        except PermanentFailure as exc:
            log.warning("no member count for %s: %s", channel_id, exc)
            return None
        channel = response.get("channel") or {}
        count = channel.get("num_members")
        if not isinstance(count, int):
            return None
        return max(0, count - 1) if channel.get("is_member") else count
