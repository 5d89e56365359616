"""`/api/clients/keys/` (tag `Client Management`): a client's API keys (issue 25).

Mint a kiosk key, rotate a secret with a grace period, set a key's IP allowlist, revoke a key.
Admin keys only (api/scopes.py lists no key route for kiosks). Every change is audited as a
`credential` event; secrets are shown once, in the answer that made them, and never logged.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.client_auth import require_client
from api.errors import ApiError
from api.key_schemas import CreateKey, KeyList, KeyOut, KeyWithSecret, RotateKey, SetAllowlist
from api.keys import STORE
from api.openapi import ErrorBody, json_body, operation
from events.audit import AuditEntry, record
from storage.key_store import KeyRuleError
from storage.records import ApiKey
from storage.timestamps import iso_precise

routes = web.RouteTableDef()
TAG = "Client Management"
BASE = "/api/clients/keys/"


def key_json(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": key.id, "api_key": key.api_key, "scope": key.scope, "label": key.label,
        "allowed_cidrs": list(key.allowed_cidrs), "created_at": iso_precise(key.created_at),
        "rotated_at": iso_precise(key.rotated_at) if key.rotated_at else None,
        "previous_secret_expires_at": iso_precise(key.previous_expires_at) if key.previous_expires_at else None,
    }
    if secret is not None:
        out["api_secret"] = secret
    return out


async def _audit(request: web.Request, client_id: int, event: str, key: ApiKey, **details: Any) -> None:
    await record(request.app[STORE].engine, client_id, AuditEntry(
        "credential", event, "success", str(key.id), {"api_key": key.api_key, "scope": key.scope, **details},
        request.remote))


def _key_id(request: web.Request) -> int:
    raw = request.match_info["key_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise ApiError(404, "API key not found", "NOT_FOUND")
    return int(raw)


def _refused(exc: KeyRuleError) -> ApiError:
    return ApiError(400, exc.message, "VALIDATION_ERROR", {"code": exc.code})


@routes.get(BASE)
@operation("List the client's API keys (never their secrets)", tags=TAG, responses={200: KeyList, 403: ErrorBody})
async def list_keys(request: web.Request) -> web.Response:
    client = await require_client(request)
    keys = await request.app[STORE].keys.list_keys(client.id)
    return web.json_response({"results": [key_json(k) for k in keys], "count": len(keys)})


@routes.post(BASE)
@operation("Mint an API key (scope kiosk or admin); its secret is shown once", tags=TAG, body=CreateKey,
           responses={201: KeyWithSecret, 400: ErrorBody, 403: ErrorBody})
async def create_key(request: web.Request) -> web.Response:
    client = await require_client(request)
    body = await json_body(request, CreateKey)
    try:
        made = await request.app[STORE].keys.create(client.id, body.scope, body.label, tuple(body.allowed_cidrs))
    except KeyRuleError as exc:
        raise _refused(exc) from None
    await _audit(request, client.id, "credential.key_created", made.key)
    return web.json_response(key_json(made.key, made.api_secret), status=201)


@routes.post(BASE + "{key_id}/rotate/")
@operation("Rotate a key's secret: the old one keeps working for grace_seconds", tags=TAG, body=RotateKey,
           responses={200: KeyWithSecret, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody})
async def rotate_key(request: web.Request) -> web.Response:
    client = await require_client(request)
    body = await json_body(request, RotateKey)
    try:
        made = await request.app[STORE].keys.rotate(client.id, _key_id(request), body.grace_seconds)
    except KeyRuleError as exc:
        raise _refused(exc) from None
    if made is None:
        raise ApiError(404, "API key not found", "NOT_FOUND")
    await _audit(request, client.id, "credential.key_rotated", made.key, grace_seconds=body.grace_seconds)
    return web.json_response(key_json(made.key, made.api_secret))


@routes.put(BASE + "{key_id}/allowlist/")
@operation("Set the networks (CIDRs) a key may be used from; [] = anywhere", tags=TAG, body=SetAllowlist,
           responses={200: KeyOut, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody})
async def set_allowlist(request: web.Request) -> web.Response:
    client = await require_client(request)
    body = await json_body(request, SetAllowlist)
    try:
        key = await request.app[STORE].keys.set_allowlist(client.id, _key_id(request), body.allowed_cidrs)
    except KeyRuleError as exc:
        raise _refused(exc) from None
    if key is None:
        raise ApiError(404, "API key not found", "NOT_FOUND")
    await _audit(request, client.id, "credential.allowlist_set", key, allowed_cidrs=list(key.allowed_cidrs))
    return web.json_response(key_json(key))


@routes.delete(BASE + "{key_id}/")
@operation("Revoke a key at once (not the client's last admin key)", tags=TAG,
           responses={204: None, 400: ErrorBody, 403: ErrorBody, 404: ErrorBody})
async def delete_key(request: web.Request) -> web.Response:
    client = await require_client(request)
    key_id = _key_id(request)
    key = await request.app[STORE].keys.get(client.id, key_id)
    try:
        deleted = key is not None and await request.app[STORE].keys.delete(client.id, key_id)
    except KeyRuleError as exc:
        raise _refused(exc) from None
    if not deleted or key is None:
        raise ApiError(404, "API key not found", "NOT_FOUND")
    await _audit(request, client.id, "credential.key_revoked", key)
    return web.Response(status=204)
