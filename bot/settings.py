"""Settings: the only place that reads the environment (and a `.env` file in the working dir).

Names follow the contract in DESIGN.md. Secrets are SecretStr so they never show in logs,
reprs, tracebacks or validation errors.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.data import bundled

# The question set shipped inside the package (bot/data/prompts/), so that a non-editable
# install has it too; LEADERBOT_PROMPTS replaces it with a file of the operator's own.
BUNDLED_PROMPTS = bundled("prompts/socitm-2025.toml")


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _all_or_nothing(purpose: str, given: dict[str, object]) -> list[str]:
    """The names in `given` left unset; an error when some, but not all, are."""
    missing = [name for name, value in given.items() if not value]
    if missing and len(missing) < len(given):
        *first, last = given
        raise ValueError(
            f"{purpose} needs {', '.join(first)} and {last} together; missing: {', '.join(missing)}"
        )
    return missing


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # Keep input values out of validation errors: they may be secrets.
        hide_input_in_errors=True,
        # `SLACK_BOT_TOKEN=` (as .env.example has it) means "not set", not an empty token.
        env_ignore_empty=True,
    )

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    # Many workspaces (OAuth distribution): the app's credentials and the secret that signs
    # the install flow's state; the three go together, and replace SLACK_BOT_TOKEN.
    slack_client_id: str | None = Field(None, validation_alias=_env("SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_CLIENT_SECRET")
    )
    slack_state_secret: SecretStr | None = Field(
        None, validate_default=True, validation_alias=_env("SLACK_STATE_SECRET")
    )
    # The Redirect URL registered with the app, when it has several (else Slack uses its one).
    slack_redirect_uri: str | None = Field(None, validation_alias=_env("SLACK_REDIRECT_URI"))
    # Fernet key that encrypts the installations' tokens at rest (`leaderbot secret-key`).
    secret_key: SecretStr | None = Field(None, validation_alias=_env("LEADERBOT_SECRET_KEY"))
    # Microsoft Teams (a single-tenant bot): the three credentials go together.
    teams_app_id: str | None = Field(None, validation_alias=_env("TEAMS_APP_ID"))
    teams_app_password: SecretStr | None = Field(None, validation_alias=_env("TEAMS_APP_PASSWORD"))
    teams_tenant_id: str | None = Field(
        None, validate_default=True, validation_alias=_env("TEAMS_TENANT_ID")
    )
    teams_login_url: str = Field(
        "https://login.microsoftonline.com", validation_alias=_env("TEAMS_LOGIN_URL")
    )
    teams_openid_metadata_url: str = Field(
        "https://login.botframework.com/v1/.well-known/openidconfiguration",
        validation_alias=_env("TEAMS_OPENID_METADATA_URL"),
    )
    teams_service_url: str = Field(
        "https://smba.trafficmanager.net/teams/", validation_alias=_env("TEAMS_SERVICE_URL")
    )
    teams_graph_url: str = Field(
        "https://graph.microsoft.com/v1.0/", validation_alias=_env("TEAMS_GRAPH_URL")
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///leaderbot.db", validation_alias=_env("DATABASE_URL")
    )
    timezone: str = Field("Europe/London", validation_alias=_env("LEADERBOT_TIMEZONE"))
    port: int = Field(3000, ge=0, le=65535, validation_alias=_env("LEADERBOT_PORT"))
    # The address the HTTP server binds: 0.0.0.0 for every interface, 127.0.0.1 behind a proxy.
    host: str = Field("0.0.0.0", min_length=1, validation_alias=_env("LEADERBOT_HOST"))
    admins_raw: str = Field("", validation_alias=_env("LEADERBOT_ADMINS"))
    prompts_path: Path = Field(BUNDLED_PROMPTS, validation_alias=_env("LEADERBOT_PROMPTS"))
    # A council's own Welsh catalogue (.po), instead of the bundled one (docs/translations.md).
    welsh_catalogue: Path | None = Field(None, validation_alias=_env("LEADERBOT_WELSH_CATALOGUE"))
    allow_private_feeds: bool = Field(False, validation_alias=_env("LEADERBOT_ALLOW_PRIVATE_FEEDS"))
    # Beyond the contract: operational knobs with safe defaults.
    grace_hours: float = Field(6.0, ge=0, validation_alias=_env("LEADERBOT_GRACE_HOURS"))
    retention_days: int = Field(365, ge=1, validation_alias=_env("LEADERBOT_RETENTION_DAYS"))
    log_level: str = Field("INFO", validation_alias=_env("LEADERBOT_LOG_LEVEL"))
    # "text" for people, "json" (one object per line) for log collectors.
    log_format: Literal["text", "json"] = Field(
        "text", validation_alias=_env("LEADERBOT_LOG_FORMAT")
    )
    per_channel_interval_s: float = Field(
        1.0, ge=0, validation_alias=_env("LEADERBOT_PER_CHANNEL_INTERVAL")
    )
    sweep_s: float = Field(15.0, gt=0, validation_alias=_env("LEADERBOT_SWEEP_SECONDS"))
    # How long a sender holds a claimed post before another process may take it over.
    send_lease_s: float = Field(120.0, gt=0, validation_alias=_env("LEADERBOT_SEND_LEASE_SECONDS"))
    # How often a process beats its row in `processes`; a claim of a process whose beat is
    # older than `process_stale_s` is taken over at once (not when its lease runs out).
    heartbeat_s: float = Field(
        3.0, gt=0, le=60, validation_alias=_env("LEADERBOT_HEARTBEAT_SECONDS")
    )
    max_concurrent_posts: int = Field(
        50, ge=1, le=1000, validation_alias=_env("LEADERBOT_MAX_CONCURRENT_POSTS")
    )
    # On a stop (SIGTERM, Ctrl-C): how long a running job (a fan-out) may take to finish before
    # it is cancelled; below the 10 s a container runtime waits before it kills.
    shutdown_grace_s: float = Field(
        8.0, ge=0, le=300, validation_alias=_env("LEADERBOT_SHUTDOWN_GRACE_SECONDS")
    )
    # Inbound HTTP: how long a client may take to send a request's headers or its body (and
    # how long an idle keep-alive connection is held), and the largest body accepted.
    http_read_timeout_s: float = Field(
        10.0, gt=0, le=300, validation_alias=_env("LEADERBOT_HTTP_READ_TIMEOUT")
    )
    http_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=64 * 1024 * 1024, validation_alias=_env("LEADERBOT_HTTP_MAX_BODY")
    )
    # Connections waiting to be accepted: a burst of events must not be reset (aiohttp's
    # default is 128).
    http_backlog: int = Field(
        1024, ge=128, le=65535, validation_alias=_env("LEADERBOT_HTTP_BACKLOG")
    )
    # The digest's "what people said" (bot/domain/themes.py): on or off, and the replies and
    # distinct repliers a question needs before any theme is shown (so no one is singled out).
    themes: bool = Field(True, validation_alias=_env("LEADERBOT_THEMES"))
    themes_min_replies: int = Field(
        5, ge=2, le=10_000, validation_alias=_env("LEADERBOT_THEMES_MIN_REPLIES")
    )
    themes_min_repliers: int = Field(
        3, ge=2, le=10_000, validation_alias=_env("LEADERBOT_THEMES_MIN_REPLIERS")
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. Europe/London)") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        """Normalised (`postgres://` and `postgresql://` mean asyncpg, `sqlite:///` aiosqlite);
        a URL that can never work is refused here, in one line, before anything starts."""
        # Imported here: the store pulls in SQLAlchemy, which reading settings need not load.
        from bot.store.db import DatabaseUrlError, normalise_url

        try:
            return normalise_url(value)
        except DatabaseUrlError as exc:
            raise PydanticCustomError(
                "database_url", "{problem}", {"problem": exc.problem}
            ) from None

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("teams_service_url", "teams_graph_url")
    @classmethod
    def _teams_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("teams_login_url", "teams_openid_metadata_url")
    @classmethod
    def _teams_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("slack_state_secret")
    @classmethod
    def _slack_oauth_all_or_nothing(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        # Declared after the id and the secret, so both are in info.data by now.
        missing = _all_or_nothing(
            "installing in many workspaces",
            {
                "SLACK_CLIENT_ID": info.data.get("slack_client_id"),
                "SLACK_CLIENT_SECRET": info.data.get("slack_client_secret"),
                "SLACK_STATE_SECRET": value,
            },
        )
        if not missing and info.data.get("slack_bot_token") is not None:
            raise ValueError(
                "set SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID, SLACK_CLIENT_SECRET "
                "and SLACK_STATE_SECRET (many workspaces), not both"
            )
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("SLACK_STATE_SECRET must be at least 16 characters")
        return value

    @field_validator("teams_tenant_id")
    @classmethod
    def _teams_all_or_nothing(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Declared after the id and the password, so both are in info.data by now.
        _all_or_nothing(
            "Teams",
            {
                "TEAMS_APP_ID": info.data.get("teams_app_id"),
                "TEAMS_APP_PASSWORD": info.data.get("teams_app_password"),
                "TEAMS_TENANT_ID": value,
            },
        )
        return value

    @cached_property
    def admins(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admins_raw.split(",") if part.strip())

    @property
    def process_stale_s(self) -> float:
        """A process whose heartbeat is older than this is taken for dead: three beats
        missed, and never less than 10 s (a busy event loop or a slow write is not death)."""
        return max(10.0, 3.5 * self.heartbeat_s)

    @property
    def slack_oauth(self) -> bool:
        """Many workspaces: installed through Slack's OAuth flow, tokens in the database."""
        return bool(self.slack_client_id and self.slack_client_secret and self.slack_state_secret)

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None or self.slack_oauth

    @property
    def slack_authorize_url(self) -> str:
        """Slack's OAuth authorize page, beside the Web API (https://slack.com/oauth/v2/authorize
        for https://slack.com/api/)."""
        return self.slack_api_url.removesuffix("api/") + "oauth/v2/authorize"

    @property
    def teams_configured(self) -> bool:
        return bool(self.teams_app_id and self.teams_app_password and self.teams_tenant_id)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def secret(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None
