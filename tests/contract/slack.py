"""Slack's harness: SlackPlatform (pooled, real slack_sdk over HTTP) against FakeSlack."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.platforms.slack.platform import SlackPlatform, post_key
from tests.conftest import make_settings
from tests.contract.harness import Harness, Seen
from tests.fakes.slack_api import DropAfterAccept, FakeMessage, FakeSlack, RateLimit

CHANNEL = "C0CONTRACT"
PAGE_SIZE = 40  # the adapter's page size, small so that threads take several pages
FAKE_PAGE_CAP = 100  # the most the fake hands back per page

# Slack's limits (docs.slack.dev, Block Kit and chat.postMessage).
MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
TEXT_LIMIT = 40_000

# <target|label> or <target>: Slack's control sequences in mrkdwn.
_CONTROL_SEQ = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_BARE_URL = re.compile(r"https?://", re.IGNORECASE)
_AUTO_MENTION = re.compile(r"@(everyone|channel|here)\b")


def slack_escape(text: str) -> str:
    """What Slack stores for what a person typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn_to_plain(text: str) -> str:
    """What a reader sees: <url|label> shows the label, <url> the url; entities undone."""

    def visible(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        return label if label is not None else target

    return unescape(_CONTROL_SEQ.sub(visible, text))


def text_objects(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every text object of the blocks (header, section text and fields, context elements)."""
    found: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            found.append(block["text"])
        for item in [*(block.get("fields") or []), *(block.get("elements") or [])]:
            if isinstance(item, dict) and item.get("type") in ("mrkdwn", "plain_text"):
                found.append(item)
    return found


class SlackHarness(Harness):
    name = "slack"
    unknown_channel_id = "C0NOSUCHCHANNEL"
    missing_thread_id = "1000000000.000001"
    max_message_chars = TEXT_LIMIT

    def __init__(self, platform: SlackPlatform, fake: FakeSlack) -> None:
        self.platform = platform
        self.fake = fake
        self.channel_id = CHANNEL
        self._people = 0

    # ------------------------------------------------------------------ people

    async def user_says(self, thread_id: str, user_id: str, text: str) -> str:
        if user_id not in self.fake.users:
            self.fake.add_user(user_id, user_id.lower())
        self.fake.channels[self.channel_id].members.add(user_id)
        message = self.fake.add_message(
            self.channel_id, slack_escape(text), user=user_id, thread_ts=thread_id
        )
        return message.ts

    async def add_people(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            self._people += 1
            user = self.fake.add_user(
                f"U0P{self._people:05d}",
                f"person{self._people}",
                real_name=f"Person {self._people} Real",
                display_name=f"Person {self._people}",
            )
            self.fake.channels[self.channel_id].members.add(user.id)
            ids.append(user.id)
        return ids

    def expected_member_count(self) -> int | None:
        members = self.fake.channels[self.channel_id].members
        return len(members - {FakeSlack.BOT_USER_ID})

    def display_name_of(self, user_id: str) -> str | None:
        user = self.fake.users.get(user_id)
        return user.display_name if user else None

    # ------------------------------------------------------------------ faults

    async def make_uncertain_next_post(self) -> bool:
        self.fake.inject("chat.postMessage", DropAfterAccept())
        return True

    async def make_rate_limited_next_post(self, retry_after: float) -> bool:
        self.fake.inject("chat.postMessage", RateLimit(retry_after=retry_after))
        return True

    # ------------------------------------------------------------------ raw views

    async def messages_in_channel(self) -> list[Seen]:
        return [
            Seen(
                message_id=m.ts,
                thread_id=m.thread_ts if m.is_reply else None,
                by_bot=m.bot_id is not None,
                key=post_key({"metadata": m.metadata}) if m.metadata else None,
                raw=m,
            )
            for m in self.fake.messages(self.channel_id)
        ]

    def rendered_text(self, message: Seen) -> str:
        raw: FakeMessage = message.raw
        if not raw.blocks:
            return mrkdwn_to_plain(raw.text)
        lines = []
        for obj in text_objects(raw.blocks):
            text = str(obj.get("text", ""))
            lines.append(text if obj.get("type") == "plain_text" else mrkdwn_to_plain(text))
        return "\n".join(lines)

    def markup_problems(self, message: Seen, *, allowed_links: set[str]) -> list[str]:
        raw: FakeMessage = message.raw
        problems = [f"fallback text: {p}" for p in _mrkdwn_problems(raw.text, allowed_links)]
        for n, obj in enumerate(text_objects(raw.blocks or [])):
            text = str(obj.get("text", ""))
            if obj.get("type") != "mrkdwn":
                continue  # plain_text shows as it is
            problems += [f"text object {n}: {p}" for p in _mrkdwn_problems(text, allowed_links)]
            # Outside the bot's own links, a bare URL or @everyone/@channel/@here in mrkdwn is
            # auto-linked / parsed by Slack unless the text object says verbatim: true.
            outside = _CONTROL_SEQ.sub(" ", text)
            if not obj.get("verbatim") and (
                _BARE_URL.search(outside) or _AUTO_MENTION.search(outside)
            ):
                problems.append(
                    f"text object {n}: mrkdwn without verbatim: true shows a bare URL or "
                    f"@everyone/@channel/@here, which Slack auto-links/parses: {text[:160]!r}"
                )
        return problems

    def limit_problems(self, message: Seen) -> list[str]:
        raw: FakeMessage = message.raw
        problems = []
        if len(raw.text) > TEXT_LIMIT:
            problems.append(f"text of {len(raw.text)} chars > {TEXT_LIMIT}")
        blocks = raw.blocks or []
        if len(blocks) > MAX_BLOCKS:
            problems.append(f"{len(blocks)} blocks > {MAX_BLOCKS}")
        for n, block in enumerate(blocks):
            limit = HEADER_LIMIT if block.get("type") == "header" else SECTION_LIMIT
            for obj in text_objects([block]):
                size = len(str(obj.get("text", "")))
                if size > limit:
                    problems.append(f"block {n} ({block.get('type')}): {size} chars > {limit}")
        return problems


def _mrkdwn_problems(text: str, allowed_links: set[str]) -> list[str]:
    """Control sequences other than links to `allowed_links`, and unescaped & < >."""
    problems = []
    for match in _CONTROL_SEQ.finditer(text):
        target = unescape(match.group(1))
        if target.startswith(("!", "@", "#")):
            problems.append(f"control sequence {match.group(0)[:80]!r} (mention/special)")
        elif target not in allowed_links:
            problems.append(f"link to {target!r}")
    rest = _CONTROL_SEQ.sub(" ", text)
    if "<" in rest or ">" in rest:
        problems.append("unescaped < or >")
    if "&" in _ENTITY.sub("", rest):
        problems.append("unescaped &")
    return problems


@asynccontextmanager
async def slack_harness() -> AsyncIterator[SlackHarness]:
    async with FakeSlack(replies_page_size=FAKE_PAGE_CAP) as fake:
        fake.add_channel(CHANNEL, "leadership-contract")
        settings = make_settings(SLACK_BOT_TOKEN=fake.bot_token, SLACK_API_URL=fake.url)
        async with SlackPlatform.pooled(settings, page_size=PAGE_SIZE) as platform:
            yield SlackHarness(platform, fake)
