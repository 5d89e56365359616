"""Authentication of `/api/` callers: `Authorization: ApiKey <key>:<secret>` (JWT Bearer and
X-Session-Token are added by the platform layer)."""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from api.face_auth import api_key_credentials
from api.keys import STORE
from storage.records import Client


async def require_client(request: web.Request) -> Client:
    """The authenticated, active client of this request, or a 401/403 in the /api/ format."""
    parsed = api_key_credentials(request)
    store = request.app[STORE]
    client = await store.client_by_key(parsed[0])
    if client is None:
        raise ApiError(401, "Invalid API key", "INVALID_API_KEY")
    if await store.authenticate_client(*parsed) is None:
        raise ApiError(401, "Invalid secret key", "INVALID_SECRET_KEY")
    if not client.is_active:
        raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    return client
