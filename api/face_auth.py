"""Who is calling the root-level face API: an ApiKey client, or the internal client when off."""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from api.keys import CONFIG, STORE
from storage.records import Client


def parse_api_key_header(header: str) -> tuple[str, str] | None:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "apikey":
        return None
    key, sep, secret = credentials.strip().partition(":")
    if not sep or not key or not secret or len(key) > 64 or len(secret) > 128:
        return None
    return key, secret


def api_key_credentials(request: web.Request) -> tuple[str, str]:
    """(key, secret) from the Authorization header, or a 401 saying what is wrong with it."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(401, "Authentication required: send 'Authorization: ApiKey <key>:<secret>'", "AUTHENTICATION_REQUIRED")
    parsed = parse_api_key_header(header)
    if parsed is None:
        raise ApiError(401, "Malformed Authorization header: expected 'ApiKey <key>:<secret>'", "INVALID_API_KEY")
    return parsed


async def face_api_client(request: web.Request) -> Client:
    """The calling client; one message for a wrong key or secret so neither can be probed."""
    store = request.app[STORE]
    if request.app[CONFIG].auth.face_api == "off":
        return await store.internal_client()
    client = await store.authenticate_client(*api_key_credentials(request))
    if client is None:
        raise ApiError(401, "Invalid API key or secret", "INVALID_API_KEY")
    if not client.is_active:
        raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    return client
