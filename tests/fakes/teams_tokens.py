"""RSA keys and JWTs for the fake Microsoft Teams (tests/fakes/teams_api.py).

Two kinds of token are modelled, both RS256 JWTs:

* Inbound activity tokens: what the Bot Framework connector puts in `Authorization: Bearer`
  when it POSTs an activity to the bot. Issuer https://api.botframework.com, audience the bot's
  app id, a `serviceurl` claim; signed by a key published in the OpenID metadata's JWKS (with
  `endorsements: ["msteams"]`, as the real keys carry).
* Access tokens from the Entra ID (AAD) token endpoint (client credentials), which the bot sends
  to the connector and to Microsoft Graph. Real ones are JWTs too; the fake signs them with a
  key of its own that it never publishes, and checks them on every connector and Graph call.

Not modelled: x5t/x5c certificate chains on the JWKS keys, key rotation, and the Entra ID
tokens some Agent-ID activities carry.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# An access token's audience is the resource of the scope it was issued for.
SCOPE_AUDIENCES = {
    BOT_FRAMEWORK_SCOPE: "https://api.botframework.com",
    GRAPH_SCOPE: "https://graph.microsoft.com",
}


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair with a key id, able to sign JWTs and describe itself as a JWK."""

    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self, *, endorsements: tuple[str, ...] = ("msteams",)) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
            "endorsements": list(endorsements),
        }

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def verify(self, token: str, *, audience: str, issuer: str | None = None) -> dict[str, Any]:
        """Decode and check a token this key signed; raises jwt.InvalidTokenError otherwise."""
        return jwt.decode(
            token,
            self.private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "iat", "aud"]},
        )


@functools.cache
def signing_key(name: str) -> SigningKey:
    """One key per name per test process: RSA generation costs ~50 ms, and tests only need
    the keys to differ from each other, not between runs."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = hashlib.sha256(f"fake-teams-{name}".encode()).hexdigest()[:27]
    return SigningKey(kid=kid, private_key=private_key)


def inbound_claims(
    *,
    app_id: str,
    service_url: str,
    audience: str | None,
    issuer: str | None,
    expires_in: int,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a Bot Framework -> bot token (relative to `now`, so no date is baked in)."""
    issued = int(time.time() if now is None else now)
    return {
        "serviceurl": service_url,
        "nbf": issued - 300,  # the real service backdates nbf to absorb clock skew
        "iat": issued,
        "exp": issued + expires_in,
        "iss": BOT_FRAMEWORK_ISSUER if issuer is None else issuer,
        "aud": app_id if audience is None else audience,
    }


def access_token_claims(
    *,
    app_id: str,
    tenant_id: str,
    scope: str,
    expires_in: int,
    generation: int,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a client-credentials access token (v2 issuer, app-only: no `scp`)."""
    issued = int(time.time() if now is None else now)
    return {
        "aud": SCOPE_AUDIENCES[scope],
        "iss": f"https://login.microsoftonline.com/{tenant_id}/v2.0",
        "iat": issued,
        "nbf": issued,
        "exp": issued + expires_in,
        "appid": app_id,
        "azp": app_id,
        "tid": tenant_id,
        "idtyp": "app",
        # Not a Microsoft claim: lets the fake revoke every token issued so far.
        "fake_generation": generation,
    }
