"""Many workspaces, outbound: the bot token of the workspace a call is for, renewed in time.

With token rotation on, Slack's bot tokens expire (12 hours) and are renewed with the
installation's refresh token (oauth.v2.access, grant_type=refresh_token). A token that expires
within ROTATE_BEFORE is renewed before use, here for what leaderbot sends and by Bolt
(the same margin) for what it answers; the renewed tokens are saved (encrypted) for every
process. A token read from the database is trusted for CACHE_TTL_S, so an uninstall stops the
sending within that time; a fan-out reads every workspace it is about to post to in one query
first (`preload`), not one query a workspace.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from slack_sdk.errors import SlackClientError, SlackTokenRotationError
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from bot.platforms.slack.installations import DatabaseInstallationStore
from bot.port import NOT_INSTALLED, PermanentFailure, RateLimited

log = logging.getLogger(__name__)

ROTATE_BEFORE = timedelta(minutes=120)  # Bolt's default margin, used for both directions
CACHE_TTL_S = 60.0
RETRY_AFTER_FAILED_RENEWAL_S = 30.0
INSTALL_HINT = "install it from the deployment's /slack/install page"

# The workspace of the Slack request being answered (set by a Bolt middleware, app.py): the
# workspace of a call that names no channel (users.info for the App Home), or names one not
# yet recorded. A task started while answering inherits it; nothing else sets it.
acting_workspace: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "slack_acting_workspace", default=None
)


@dataclass(frozen=True)
class _Cached:
    token: str
    expires_at: int | None  # epoch seconds
    loaded_at: float  # monotonic


def not_installed(team_id: str) -> PermanentFailure:
    return PermanentFailure(
        f"leaderbot is not installed in Slack workspace {team_id}: {INSTALL_HINT}",
        code=NOT_INSTALLED,
    )


class WorkspaceTokens:
    """Each installed workspace's bot token, renewed before it expires."""

    def __init__(
        self,
        store: DatabaseInstallationStore,
        rotator: AsyncTokenRotator,
        *,
        rotate_before: timedelta = ROTATE_BEFORE,
        cache_ttl_s: float = CACHE_TTL_S,
    ) -> None:
        self.store = store
        self.rotator = rotator
        self.rotate_before = rotate_before
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _fresh(self, cached: _Cached | None) -> bool:
        if cached is None or time.monotonic() - cached.loaded_at > self.cache_ttl_s:
            return False
        return cached.expires_at is None or cached.expires_at > time.time() + (
            self.rotate_before.total_seconds()
        )

    def forget(self, team_id: str) -> None:
        """Drop a workspace's cached token (it was uninstalled, or Slack refused it)."""
        self._cache.pop(team_id, None)

    async def preload(self, team_ids: Iterable[str]) -> None:
        """Read the installations of these workspaces in one query and cache each token that
        needs no renewal. A workspace not installed, or whose token is due for renewal, is
        left to `token` (which says so, or renews it under the workspace's lock)."""
        wanted = sorted({team for team in team_ids if not self._fresh(self._cache.get(team))})
        if not wanted:
            return
        loaded_at = time.monotonic()
        for bot in await self.store.find_bots(wanted):
            cached = _Cached(bot.bot_token, bot.bot_token_expires_at, loaded_at)
            if bot.team_id is not None and bot.bot_token and self._fresh(cached):
                self._cache[bot.team_id] = cached

    async def installed(self) -> list[str]:
        return await self.store.installed_teams()

    async def token(self, team_id: str) -> str:
        """The workspace's bot token, renewed first if it is about to expire."""
        cached = self._cache.get(team_id)
        if self._fresh(cached):
            assert cached is not None
            return cached.token
        # One renewal per workspace at a time: a fan-out's posts wait for it and share it.
        lock = self._locks.setdefault(team_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(team_id)
            if self._fresh(cached):
                assert cached is not None
                return cached.token
            bot = await self.store.async_find_bot(enterprise_id=None, team_id=team_id)
            if bot is None:
                self.forget(team_id)
                raise not_installed(team_id)
            if bot.bot_refresh_token is not None:
                try:
                    renewed = await self.rotator.perform_bot_token_rotation(
                        bot=bot,
                        minutes_before_expiration=int(self.rotate_before.total_seconds() // 60),
                    )
                except SlackTokenRotationError as exc:
                    code = exc.api_error.response.get("error") if exc.api_error else None
                    self.forget(team_id)
                    raise PermanentFailure(
                        f"Slack would not renew the bot token of workspace {team_id} ({code}): "
                        f"{INSTALL_HINT} again",
                        code=NOT_INSTALLED,
                    ) from None
                except (SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                    # Nothing was sent: try again soon.
                    log.warning("renewing the token of %s failed: %s", team_id, type(exc).__name__)
                    raise RateLimited(RETRY_AFTER_FAILED_RENEWAL_S) from None
                if renewed is not None:
                    await self.store.async_save_bot(renewed)
                    log.info("renewed the bot token of Slack workspace %s", team_id)
                    bot = renewed
            self._cache[team_id] = _Cached(
                bot.bot_token, bot.bot_token_expires_at, time.monotonic()
            )
            return bot.bot_token
