"""Authentication of `/api/` callers: `Authorization: ApiKey <key>:<secret>` (JWT Bearer and
X-Session-Token are added by the platform layer)."""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from api.face_auth import parse_api_key_header
from api.keys import STORE
from storage.records import Client


async def require_client(request: web.Request) -> Client:
    """The authenticated, active client of this request, or a 401/403 in the /api/ format."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(401, "Authentication credentials were not provided", "AUTHENTICATION_REQUIRED")
    parsed = parse_api_key_header(header)
    if parsed is None:
        raise ApiError(401, "Malformed Authorization header: expected 'ApiKey <key>:<secret>'", "INVALID_API_KEY")
    store = request.app[STORE]
    client = await store.client_by_key(parsed[0])
    if client is None:
        raise ApiError(401, "Invalid API key", "INVALID_API_KEY")
    if await store.authenticate_client(*parsed) is None:
        raise ApiError(401, "Invalid secret key", "INVALID_SECRET_KEY")
    if not client.is_active:
        raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    return client
