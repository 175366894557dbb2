"""Secrets at rest: the chat platforms' tokens are stored encrypted with a Fernet key
(LEADERBOT_SECRET_KEY), so a copy of the database (a backup, a dump) gives no access to any
workspace without the key as well."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyError(Exception):
    """No key, or not a Fernet key: one line saying what to do."""


def new_key() -> str:
    """A fresh key for LEADERBOT_SECRET_KEY (32 random bytes, URL-safe base64)."""
    return Fernet.generate_key().decode("ascii")


class TokenCipher:
    def __init__(self, key: str | None) -> None:
        if not key:
            raise SecretKeyError(
                "LEADERBOT_SECRET_KEY is not set: installations' tokens are stored encrypted; "
                "make a key with `leaderbot secret-key` and set it"
            )
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SecretKeyError(
                "LEADERBOT_SECRET_KEY is not a valid key (32 bytes, URL-safe base64): make one "
                "with `leaderbot secret-key`"
            ) from None

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, value: str | None) -> str | None:
        """The token; SecretKeyError if it was stored under another key."""
        if value is None:
            return None
        try:
            return self._fernet.decrypt(value.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyError(
                "a stored token cannot be read with this LEADERBOT_SECRET_KEY (it was stored "
                "under another key): restore the key it was stored with, or reinstall the app"
            ) from None
