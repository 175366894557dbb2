"""TeamsPlatform: the ChatPlatform port over the Bot Framework connector and Microsoft Graph.

Posting: a new thread in a channel is `POST {serviceUrl}v3/conversations` (isGroup, the
channel in channelData); a post in a thread goes to the conversation
"<channel>;messageid=<root>". Each message is an Adaptive Card tagged with its outbox key
(`cards.tag`), so that after a DeliveryUnknown the outbox's `find_post` can find it through
Graph (channel messages and thread replies, newest first, by this app, carrying the key).

A digest (`DigestPost`) is several messages: the head, tagged with the key and the number of
parts, then the continuations in the head's thread, tagged "<key>#<n>". Once the head is in
Teams the post counts as made: a continuation that still fails after its retries is reported
in the thread, never raised to the outbox (which would post the head again); posting the
digest again resumes it.

Which team a channel belongs to (its connector URL, Graph group id, tenant) comes from
`TeamsDirectory`, filled by inbound install and message activities.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.domain.content import Content, DigestPost, ThreadMessage, UserInfo
from bot.domain.language import translator
from bot.platforms import multipart
from bot.platforms.teams import cards
from bot.platforms.teams.digest_cards import digest_cards
from bot.platforms.teams.directory import TeamFacts, TeamsDirectory
from bot.platforms.teams.html_text import html_to_text
from bot.platforms.teams.http import INSTALL_HINT, Sleep, TeamsHttp, build_client
from bot.platforms.teams.ids import (
    is_channel_id,
    message_link,
    split_conversation_id,
    thread_conversation_id,
)
from bot.platforms.teams.pacing import ConversationPacer
from bot.platforms.teams.tokens import TokenProvider
from bot.port import (
    NOT_INSTALLED,
    ChatPlatform,
    DeliveryUnknown,
    PermanentFailure,
    PlatformError,
    Sent,
    StillOurs,
)
from bot.settings import Settings
from bot.store.db import Database

log = logging.getLogger(__name__)

GRAPH_PAGE_SIZE = 50  # Graph's largest $top for channel messages and replies
# Our clock and Microsoft's can disagree: look a little before `since` (the key decides).
CLOCK_SKEW_MARGIN = timedelta(minutes=10)
OWNER_ROLE = "owner"
GUEST_ROLE = "guest"


# The channel an @mention command was typed in, while it runs: the permission service asks
# `user_info(user)` without a channel, and team ownership depends on the team.
def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _id_order(message_id: str) -> int:
    return int(message_id) if message_id.isdigit() else 0


@dataclass
class _Found:
    message_id: str
    parts: int


@dataclass
class _ThreadKeys:
    keys: set[str] = field(default_factory=set)


class TeamsPlatform(ChatPlatform):
    name = "teams"
    standing_depends_on_channel = True  # owners own one team

    def __init__(
        self,
        api: TeamsHttp,
        directory: TeamsDirectory,
        *,
        app_id: str,
        tenant_id: str,
        default_service_url: str,
        pacer: ConversationPacer | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.api = api
        self.directory = directory
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.default_service_url = default_service_url
        self.pacer = pacer or ConversationPacer()
        self._sleep = sleep or api._sleep

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, db: Database, **kwargs: Any
    ) -> AsyncIterator[TeamsPlatform]:
        """A platform with its own connection pool, closed on exit."""
        if not settings.teams_configured:
            raise ValueError("Teams is not configured (TEAMS_APP_ID, TEAMS_APP_PASSWORD, …)")
        assert settings.teams_app_id and settings.teams_tenant_id  # by teams_configured
        async with build_client() as client:
            tokens = TokenProvider(
                client,
                login_url=settings.teams_login_url,
                tenant_id=settings.teams_tenant_id,
                app_id=settings.teams_app_id,
                app_password=settings.secret(settings.teams_app_password) or "",
            )
            api = TeamsHttp(client, tokens, graph_url=settings.teams_graph_url)
            yield cls(
                api,
                TeamsDirectory(db),
                app_id=settings.teams_app_id,
                tenant_id=settings.teams_tenant_id,
                default_service_url=settings.teams_service_url,
                **kwargs,
            )

    def owns(self, channel_id: str) -> bool:
        return is_channel_id(channel_id)

    def channel_id_problem(self, channel_id: str) -> str | None:
        if self.owns(channel_id):
            return None
        return (
            f"{channel_id!r} is not a Teams channel ID: use the ID in the channel's link "
            "(channel ⋯ → Get link to channel), e.g. 19:abc…@thread.tacv2"
        )

    # ------------------------------------------------------------------ where

    async def _team(self, channel_id: str) -> TeamFacts | None:
        return await self.directory.team_of(channel_id)

    async def _installed_team(self, channel_id: str) -> TeamFacts:
        team = await self._team(channel_id)
        if team is None or not team.installed:
            raise PermanentFailure(INSTALL_HINT, code=NOT_INSTALLED)
        return team

    def _link(self, channel_id: str, message_id: str, team: TeamFacts | None, root: str | None):
        if team is None:
            return None
        return message_link(
            channel_id, message_id, group_id=team.group_id, tenant_id=team.tenant_id, root_id=root
        )

    async def message_link(
        self, channel_id: str, message_id: str, *, thread_id: str | None = None
    ) -> str | None:
        return self._link(channel_id, message_id, await self._team(channel_id), thread_id)

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
                channel_id, content, key=key, thread_id=thread_id, still_ours=still_ours
            )
        card = cards.tag(cards.render(content), key)
        message_id = await self.send(channel_id, card, thread_id=thread_id)
        team = await self._team(channel_id)
        return Sent(channel_id, message_id, self._link(channel_id, message_id, team, thread_id))

    async def send(self, channel_id: str, card: cards.Card, *, thread_id: str | None) -> str:
        """One message: a new thread in the channel, or a reply in `thread_id`'s thread.
        Returns its message id. Tried once."""
        team = await self._team(channel_id)
        service_url = team.service_url if team else self.default_service_url
        tenant_id = team.tenant_id if team else self.tenant_id
        await self.pacer.wait(channel_id)
        if thread_id is None:
            body = {
                "isGroup": True,
                "channelData": {"channel": {"id": channel_id}, "tenant": {"id": tenant_id}},
                "tenantId": tenant_id,
                "activity": cards.activity(card),
            }
            answer = await self.api.connector_post(
                service_url, "v3/conversations", body, "new thread"
            )
            message_id = answer.get("activityId")
            if not isinstance(message_id, str) or not message_id:
                _, message_id = split_conversation_id(str(answer.get("id") or ""))
            if not message_id:
                # Posted, but where? The outbox looks it up by its key.
                raise DeliveryUnknown("new thread: the connector did not say the message id")
            return message_id
        conversation = thread_conversation_id(channel_id, thread_id)
        activity = {**cards.activity(card), "replyToId": thread_id}
        path = f"v3/conversations/{quote(conversation, safe=':@;=')}/activities"
        answer = await self.api.connector_post(service_url, path, activity, "reply in thread")
        message_id = answer.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise DeliveryUnknown("reply: the connector did not say the message id")
        return message_id

    # ------------------------------------------------------------------ digests

    async def _post_digest(
        self,
        channel_id: str,
        content: DigestPost,
        *,
        key: str,
        thread_id: str | None,
        still_ours: StillOurs | None,
    ) -> Sent:
        parts = digest_cards(content)
        since = content.digest.window.end  # posted after its window: nothing earlier has the key
        head = await self._find_message(channel_id, key, since, thread_id=thread_id)
        if head is not None:
            head_id = head.message_id
            log.info("digest %s: head already in Teams (%s), resuming", key, head_id)
        else:

            async def find_head() -> str | None:
                found = await self._find_message(channel_id, key, since, thread_id=thread_id)
                return None if found is None else found.message_id

            head_card = cards.tag(parts[0], key, len(parts))
            head_id = await multipart.send_head(
                lambda: self.send(channel_id, head_card, thread_id=thread_id), find_head, key
            )
        parent = thread_id or head_id
        there = await self._thread_keys(channel_id, parent, since) if head is not None else set()
        missing: list[int] = []
        for number, part in enumerate(parts[1:], start=2):
            part_key = f"{key}#{number}"
            if part_key in there:
                continue
            try:
                posted = await self._post_part(
                    channel_id, cards.tag(part, part_key), part_key, parent, since, still_ours
                )
            except multipart.TakenOver:
                log.warning("digest %s: taken over by another sender at part %d", key, number)
                return Sent(channel_id, head_id, None, complete=False)
            if not posted:
                missing.append(number)
        if missing and f"{key}#missing" not in there:
            await self._report_missing(channel_id, content, key, parent, missing, len(parts))
        team = await self._team(channel_id)
        return Sent(channel_id, head_id, self._link(channel_id, head_id, team, thread_id))

    async def _post_part(
        self,
        channel_id: str,
        card: cards.Card,
        key: str,
        parent: str,
        since: datetime,
        still_ours: StillOurs | None,
    ) -> bool:
        async def is_there() -> bool:
            found = await self._find_message(channel_id, key, since, thread_id=parent)
            return found is not None

        # Paced per message inside `send` (the connector's limits).
        return await multipart.send_part(
            key=key,
            send=lambda: self.send(channel_id, card, thread_id=parent),
            is_there=is_there,
            sleep=self._sleep,
            still_ours=still_ours,
        )

    async def _report_missing(
        self,
        channel_id: str,
        content: DigestPost,
        key: str,
        parent: str,
        missing: list[int],
        total: int,
    ) -> None:
        """Never truncate silently: say in the thread what is missing and how to get it."""
        numbers = ", ".join(str(n) for n in missing)
        command = multipart.full_digest_command(content.digest)
        text = multipart.missing_parts_text(
            content.digest, missing, total, command, translator(content.language)
        )
        log.error("digest %s in %s: parts %s of %d missing", key, channel_id, numbers, total)
        card = cards.tag(cards.card([cards.plain_text(text)], fallback=text), f"{key}#missing")
        try:
            await self.send(channel_id, card, thread_id=parent)
        except PlatformError as exc:
            log.error("could not say in %s/%s that parts are missing: %s", channel_id, parent, exc)

    # ------------------------------------------------------------------ look-ups (Graph)

    def _messages_path(self, team: TeamFacts, channel_id: str, root: str | None) -> str:
        path = f"teams/{quote(team.group_id, safe='')}/channels/{quote(channel_id, safe='')}"
        path += "/messages"
        if root is not None:
            path += f"/{quote(root, safe='')}/replies"
        return path

    def _ours(self, message: dict[str, Any]) -> bool:
        sender = message.get("from") or {}
        application = sender.get("application") if isinstance(sender, dict) else None
        return isinstance(application, dict) and application.get("id") == self.app_id

    @staticmethod
    def _tag_of(message: dict[str, Any]) -> tuple[str | None, int]:
        for attachment in message.get("attachments") or []:
            if isinstance(attachment, dict) and attachment.get("contentType") == (
                cards.ADAPTIVE_CARD
            ):
                key, parts = cards.read_tag(attachment.get("content"))
                if key is not None:
                    return key, parts
        return None, 1

    async def _tagged(
        self, channel_id: str, since: datetime, thread_id: str | None
    ) -> AsyncIterator[tuple[str, str, int]]:
        """(message id, key, parts) of this app's tagged messages since `since`, newest first.
        Graph lists newest-modified first, so the listing stops at the first older one."""
        team = await self._installed_team(channel_id)
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        oldest = since - CLOCK_SKEW_MARGIN
        items = self.api.graph_items(
            self._messages_path(team, channel_id, thread_id),
            "look-up" if thread_id is None else "thread look-up",
            {"$top": str(GRAPH_PAGE_SIZE)},
        )
        async for message in items:
            modified = _parse_time(message.get("lastModifiedDateTime")) or _parse_time(
                message.get("createdDateTime")
            )
            if modified is not None and modified < oldest:
                return
            if message.get("deletedDateTime") or not self._ours(message):
                continue
            key, parts = self._tag_of(message)
            if key is not None and isinstance(message.get("id"), str):
                yield message["id"], key, parts

    async def _find_message(
        self, channel_id: str, key: str, since: datetime, *, thread_id: str | None
    ) -> _Found | None:
        async for message_id, found_key, parts in self._tagged(channel_id, since, thread_id):
            if found_key == key:
                return _Found(message_id, parts)
        return None

    async def _thread_keys(self, channel_id: str, root: str, since: datetime) -> set[str]:
        return {key async for _, key, _ in self._tagged(channel_id, since, root)}

    async def find_post(
        self, channel_id: str, key: str, since: datetime, *, thread_id: str | None = None
    ) -> Sent | None:
        """This app's message tagged `key` since `since` (top level, or in `thread_id`'s
        thread). A digest whose parts are not all there answers complete=False: posting it
        again resumes it. Raises PlatformError when Graph cannot be read."""
        found = await self._find_message(channel_id, key, since, thread_id=thread_id)
        if found is None:
            return None
        team = await self._team(channel_id)
        link = self._link(channel_id, found.message_id, team, thread_id)
        if found.parts > 1:
            there = await self._thread_keys(channel_id, thread_id or found.message_id, since)
            missing = [n for n in range(2, found.parts + 1) if f"{key}#{n}" not in there]
            if missing:
                log.info("post %s is in Teams but parts %s are not: not complete", key, missing)
                return Sent(channel_id, found.message_id, link, complete=False)
        return Sent(channel_id, found.message_id, link)

    async def fetch_thread(self, channel_id: str, thread_id: str) -> list[ThreadMessage]:
        team = await self._installed_team(channel_id)
        replies: dict[str, ThreadMessage] = {}
        async for message in self.api.graph_items(
            self._messages_path(team, channel_id, thread_id),
            "thread",
            {"$top": str(GRAPH_PAGE_SIZE)},
        ):
            message_id = message.get("id")
            posted_at = _parse_time(message.get("createdDateTime"))
            if not isinstance(message_id, str) or posted_at is None or message_id == thread_id:
                continue
            if message.get("deletedDateTime"):
                continue  # soft-deleted: Graph still lists it, with an empty body
            sender = message.get("from") or {}
            user = sender.get("user") if isinstance(sender, dict) else None
            body = message.get("body") or {}
            content = body.get("content") if isinstance(body, dict) else ""
            is_html = isinstance(body, dict) and body.get("contentType") == "html"
            text = str(content or "")
            replies[message_id] = ThreadMessage(
                message_id=message_id,
                user_id=user.get("id") if isinstance(user, dict) else None,
                text=html_to_text(text) if is_html else text.strip(),
                posted_at=posted_at,
                edited=bool(message.get("lastEditedDateTime")),
                is_bot=not isinstance(user, dict) or message.get("messageType") != "message",
            )
        return sorted(replies.values(), key=lambda m: _id_order(m.message_id))

    async def _members(self, team: TeamFacts) -> AsyncIterator[dict[str, Any]]:
        async for member in self.api.graph_items(
            f"teams/{quote(team.group_id, safe='')}/members", "team members"
        ):
            yield member

    async def user_info(self, user_id: str, *, channel_id: str | None = None) -> UserInfo:
        """A person's standing in the team where `channel_id` is (the permission service says
        where the change is made): team owners may change settings, like Slack's workspace admins.
        Without a channel, an owner of any team the app is installed in counts as an owner."""
        if channel_id is not None:
            teams = [await self._installed_team(channel_id)]
        else:
            teams = await self.directory.installed_teams()
            if not teams:
                raise PermanentFailure(INSTALL_HINT, code=NOT_INSTALLED)
        found: UserInfo | None = None
        for team in teams:
            async for member in self._members(team):
                if member.get("userId") != user_id:
                    continue
                roles = [str(r).lower() for r in member.get("roles") or []]
                owner = OWNER_ROLE in roles
                info = UserInfo(
                    id=user_id,
                    display_name=str(member.get("displayName") or user_id),
                    is_admin=owner,
                    is_owner=owner,
                    is_guest=GUEST_ROLE in roles,
                    workspace_id=team.group_id,
                )
                if found is None or (owner and not found.is_owner):
                    found = info
                break
        # Not a member of the team: no standing there (LEADERBOT_ADMINS may still apply).
        return found or UserInfo(id=user_id, display_name=user_id)

    async def member_count(self, channel_id: str) -> int | None:
        """People in the channel's team (Graph's team members are people, not bots). For a
        private or shared channel this counts the team, not the channel."""
        try:
            team = await self._installed_team(channel_id)
            return sum([1 async for _ in self._members(team)])
        except PlatformError as exc:
            log.warning("no member count for %s: %s", channel_id, exc)
            return None

    async def ensure_channel(self, channel_id: str) -> None:
        """The app must be installed in the channel's team (a bot cannot join by itself)."""
        await self._installed_team(channel_id)
