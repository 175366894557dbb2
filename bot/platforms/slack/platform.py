"""SlackPlatform: the ChatPlatform port over the Slack Web API.

Posts are tagged with message metadata {"event_type": "leaderbot_post", "event_payload":
{"key": <outbox key>}}, so that after a DeliveryUnknown the outbox can ask `find_post` whether
Slack has the message before sending it again.

Writes (post, upload, join) raise RateLimited to the caller, who owns the retry schedule.
Reads are idempotent, so they wait out Retry-After themselves, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.content import FileUpload, ThreadMessage, UserInfo
from bot.platforms.base import PermanentFailure, PlatformError, RateLimited, Sent
from bot.platforms.slack.blocks import render
from bot.platforms.slack.client import DEFAULT_TIMEOUT_S, INVITE_HINT, build_web_client, call
from bot.settings import Settings

log = logging.getLogger(__name__)

METADATA_EVENT_TYPE = "leaderbot_post"
PAGE_SIZE = 200  # Slack recommends at most 200 per page
READ_ATTEMPTS = 5
# Our clock and Slack's can disagree: look a little before `since` (the key decides anyway).
CLOCK_SKEW_MARGIN = timedelta(minutes=10)

Sleep = Callable[[float], Awaitable[None]]


def ts_to_datetime(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _ts_order(ts: str) -> Decimal:
    try:
        return Decimal(ts)
    except ArithmeticError:
        return Decimal(0)


def post_key(message: dict[str, Any]) -> str | None:
    """The outbox key a message was tagged with, if it is one of ours."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != METADATA_EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    key = payload.get("key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) else None


class SlackPlatform:
    name = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        sleep: Sleep = asyncio.sleep,
        read_attempts: int = READ_ATTEMPTS,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.client = client
        self._sleep = sleep
        self._read_attempts = read_attempts
        self._page_size = page_size

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> SlackPlatform:
        """A platform whose client opens a connection per call: nothing to close."""
        return cls(build_web_client(settings), **kwargs)

    @classmethod
    @asynccontextmanager
    async def pooled(
        cls, settings: Settings, *, request_timeout: float = DEFAULT_TIMEOUT_S, **kwargs: Any
    ) -> AsyncIterator[SlackPlatform]:
        """A platform sharing one connection pool (much faster for a fan-out), closed on exit.
        slack_sdk ignores its own timeout when given a session, so the session carries it."""
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=request_timeout)
        ) as session:
            yield cls(
                build_web_client(settings, timeout=request_timeout, session=session), **kwargs
            )

    # ------------------------------------------------------------------ writes

    async def post(
        self, channel_id: str, content: Any, *, key: str, thread_ts: str | None = None
    ) -> Sent:
        rendered = render(content)
        response = await call(
            self.client.chat_postMessage(
                channel=channel_id,
                text=rendered["text"],
                blocks=rendered["blocks"],
                thread_ts=thread_ts,
                # Links from feeds must not expand into previews; never link_names/parse=full.
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": METADATA_EVENT_TYPE, "event_payload": {"key": key}},
            )
        )
        channel = str(response.get("channel") or channel_id)
        ts = str(response["ts"])
        return Sent(channel, ts, await self.permalink(channel, ts))

    async def permalink(self, channel_id: str, ts: str) -> str | None:
        """The message's permalink, or None: a post must not fail because of its link."""
        try:
            response = await call(self.client.chat_getPermalink(channel=channel_id, message_ts=ts))
        except PlatformError as exc:
            log.warning("no permalink for %s/%s: %s", channel_id, ts, exc)
            return None
        link = response.get("permalink")
        return link if isinstance(link, str) else None

    async def upload(self, channel_id: str, upload: FileUpload, *, thread_ts: str | None) -> None:
        await call(
            self.client.files_upload_v2(
                channel=channel_id,
                file=upload.data,
                filename=upload.filename,
                title=upload.title,
                alt_txt=upload.alt_text or None,
                thread_ts=thread_ts,
            )
        )

    async def join(self, channel_id: str) -> None:
        try:
            await call(self.client.conversations_join(channel=channel_id))
        except PermanentFailure as exc:
            if exc.code != "method_not_supported_for_channel_type":
                raise
            # A private channel cannot be joined, only invited to: fine if that happened.
            if not await self._is_member(channel_id):
                raise PermanentFailure(f"private channel: {INVITE_HINT}", code=exc.code) from exc

    async def _is_member(self, channel_id: str) -> bool:
        try:
            response = await self._read(lambda: self.client.conversations_info(channel=channel_id))
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
        self, channel_id: str, key: str, since: datetime, *, thread_ts: str | None = None
    ) -> Sent | None:
        """Our message tagged `key` in the channel's top level since `since`.

        A post made into a thread (a nudge, a digest reply) is only in that thread: pass its
        `thread_ts` to look there instead; the channel history does not list thread replies.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        oldest = f"{max(0.0, (since - CLOCK_SKEW_MARGIN).timestamp()):.6f}"
        if thread_ts is None:
            messages = await self._pages(
                lambda cursor: self.client.conversations_history(
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
                lambda cursor: self.client.conversations_replies(
                    channel=channel_id,
                    ts=thread_ts,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=self._page_size,
                    cursor=cursor,
                ),
                "messages",
            )
        for message in messages:
            if post_key(message) == key:
                ts = str(message["ts"])
                return Sent(channel_id, ts, await self.permalink(channel_id, ts))
        return None

    async def fetch_thread(self, channel_id: str, thread_ts: str) -> list[ThreadMessage]:
        messages = await self._pages(
            lambda cursor: self.client.conversations_replies(
                channel=channel_id, ts=thread_ts, limit=self._page_size, cursor=cursor
            ),
            "messages",
        )
        replies: dict[str, ThreadMessage] = {}
        for message in messages:
            ts = str(message.get("ts") or "")
            if not ts or ts == thread_ts or ts in replies:  # the parent; page overlaps
                continue
            replies[ts] = ThreadMessage(
                ts=ts,
                user_id=message.get("user"),
                text=str(message.get("text") or ""),
                edited="edited" in message,
                is_bot=bool(message.get("bot_id")) or message.get("subtype") == "bot_message",
                posted_at=ts_to_datetime(ts),
            )
        return sorted(replies.values(), key=lambda m: _ts_order(m.ts))

    async def user_info(self, user_id: str) -> UserInfo:
        response = await self._read(lambda: self.client.users_info(user=user_id))
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
            team_id=user.get("team_id"),
        )

    async def member_count(self, channel_id: str) -> int | None:
        """Slack's num_members, less this bot. Other bots are counted: telling them apart
        would cost a users.info call per member. None when Slack will not say."""
        try:
            response = await self._read(
                lambda: self.client.conversations_info(channel=channel_id, include_num_members=True)
            )
        except PermanentFailure as exc:
            log.warning("no member count for %s: %s", channel_id, exc)
            return None
        channel = response.get("channel") or {}
        count = channel.get("num_members")
        if not isinstance(count, int):
            return None
        return max(0, count - 1) if channel.get("is_member") else count
