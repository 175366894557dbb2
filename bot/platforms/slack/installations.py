"""Many workspaces: where installations and the install flow's states are kept.

`DatabaseInstallationStore` is slack_sdk's AsyncInstallationStore over leaderbot's own
database (table `slack_installations`): one row per workspace, its bot token and refresh token
encrypted with LEADERBOT_SECRET_KEY. Only bot installations are kept (leaderbot asks for no
user scopes); org-wide (Enterprise Grid) installs are refused, since every channel, schedule and
admin here belongs to one workspace.

`SignedStateStore` is slack_sdk's AsyncOAuthStateStore: a state is `nonce.expiry.signature`,
an HMAC-SHA256 under SLACK_STATE_SECRET, valid for STATE_LIFETIME and only once (its nonce is
a row that consuming deletes, so two processes cannot both accept it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from logging import Logger
from typing import Any

from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, select

from bot.domain.clock import Clock, system_clock
from bot.store.db import Database
from bot.store.models_slack import SlackInstallation, SlackOAuthState
from bot.store.token_cipher import TokenCipher

log = logging.getLogger(__name__)

READ_CHUNK = 500  # workspaces per IN (...) read: well under SQLite's bound-parameter limit

STATE_LIFETIME = timedelta(minutes=10)
_STATE = re.compile(r"([A-Za-z0-9_-]{16,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def _datetime(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _scopes(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else ",".join(value)


def _refuse_org_wide(saved: Installation | Bot) -> None:
    if saved.is_enterprise_install or not saved.team_id:
        raise BoltError("org-wide installs are not supported: install in each workspace")


class DatabaseInstallationStore(AsyncInstallationStore):
    def __init__(self, db: Database, cipher: TokenCipher, *, clock: Clock = system_clock) -> None:
        self.db = db
        self.cipher = cipher
        self.clock = clock

    @property
    def logger(self) -> Logger:
        return log

    # ------------------------------------------------------------------ writes

    async def async_save(self, installation: Installation) -> None:
        _refuse_org_wide(installation)
        if not installation.bot_token:
            raise BoltError("the installation has no bot token")
        await self._upsert(installation.to_bot(), installer_user_id=installation.user_id)
        log.info("Slack workspace %s installed", installation.team_id)

    async def async_save_bot(self, bot: Bot) -> None:
        """A bot's tokens after a rotation (or a bot-only save)."""
        _refuse_org_wide(bot)
        await self._upsert(bot)

    async def _upsert(self, bot: Bot, *, installer_user_id: str | None = None) -> None:
        assert bot.team_id is not None  # _refuse_org_wide has checked
        now = self.clock()
        async with self.db.write() as session:
            row = await session.get(SlackInstallation, bot.team_id)
            if row is None:
                row = SlackInstallation(team_id=bot.team_id, installed_at=now)
                session.add(row)
            row.team_name = bot.team_name
            row.enterprise_id = bot.enterprise_id
            row.app_id = bot.app_id
            row.bot_id = bot.bot_id
            row.bot_user_id = bot.bot_user_id
            row.bot_scopes = _scopes(bot.bot_scopes)
            row.is_enterprise_install = False
            row.bot_token_enc = self.cipher.encrypt(bot.bot_token) or ""
            row.bot_refresh_token_enc = self.cipher.encrypt(bot.bot_refresh_token)
            row.bot_token_expires_at = _datetime(bot.bot_token_expires_at)
            if installer_user_id is not None:
                row.installer_user_id = installer_user_id
            row.updated_at = now

    async def async_delete_bot(
        self, *, enterprise_id: str | None, team_id: str | None, **_: Any
    ) -> None:
        await self._delete(team_id)

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        **_: Any,
    ) -> None:
        if user_id is None:  # no user installations are kept
            await self._delete(team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._delete(team_id)

    async def _delete(self, team_id: str | None) -> None:
        if team_id:
            async with self.db.write() as session:
                await session.execute(
                    delete(SlackInstallation).where(SlackInstallation.team_id == team_id)
                )

    # ------------------------------------------------------------------ reads

    async def _row(self, team_id: str | None) -> SlackInstallation | None:
        if not team_id:
            return None
        async with self.db.read() as session:
            return await session.get(SlackInstallation, team_id)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        row = await self._row(team_id)
        return None if row is None else self._bot(row)

    async def find_bots(self, team_ids: list[str]) -> list[Bot]:
        """The bot installations of these workspaces (those installed), in one query per
        READ_CHUNK workspaces rather than one each: a fan-out meets hundreds at once."""
        bots: list[Bot] = []
        async with self.db.read() as session:
            for i in range(0, len(team_ids), READ_CHUNK):
                chunk = team_ids[i : i + READ_CHUNK]
                rows = await session.scalars(
                    select(SlackInstallation).where(SlackInstallation.team_id.in_(chunk))
                )
                bots.extend(self._bot(row) for row in rows)
        return bots

    def _bot(self, row: SlackInstallation) -> Bot:
        return Bot(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            team_id=row.team_id,
            team_name=row.team_name,
            bot_token=self.cipher.decrypt(row.bot_token_enc) or "",
            bot_id=row.bot_id or "",
            bot_user_id=row.bot_user_id or "",
            bot_scopes=row.bot_scopes or "",
            bot_refresh_token=self.cipher.decrypt(row.bot_refresh_token_enc),
            bot_token_expires_at=_epoch(row.bot_token_expires_at),
            is_enterprise_install=False,
            installed_at=row.installed_at.timestamp(),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        if user_id is not None:
            return None  # bot installations only: no user has one of their own
        row = await self._row(team_id)
        if row is None:
            return None
        return Installation(
            app_id=row.app_id,
            enterprise_id=row.enterprise_id,
            team_id=row.team_id,
            team_name=row.team_name,
            bot_token=self.cipher.decrypt(row.bot_token_enc),
            bot_id=row.bot_id,
            bot_user_id=row.bot_user_id,
            bot_scopes=row.bot_scopes or "",
            bot_refresh_token=self.cipher.decrypt(row.bot_refresh_token_enc),
            bot_token_expires_at=_epoch(row.bot_token_expires_at),
            user_id=row.installer_user_id or "",
            is_enterprise_install=False,
            installed_at=row.installed_at.timestamp(),
        )

    async def installed_teams(self) -> list[str]:
        """Every workspace installed, in the order they were."""
        async with self.db.read() as session:
            query = select(SlackInstallation.team_id).order_by(SlackInstallation.installed_at)
            return list((await session.scalars(query)).all())


class SignedStateStore(AsyncOAuthStateStore):
    """HMAC-signed, expiring, single-use OAuth states (see the module's docstring)."""

    def __init__(
        self,
        db: Database,
        secret: str,
        *,
        clock: Clock = system_clock,
        lifetime: timedelta = STATE_LIFETIME,
    ) -> None:
        self.db = db
        self._key = hashlib.sha256(b"leaderbot-oauth-state:" + secret.encode()).digest()
        self.clock = clock
        self.lifetime = lifetime

    @property
    def logger(self) -> Logger:
        return log

    def _sign(self, nonce: str, expiry: int) -> str:
        digest = hmac.new(self._key, f"{nonce}.{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        now = self.clock()
        expires_at = now + self.lifetime
        nonce = secrets.token_urlsafe(24)
        expiry = int(expires_at.timestamp())
        async with self.db.write() as session:
            # States never used (an abandoned install) go once they have expired.
            await session.execute(delete(SlackOAuthState).where(SlackOAuthState.expires_at < now))
            session.add(SlackOAuthState(nonce=nonce, expires_at=expires_at))
        return f"{nonce}.{expiry}.{self._sign(nonce, expiry)}"

    async def async_consume(self, state: str) -> bool:
        """True once for a state this deployment issued and that has not expired."""
        problem = await self._consume(state)
        if problem is not None:
            log.warning("Slack install refused: %s", problem)
        return problem is None

    async def _consume(self, state: str) -> str | None:
        match = _STATE.fullmatch(state or "")
        if match is None:
            return "malformed state"
        nonce, expiry, signature = match.groups()
        if not hmac.compare_digest(self._sign(nonce, int(expiry)), signature):
            return "state not signed by this deployment"
        if int(expiry) <= self.clock().timestamp():
            return "state expired"
        async with self.db.write() as session:
            result = await session.execute(
                delete(SlackOAuthState).where(SlackOAuthState.nonce == nonce)
            )
        if not result.rowcount:
            return "state already used"
        return None
