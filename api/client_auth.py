"""Authentication of `/api/` callers: `Authorization: ApiKey <key>:<secret>` or
`Authorization: Bearer <access JWT>` (X-Session-Token is handled by the session endpoints).

A request is authenticated once; the client is then kept on the request (CLIENT) so the
rate limiter counts it once and the usage middleware can attribute it.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from api.auth_guard import ensure_not_blocked, record_failure
from api.errors import ApiError
from api.input_guard import is_credential_text
from api.face_auth import api_key_credentials
from api.jwt_tokens import TokenError
from api.keys import STORE, TOKENS
from api.rate_limit import admit
from events.audit import record_security_event
from storage.records import Client

CLIENT = web.RequestKey("client", Client)


def _active(client: Client) -> Client:
    if not client.is_active:
        raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    return client


async def client_by_api_key(request: web.Request, key: str, secret: str) -> Client:
    """Check key and secret. One answer (INVALID_API_KEY, "Invalid API key or secret") for an
    unknown key and a wrong secret, so the answer never tells which keys exist; a blocked source
    or key is refused (429) before either is looked at (api/auth_guard.py)."""
    await ensure_not_blocked(request, key)
    readable = is_credential_text(key, 64) and is_credential_text(secret, 128)
    client = await request.app[STORE].authenticate_client(key, secret) if readable else None
    if client is None:
        await record_failure(request, key)
        store = request.app[STORE]
        owner = await store.client_by_key(key) if readable else None
        if owner is not None:  # a wrong secret is the key owner's security event; the caller learns nothing
            await record_security_event(store.engine, owner.id, "credentials.invalid_secret", ip_address=request.remote,
                                        details={"path": request.path[:200]})
        raise ApiError(401, "Invalid API key or secret", "INVALID_API_KEY")
    return _active(client)


async def client_by_token(request: web.Request, token: str, expected: str = "access") -> Client:
    try:
        claims = request.app[TOKENS].decode(token, "refresh" if expected == "refresh" else "access")
    except TokenError as exc:
        raise ApiError(401, exc.message, exc.code) from exc
    client = await request.app[STORE].client_by_id(claims.client_id)
    if client is None or not hmac.compare_digest(client.api_key.encode(), claims.api_key.encode()):
        raise ApiError(401, "Token no longer names a valid client", "INVALID_TOKEN")
    return _active(client)


async def admitted(request: web.Request, client: Client) -> Client:
    """Remember the client on the request and count the request against its rate limits."""
    if CLIENT not in request:
        request[CLIENT] = client
        await admit(request, client)
    return client


async def require_api_key_client(request: web.Request) -> Client:
    """ApiKey only: token issuing must not let a token mint fresh tokens forever."""
    return await admitted(request, await client_by_api_key(request, *api_key_credentials(request)))


async def require_client(request: web.Request) -> Client:
    """The authenticated, active client of this request, or a 401/403 in the /api/ format."""
    if CLIENT in request:
        return request[CLIENT]
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        token = credentials.strip()
        if not token:
            raise ApiError(401, "Malformed Authorization header: expected 'Bearer <token>'", "INVALID_TOKEN")
        return await admitted(request, await client_by_token(request, token))
    return await admitted(request, await client_by_api_key(request, *api_key_credentials(request)))
