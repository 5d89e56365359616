"""Platform JWTs (HS256): short-lived access tokens and longer refresh tokens for one client.

The token type is a signed claim (`typ`), so a refresh token is refused where an access token
is expected and vice versa. Tokens name the client by id and API key: a deactivated client, or
one whose key changed, loses every token at once because the client row is read on each use.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from facestream.config import AuthSettings
from storage.records import Client

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
TokenType = Literal["access", "refresh", "user"]


class TokenError(Exception):
    """A token that must be refused; `code` is the seed-style error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TokenClaims:
    client_id: int
    api_key: str
    token_type: TokenType
    expires_at: int
    user_id: str | None = None  # a user token's user (platform id): enrollment.md's "own token"


class TokenService:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._key = settings.jwt_signing_key
        if not self._key:
            self._key = secrets.token_urlsafe(48)
            log.warning(
                "auth.jwt_signing_key is empty: using a random per-process key; JWTs will not survive a "
                "restart and will not be accepted by other workers. Set auth.jwt_signing_key in production."
            )

    @property
    def access_ttl(self) -> int:
        return self._settings.access_token_ttl_s

    def _encode(self, client: Client, token_type: TokenType, ttl: int, now: float, user_id: str | None = None,
                api_key: str | None = None) -> str:
        claims: dict[str, Any] = {
            "iss": self._settings.jwt_issuer,
            "sub": str(client.id),
            "key": api_key or client.api_key,  # the key signed in with: its scope and allowlist hold
            "typ": token_type,
            "iat": int(now),
            "exp": int(now) + ttl,
            "jti": uuid.uuid4().hex,
        }
        if user_id is not None:
            claims["uid"] = user_id
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def access_token(self, client: Client, now: float | None = None, api_key: str | None = None) -> str:
        return self._encode(client, "access", self._settings.access_token_ttl_s, time.time() if now is None else now,
                            api_key=api_key)

    def user_token(self, client: Client, user_id: str, now: float | None = None) -> str:
        """A token that acts for one user of the client and only where a route accepts it (their
        own enrollment): its `typ` is "user", so every client-wide route refuses it."""
        return self._encode(client, "user", self._settings.access_token_ttl_s, time.time() if now is None else now,
                            user_id)

    def pair(self, client: Client, now: float | None = None, api_key: str | None = None) -> dict[str, Any]:
        """The issue response: the seed's `access`/`refresh` plus the OAuth-style names. Both
        name `api_key` (the key signed in with), so they carry its scope and allowlist."""
        t = time.time() if now is None else now
        access = self._encode(client, "access", self._settings.access_token_ttl_s, t, api_key=api_key)
        refresh = self._encode(client, "refresh", self._settings.refresh_token_ttl_s, t, api_key=api_key)
        return {
            "access": access,
            "refresh": refresh,
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": self._settings.access_token_ttl_s,
            "refresh_expires_in": self._settings.refresh_token_ttl_s,
        }

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], issuer=self._settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "typ", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("TOKEN_EXPIRED", "Token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError("INVALID_TOKEN", f"Invalid token: {exc}") from exc
        if claims.get("typ") != expected:
            raise TokenError("INVALID_TOKEN", f"A {claims.get('typ')} token cannot be used as a {expected} token")
        try:
            client_id = int(claims["sub"])
        except (TypeError, ValueError) as exc:
            raise TokenError("INVALID_TOKEN", "Invalid token subject") from exc
        uid = claims.get("uid")
        if expected == "user" and not isinstance(uid, str):
            raise TokenError("INVALID_TOKEN", "A user token must name its user")
        return TokenClaims(client_id, str(claims.get("key", "")), expected, int(claims["exp"]),
                           uid if isinstance(uid, str) else None)
