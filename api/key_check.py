"""The one API-key check every surface uses: `/api/` (ApiKey header, `/api/core/auth/client/`),
the root face API, and the WebSocket `authenticate` message.

Why one: three copies had drifted (one recorded the key owner's security event, the others did
not; one refused unreadable credentials before hashing, the others did not). And why the same
work for every refusal: a wrong secret used to cost an extra lookup and an audit insert that an
unknown key did not, so the time to reject a key told whether it existed (issue 24: 2.19 ms
unknown vs 3.42 ms known). Now both do one lookup, one digest comparison (a dummy one for an
unknown key), one failure count and one security audit row; only the row's owner differs
(nobody for an unknown key, the owner for a wrong secret), which no caller can observe.

Issue 25: a client has several keys (storage/key_store.py). The key that matched is kept on the
request (KEY): its scope decides what the request may do (api/scopes.py), and its IP allowlist
is enforced here, once, for every surface; a JWT names the key it was issued to, so a token
carries its key's scope and allowlist too (key_for_token).
"""

from __future__ import annotations

from aiohttp import web

from api.auth_guard import ensure_not_blocked, record_failure, source_address
from api.errors import ApiError
from api.input_guard import is_credential_text
from api.keys import STORE
from events.audit import record_security_event
from storage.key_store import address_allowed
from storage.records import ApiKey, Client, CredentialCheck

INVALID = "Invalid API key or secret"
_NOBODY = CredentialCheck(None, None)
IP_NOT_ALLOWED = "IP_NOT_ALLOWED"
# The key that authenticated this request (ApiKey header, or the key a JWT was issued to).
KEY = web.RequestKey("api_key", ApiKey)


async def admit_key(request: web.Request, key: ApiKey) -> ApiKey:
    """Refuse `key` from an address outside its allowlist (403 IP_NOT_ALLOWED, audited), else
    remember it on the request."""
    if not address_allowed(key, source_address(request)):
        await record_security_event(
            request.app[STORE].engine, key.client_id, "credentials.address_refused", ip_address=source_address(request),
            details={"path": request.path[:200], "key_id": key.id})
        raise ApiError(403, "This API key may not be used from this address (see its IP allowlist)", IP_NOT_ALLOWED)
    request[KEY] = key
    return key


async def key_for_token(request: web.Request, client: Client, api_key: str) -> ApiKey:
    """The key a JWT was issued to, still the client's, from an allowed address. Tokens from
    before keys had scopes name the client's first key, which is admin."""
    key = await request.app[STORE].keys.by_api_key(client.id, api_key)
    if key is None:
        raise ApiError(401, "Token no longer names a valid key", "INVALID_TOKEN")
    await admit_key(request, key)
    return key


async def check_api_key(request: web.Request, key: str, secret: str) -> Client:
    """The active client `key` + `secret` name. A blocked source or key is answered 429 (an
    HTTPTooManyRequests with Retry-After) before either is looked at; an unknown key and a wrong
    secret get the same 401 INVALID_API_KEY after the same work; a deactivated client 403."""
    await ensure_not_blocked(request, key)
    store = request.app[STORE]
    readable = is_credential_text(key, 64) and is_credential_text(secret, 128)
    check = await store.check_credentials(key, secret) if readable else _NOBODY
    if check.client is None:
        await record_failure(request, key)
        await record_security_event(
            store.engine, check.owner_id,
            "credentials.invalid_secret" if check.owner_id is not None else "credentials.invalid_key",
            ip_address=source_address(request), details={"path": request.path[:200]})
        raise ApiError(401, INVALID, "INVALID_API_KEY")
    if not check.client.is_active:
        raise ApiError(403, "This client is deactivated", "INSUFFICIENT_PERMISSIONS")
    assert check.key is not None  # a matched client always comes with its key
    await admit_key(request, check.key)
    return check.client
