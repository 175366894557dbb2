"""Teams' harness: TeamsPlatform (real httpx over HTTP) against FakeTeams, one installed team.

What the bot posts is an activity carrying one Adaptive Card (bot/platforms/teams/cards.py), so
the raw views read the card: TextBlocks (which Teams parses as a markdown subset) and the
TextRuns of RichTextBlocks (never parsed), hidden elements (the outbox tag) left out.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from bot.platforms.teams import cards
from bot.platforms.teams.digest_cards import MESSAGE_BUDGET_BYTES
from bot.platforms.teams.directory import TeamsDirectory
from bot.platforms.teams.http import TeamsHttp, build_client
from bot.platforms.teams.platform import TeamsPlatform
from bot.platforms.teams.tokens import TokenProvider
from bot.store.db import Database
from tests.contract.harness import Harness, Seen
from tests.fakes.teams_api import DropAfterAccept, FakeTeams, Message, RateLimit
from tests.teams_support import GROUP, LEADERS, no_wait, record_team, setup_team

# The adapter's own cap on one message: every activity's JSON, as sent, stays under it
# (bot/platforms/teams/digest_cards.py; Teams itself takes about 100 KB, older documents 40 KB).
ACTIVITY_LIMIT_BYTES = MESSAGE_BUDGET_BYTES

# A markdown link or image in a TextBlock: [label](target) or ![alt](target). Matched on the
# text with backslash-escaped characters blanked out, so an escaped bracket never counts.
_MD_LINK = re.compile(r"(!?)\[([^\]]*)\]\(\s*<?([^)\s>]*)")
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_AT_TAG = re.compile(r"<at\b", re.IGNORECASE)


def activity_bytes(activity: dict[str, Any]) -> int:
    """The activity's size as httpx sends it (compact UTF-8 JSON)."""
    return len(json.dumps(activity, ensure_ascii=False, separators=(",", ":")).encode())


def _blank_escapes(text: str) -> str:
    """The text with every backslash escape (and what it escapes) replaced by a space."""
    return _ESCAPED.sub("  ", text)


def markdown_to_plain(text: str) -> str:
    """What a reader sees of a TextBlock: links show their label, emphasis markers vanish,
    escapes show the character they escape."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        link = _MD_LINK.match(text, i)
        if link is not None and not link.group(1):
            out.append(link.group(2))
            end = text.find(")", link.end())
            i = end + 1 if end != -1 else len(text)
            continue
        if char in "*_":
            i += 1
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _walk(element: Any) -> Iterator[dict[str, Any]]:
    """Every visible element of a card, in reading order (containers, columns, inlines)."""
    if isinstance(element, list):
        for item in element:
            yield from _walk(item)
        return
    if not isinstance(element, dict) or element.get("isVisible") is False:
        return
    yield element
    for name in ("body", "items", "columns", "inlines"):
        if name in element:
            yield from _walk(element[name])


def _everything(value: Any) -> Iterator[dict[str, Any]]:
    """Every object anywhere in the JSON (hidden or not, actions included)."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _everything(item)
    elif isinstance(value, list):
        for item in value:
            yield from _everything(item)


def card_of(raw: Message) -> dict[str, Any] | None:
    for attachment in raw.attachments:
        if attachment.get("contentType") == cards.ADAPTIVE_CARD and isinstance(
            attachment.get("content"), dict
        ):
            return attachment["content"]
    return None


class TeamsHarness(Harness):
    name = "teams"
    unknown_channel_id = "19:00000000000000000000000000000000@thread.tacv2"
    missing_thread_id = "1000000000001"
    max_message_chars = ACTIVITY_LIMIT_BYTES  # text shown is less than the JSON that carries it

    def __init__(self, platform: TeamsPlatform, fake: FakeTeams) -> None:
        self.platform = platform
        self.fake = fake
        self.channel_id = LEADERS
        self._people = 0

    # ------------------------------------------------------------------ people

    async def user_says(self, thread_id: str, user_id: str, text: str) -> str:
        if user_id not in self.fake.teams[GROUP].members:
            self.fake.add_member(GROUP, user_id, f"User {user_id[:8]}")
        return self.fake.user_reply(self.channel_id, thread_id, user_id, text)

    async def add_people(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            self._people += 1
            member = self.fake.add_member(GROUP, str(uuid.uuid4()), f"Person {self._people}")
            ids.append(member.aad_object_id)
        return ids

    def expected_member_count(self) -> int | None:
        # The adapter counts the channel's team (Graph's team members are people).
        return len(self.fake.teams[GROUP].members)

    def display_name_of(self, user_id: str) -> str | None:
        member = self.fake.teams[GROUP].members.get(user_id)
        return member.name if member else None

    # ------------------------------------------------------------------ faults

    async def make_uncertain_next_post(self) -> bool:
        self.fake.inject("create_conversation", DropAfterAccept())
        return True

    async def make_rate_limited_next_post(self, retry_after: float) -> bool:
        self.fake.inject("create_conversation", RateLimit(retry_after=int(retry_after)))
        return True

    # ------------------------------------------------------------------ raw views

    async def messages_in_channel(self) -> list[Seen]:
        seen = []
        for m in self.fake.messages(self.channel_id, by_bot=None):
            content = card_of(m) if m.by_bot else None
            key = cards.read_tag(content)[0] if content is not None else None
            seen.append(
                Seen(
                    message_id=m.id,
                    thread_id=None if m.is_root else m.root_id,
                    by_bot=m.by_bot,
                    key=key,
                    raw=m,
                )
            )
        return seen

    def rendered_text(self, message: Seen) -> str:
        raw: Message = message.raw
        content = card_of(raw)
        if content is None:
            return raw.text
        lines = []
        for element in _walk(content.get("body") or []):
            if element.get("type") == "TextBlock":
                lines.append(markdown_to_plain(str(element.get("text", ""))))
            elif element.get("type") == "RichTextBlock":
                runs = [e for e in element.get("inlines") or [] if isinstance(e, dict)]
                lines.append("".join(str(r.get("text", "")) for r in runs))
        return "\n".join(lines)

    def markup_problems(self, message: Seen, *, allowed_links: set[str]) -> list[str]:
        raw: Message = message.raw
        activity = raw.activity or {}
        problems: list[str] = []
        # A mention is made only by an entity naming the <at>…</at> text: the bot sends none.
        mentions = [
            e
            for e in _everything(activity)
            if isinstance(e.get("type"), str) and e["type"].lower() == "mention"
        ]
        problems += [f"mention entity {json.dumps(e)[:160]}" for e in mentions]
        # The activity's own text (Teams renders it as markdown/HTML).
        text = activity.get("text")
        if isinstance(text, str) and text:
            if _AT_TAG.search(text):
                problems.append(f"activity text has an <at> tag: {text[:160]!r}")
            problems += [f"activity text: {p}" for p in _link_problems(text, allowed_links)]
        content = card_of(raw)
        if content is None:
            return problems
        for n, element in enumerate(_everything(content)):
            kind = element.get("type")
            if kind == "TextBlock":
                found = _link_problems(str(element.get("text", "")), allowed_links)
                problems += [f"TextBlock {n}: {p}" for p in found]
            elif isinstance(kind, str) and kind.startswith("Action."):
                url = element.get("url")
                if kind == "Action.OpenUrl" and url not in allowed_links:
                    problems.append(f"{kind} {n} to {url!r}")
                elif kind not in ("Action.OpenUrl",):
                    problems.append(f"{kind} {n}: an action the bot never builds")
            elif kind == "Image":
                url = str(element.get("url", ""))
                if not url.startswith("data:image/") and url not in allowed_links:
                    problems.append(f"Image {n} from {url[:120]!r}")
            if "selectAction" in element and not isinstance(element["selectAction"], dict):
                problems.append(f"element {n}: selectAction is not an object")
        return problems

    def limit_problems(self, message: Seen) -> list[str]:
        raw: Message = message.raw
        if raw.activity is None:
            return []
        size = activity_bytes(raw.activity)
        if size > ACTIVITY_LIMIT_BYTES:
            return [f"activity JSON of {size} bytes > {ACTIVITY_LIMIT_BYTES}"]
        return []


def _link_problems(markdown: str, allowed_links: set[str]) -> list[str]:
    """Markdown links and images (to anywhere not allowed) that Teams would render."""
    problems = []
    for match in _MD_LINK.finditer(_blank_escapes(markdown)):
        what = "image" if match.group(1) else "link"
        target = match.group(3)
        if match.group(1) or target not in allowed_links:
            problems.append(f"markdown {what} to {target[:120]!r}")
    return problems


@asynccontextmanager
async def teams_harness() -> AsyncIterator[TeamsHarness]:
    async with AsyncExitStack() as stack:
        fake = await stack.enter_async_context(FakeTeams())
        setup_team(fake)
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="contract-teams-"))
        db = Database(f"sqlite+aiosqlite:///{folder}/directory.db")
        stack.push_async_callback(db.dispose)
        await db.upgrade()
        client = await stack.enter_async_context(build_client())
        tokens = TokenProvider(
            client,
            login_url=fake.login_url,
            tenant_id=fake.tenant_id,
            app_id=fake.app_id,
            app_password=fake.app_password,
        )
        api = TeamsHttp(client, tokens, graph_url=fake.graph_url, sleep=no_wait)
        platform = TeamsPlatform(
            api,
            TeamsDirectory(db),
            app_id=fake.app_id,
            tenant_id=fake.tenant_id,
            default_service_url=fake.service_url,
        )
        await record_team(platform, fake)
        yield TeamsHarness(platform, fake)
