"""Many workspaces: installing leaderbot in a Slack workspace (Bolt's OAuth flow).

`GET /slack/install` sends the browser to Slack's authorize page with a fresh state (signed,
expiring, single use: installations.SignedStateStore) and the same state in a cookie;
`GET /slack/oauth_redirect` is where Slack sends it back: Bolt checks the state, exchanges the
code (oauth.v2.access), and the installation is saved with its tokens encrypted
(installations.DatabaseInstallationStore). Whatever goes wrong (cancelled in Slack, a state
expired, replayed or forged, Slack or the database unreachable) ends on a short page that says
what happened and what to do: never a 500.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackClientError
from sqlalchemy.exc import SQLAlchemyError

from bot.domain.clock import Clock, system_clock
from bot.platforms.slack.installations import (
    STATE_LIFETIME,
    DatabaseInstallationStore,
    SignedStateStore,
)
from bot.platforms.slack.tokens import ROTATE_BEFORE
from bot.settings import Settings
from bot.store.token_cipher import TokenCipher

if TYPE_CHECKING:
    from bot.store.db import Database

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

# The bot scopes asked for at install: the same as deploy/slack-manifest.yaml's (a test
# keeps the two equal).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "channels:join",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "users:read",
    "files:write",
)

_START_AGAIN = f'<a href="{INSTALL_PATH}">Start the install again</a>.'
# Bolt's reasons for a failed install -> (HTTP status, what to tell the person).
_FAILURES: dict[str, tuple[int, str]] = {
    "access_denied": (
        200,
        "The install was cancelled in Slack, so nothing was installed. " + _START_AGAIN,
    ),
    "invalid_browser": (
        400,
        "This install was started in another browser (or its cookie has gone), so it "
        "cannot be finished here. " + _START_AGAIN,
    ),
    "invalid_state": (
        400,
        "This install link has expired or has already been used. " + _START_AGAIN,
    ),
    "missing_code": (400, "Slack's answer had no authorization code. " + _START_AGAIN),
    "invalid_code": (
        400,
        "Slack did not accept the install's code (it may have expired or been used). "
        + _START_AGAIN,
    ),
    "storage_error": (
        503,
        "The install could not be saved. Nothing was installed; try again in a minute.",
    ),
}
_UNREACHABLE = (
    503,
    "Slack or leaderbot's database could not be reached, so the install did not finish. "
    "Try again in a minute.",
)


def _html(title: str, message_html: str) -> str:
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{message_html}</p></body></html>"
    )


def page(status: int, title: str, message_html: str) -> web.Response:
    """A small HTML page (`message_html` is already escaped)."""
    return web.Response(status=status, text=_html(title, message_html), content_type="text/html")


def _bolt_page(status: int, title: str, message_html: str) -> BoltResponse:
    return BoltResponse(
        status=status,
        body=_html(title, message_html),
        headers={"Content-Type": "text/html; charset=utf-8"},
    )


async def _succeeded(args: AsyncSuccessArgs) -> BoltResponse:
    name = args.installation.team_name or args.installation.team_id or "your workspace"
    return _bolt_page(
        200,
        "leaderbot is installed",
        f"leaderbot is now installed in {html.escape(name)}. In Slack, invite it to a "
        "channel with <code>/invite @leaderbot</code> and type "
        "<code>/leadership help</code>.",
    )


async def _failed(args: AsyncFailureArgs) -> BoltResponse:
    reason = args.reason or "unknown"
    status, text = _FAILURES.get(
        reason,
        (400, f"Slack said: {html.escape(reason)}. Nothing was installed. {_START_AGAIN}"),
    )
    log.warning("Slack install did not finish: %s", reason if reason in _FAILURES else "other")
    return _bolt_page(status, "leaderbot was not installed", text)


def oauth_settings(
    settings: Settings, db: Database, *, clock: Clock = system_clock
) -> AsyncOAuthSettings:
    """Bolt's OAuth settings, every value from ours (none from the environment).
    SecretKeyError when LEADERBOT_SECRET_KEY is missing or not a key."""
    cipher = TokenCipher(settings.secret(settings.secret_key))
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.secret(settings.slack_client_secret),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        # Straight to Slack's authorize page: no page of ours in between.
        install_page_rendering_enabled=False,
        redirect_uri_path=REDIRECT_PATH,
        callback_options=AsyncCallbackOptions(success=_succeeded, failure=_failed),
        authorization_url=settings.slack_authorize_url,
        installation_store=DatabaseInstallationStore(db, cipher, clock=clock),
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=int(ROTATE_BEFORE.total_seconds() // 60),
        state_store=SignedStateStore(
            db, settings.secret(settings.slack_state_secret) or "", clock=clock
        ),
        state_expiration_seconds=int(STATE_LIFETIME.total_seconds()),
    )


class InstallRoutes:
    """GET /slack/install and GET /slack/oauth_redirect, over Bolt's flow."""

    def __init__(self, flow: AsyncOAuthFlow) -> None:
        self.flow = flow

    def routes(self, application: web.Application) -> None:
        application.router.add_get(INSTALL_PATH, self._install)
        application.router.add_get(REDIRECT_PATH, self._redirect)

    @staticmethod
    def _request(request: web.Request) -> AsyncBoltRequest:
        return AsyncBoltRequest(
            body="",
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )

    async def _install(self, request: web.Request) -> web.Response:
        try:
            response = await self.flow.handle_installation(self._request(request))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("Slack install could not start: %s", type(exc).__name__)
            return page(_UNREACHABLE[0], "leaderbot was not installed", _UNREACHABLE[1])
        return await to_aiohttp_response(response)

    async def _redirect(self, request: web.Request) -> web.Response:
        try:
            response = await self.flow.handle_callback(self._request(request))
        except (
            SQLAlchemyError,
            SlackClientError,
            BoltError,
            aiohttp.ClientError,
            TimeoutError,
            OSError,
        ) as exc:
            log.warning("Slack install did not finish: %s", type(exc).__name__)
            return page(_UNREACHABLE[0], "leaderbot was not installed", _UNREACHABLE[1])
        return await to_aiohttp_response(response)
