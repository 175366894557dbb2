"""The `/leadership` slash command in Slack.

Slack wants an answer within 3 seconds, so the command is acknowledged first (an empty ack:
nothing shows yet) and the work happens after; the answer then goes to the person alone,
through the command's response_url (it works in any channel, even one the bot is not in),
or chat.postEphemeral if that fails (one pooled HTTP session for every response_url, not a
connection per answer). Only a question or a digest is posted for everyone. A replay another
process has seen is dropped right after the ack (replays.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable
from datetime import date
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.domain.command_grammar import SLASH
from bot.domain.parsing import parse_zone
from bot.domain.schedule import NATIONS, bank_holiday
from bot.platforms.slack.blocks import escape_mrkdwn, link
from bot.platforms.slack.command_text import command_words
from bot.platforms.slack.replays import first_time
from bot.services.admin import Invocation, Outcome, Style, run, went_wrong
from bot.services.channels import ChannelFacts, facts_of
from bot.services.context import Context

log = logging.getLogger(__name__)

RESPONSE_TIMEOUT_S = 10


# mrkdwn: channels and people as mentions (shown as names, no notification in a reply only
# the sender sees), and whatever came from outside escaped.
def _actor(actor: str) -> str:
    """An audit entry's actor: a Slack user id (U…, W…) as a mention, anything else ("cli",
    "catalogue") as text."""
    return f"<@{actor}>" if actor[:1] in ("U", "W") else escape_mrkdwn(actor)


SLACK_STYLE = Style(
    channel=lambda channel_id: f"<#{channel_id}>",
    user=lambda user_id: f"<@{user_id}>",
    escape=escape_mrkdwn,
    bold=lambda text: f"*{text}*",
    link=lambda url, label: link(url, label),
    actor=_actor,
)
PLATFORM_LABEL = "Slack"


def invocation(body: dict[str, Any]) -> Invocation:
    return Invocation(
        user_id=str(body.get("user_id") or ""),
        channel_id=str(body.get("channel_id") or ""),
        workspace_id=body.get("team_id") or None,
        channel_name=body.get("channel_name") or None,
        style=SLACK_STYLE,
        read=command_words,
        platform_label=PLATFORM_LABEL,
    )


class ResponseUrls:
    """One aiohttp session (a pool of kept-alive connections) for every response_url answer,
    made on first use in the running loop; `close()` when the app stops."""

    def __init__(self, timeout_s: float = RESPONSE_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def webhook(self, url: str) -> AsyncWebhookClient:
        if self._session is None or self._session.closed:
            # slack_sdk applies no timeout of its own to a session it is given.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return AsyncWebhookClient(url=url, timeout=int(self.timeout_s), session=self._session)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def answer(
    ctx: Context,
    body: dict[str, Any],
    client: AsyncWebClient,
    urls: ResponseUrls,
    typed_in: Awaitable[ChannelFacts] | None = None,
) -> Outcome:
    """Run the command (after the ack) and send the reply to the person who typed it.
    `typed_in`: the read of the channel it was typed in, if already started."""
    try:
        outcome = await run(ctx, str(body.get("text") or ""), invocation(body), typed_in=typed_in)
    except Exception:
        log.exception("/leadership %r failed", body.get("text"))
        channel = str(body.get("channel_id") or "")
        outcome = Outcome(await went_wrong(ctx, channel, f"`{SLASH} status`"), ok=False)
    await reply(client, body, outcome.text, urls)
    return outcome


async def reply(
    client: AsyncWebClient, body: dict[str, Any], text: str, urls: ResponseUrls
) -> bool:
    """An ephemeral reply: response_url first, chat.postEphemeral if that fails."""
    url = body.get("response_url")
    if url:
        try:
            webhook = urls.webhook(str(url))
            response = await webhook.send_dict({"response_type": "ephemeral", "text": text})
            if response.status_code == 200:
                return True
            log.warning("response_url answered HTTP %s: %s", response.status_code, response.body)
        except (aiohttp.ClientError, TimeoutError, OSError, SlackClientError) as exc:
            log.warning("response_url failed (%s): trying chat.postEphemeral", exc)
    try:
        await client.chat_postEphemeral(
            channel=str(body.get("channel_id") or ""),
            user=str(body.get("user_id") or ""),
            text=text,
        )
        return True
    except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.error("could not answer /leadership: %s", exc)
        return False


def warm_caches() -> None:
    """Build the slow pure tables (time-zone names, bank holidays) before the first command
    needs them: built inside a command, they hold up every other request for ~70 ms."""
    parse_zone("London")
    year = date.today().year
    for nation in NATIONS:
        for y in (year, year + 1):
            bank_holiday(nation, date(y, 1, 1))


def register(app: AsyncApp, ctx: Context) -> ResponseUrls:
    """The /leadership listener; returns its response_url session, to close on stop."""
    # In a thread, so start-up is not delayed; the GIL is shared in small slices.
    threading.Thread(target=warm_caches, name="leaderbot-warm-caches", daemon=True).start()
    urls = ResponseUrls()

    @app.command(SLASH)
    async def leadership(
        ack: Any, command: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()  # first: Slack shows an error if no ack comes within 3 s
        # What the command needs first (the channel's language and workspace) is read while
        # the replay check writes: neither waits for the other.
        typed_in = asyncio.ensure_future(facts_of(ctx, str(command.get("channel_id") or "")))
        try:
            if await first_time(context):  # not a replay another process has carried out
                await answer(ctx, command, client, urls, typed_in)
        finally:
            # Not needed after all (a replay, or the check failed): never left unawaited.
            if not typed_in.done():
                typed_in.cancel()
            await asyncio.gather(typed_in, return_exceptions=True)

    return urls
