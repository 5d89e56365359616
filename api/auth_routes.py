"""JWT issuing and refresh (`Authentication` tag).

Two issue paths exist because the seeds name both: `/api/auth/client-token/` with the ApiKey
header (api_integration_guide.md, also what the browser page calls) and `/api/core/auth/client/`
with a JSON body (API_INTEGRATION_GUIDE.md). Both answer the seed's `access`/`refresh` plus
`access_token`/`refresh_token`/`token_type`/`expires_in`.
"""

from __future__ import annotations

from aiohttp import web

from api.client_auth import admitted, client_by_api_key, client_by_token, require_api_key_client
from api.identity_schemas import AccessToken, ClientCredentials, RefreshRequest, TokenPair
from api.key_check import KEY
from api.keys import STORE, TOKENS
from events.audit import AuditEntry, record
from api.openapi import ErrorBody, json_body, operation

routes = web.RouteTableDef()


async def _issued(request: web.Request, client_id: int, event: str) -> None:
    """Credential events go to the audit log (tokens themselves are never stored)."""
    await record(request.app[STORE].engine, client_id, AuditEntry(
        "credential", event, "success", None, {"user_agent": request.headers.get("User-Agent", "")[:200]},
        request.remote))


@routes.post("/api/auth/client-token/")
@operation("Issue an access + refresh JWT pair (ApiKey header)", tags="Authentication",
           responses={200: TokenPair, 403: ErrorBody, 429: ErrorBody}, security=("ApiKey",))
async def client_token(request: web.Request) -> web.Response:
    client = await require_api_key_client(request)
    await _issued(request, client.id, "credential.token_issued")
    return web.json_response({**request.app[TOKENS].pair(client, api_key=request[KEY].api_key),
                              "scope": request[KEY].scope})


@routes.post("/api/core/auth/client/")
@operation("Issue an access + refresh JWT pair (api_key and api_secret in the body)", tags="Authentication",
           body=ClientCredentials, responses={200: TokenPair, 403: ErrorBody, 429: ErrorBody}, security=())
async def client_login(request: web.Request) -> web.Response:
    body = await json_body(request, ClientCredentials)
    client = await admitted(request, await client_by_api_key(request, body.api_key, body.api_secret))
    await _issued(request, client.id, "credential.token_issued")
    return web.json_response({**request.app[TOKENS].pair(client, api_key=request[KEY].api_key),
                              "scope": request[KEY].scope})


@routes.post("/api/auth/refresh-token/")
@operation("Exchange a refresh token for a new access token", tags="Authentication", body=RefreshRequest,
           responses={200: AccessToken, 403: ErrorBody, 429: ErrorBody}, security=())
async def refresh_token(request: web.Request) -> web.Response:
    """Refresh tokens are not rotated: one stays valid until it expires or its client is
    deactivated; the new access token expires after auth.access_token_ttl_s."""
    body = await json_body(request, RefreshRequest)
    client = await admitted(request, await client_by_token(request, body.token, expected="refresh"))
    tokens = request.app[TOKENS]
    access = tokens.access_token(client, api_key=request[KEY].api_key)
    await _issued(request, client.id, "credential.token_refreshed")
    return web.json_response(
        {"access": access, "access_token": access, "token_type": "Bearer", "expires_in": tokens.access_ttl}
    )
