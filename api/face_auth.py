"""Who is calling the root-level face API: an ApiKey client, or the internal client when off."""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from api.key_check import KEY, check_api_key
from api.keys import CONFIG, STORE
from api.rate_limit import admit
from storage.records import ADMIN, Client


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
    """The calling client, by the same key check as /api/ and the WebSocket: one message for a
    wrong key or secret so neither can be probed; brute-force blocks and the client's rate limits
    apply here as on /api/ (issue 9)."""
    if request.app[CONFIG].auth.face_api == "off":
        client = await request.app[STORE].internal_client()
        if not client.is_active:
            raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    else:
        client = await check_api_key(request, *api_key_credentials(request))  # the one check (api/key_check.py)
        if request[KEY].scope != ADMIN:  # the root API is a back-office surface (issue 25)
            raise ApiError(403, "This needs an admin key: a kiosk key may only run the kiosk flows")
    await admit_root(request, client)
    return client


async def admit_root(request: web.Request, client: Client) -> None:
    """The client's tier limits on the root API: over a limit, 429 `{"detail"}` + Retry-After."""
    try:
        await admit(request, client)
    except ApiError as exc:
        if exc.status != 429:
            raise
        retry = str(exc.details.get("retry_after", 1))
        raise web.HTTPTooManyRequests(text=exc.message, headers={"Retry-After": retry}) from None
