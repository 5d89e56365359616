"""Authentication of `/api/` callers: `Authorization: ApiKey <key>:<secret>` or
`Authorization: Bearer <access JWT>` (X-Session-Token is handled by the session endpoints).

A request is authenticated once; the client is then kept on the request (CLIENT) so the
rate limiter counts it once and the usage middleware can attribute it.
"""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from api.face_auth import api_key_credentials
from api.jwt_tokens import TokenError
from api.key_check import check_api_key, key_for_token
from api.keys import STORE, TOKENS
from api.rate_limit import admit
from api.scopes import check_route
from storage.records import Client

CLIENT = web.RequestKey("client", Client)


def _active(client: Client) -> Client:
    if not client.is_active:
        raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    return client


async def client_by_api_key(request: web.Request, key: str, secret: str) -> Client:
    """Check key and secret: the one check of every surface (api/key_check.py)."""
    return await check_api_key(request, key, secret)


async def client_by_token(request: web.Request, token: str, expected: str = "access") -> Client:
    try:
        claims = request.app[TOKENS].decode(token, "refresh" if expected == "refresh" else "access")
    except TokenError as exc:
        raise ApiError(401, exc.message, exc.code) from exc
    client = await request.app[STORE].client_by_id(claims.client_id)
    if client is None:
        raise ApiError(401, "Token no longer names a valid client", "INVALID_TOKEN")
    _active(client)
    await key_for_token(request, client, claims.api_key)  # its key's scope and IP allowlist
    return client


async def admitted(request: web.Request, client: Client) -> Client:
    """Remember the client on the request and count the request against its rate limits; a
    kiosk key is held to the kiosk routes (api/scopes.py)."""
    check_route(request)
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
