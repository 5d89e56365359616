"""The edge's half of "replacing a user's face is explicit and privileged": turn a request's
`replace: true` (alias `replace_existing: true`) into a typed sessions.replacement.ReplaceRequest
naming who asked. The decision itself is sessions.replacement.may_replace (one function for
every transport); `scope` comes from the API key that authenticated the request (admin / kiosk),
so a kiosk key can never replace anyone's faces."""

from __future__ import annotations

from aiohttp import web

from api.auth_guard import source_address
from api.key_check import KEY
from sessions.replacement import NO_REPLACE, ReplaceRequest
from storage.records import Client


def replace_request(request: web.Request, client: Client, *flags: bool | None, user_token: bool = False
                    ) -> ReplaceRequest:
    """NO_REPLACE unless one of `flags` is true. A user's own token (enrollment.md) is scope
    "user": an end user's app never replaces faces, whatever it sends."""
    if not any(flags):
        return NO_REPLACE
    peer = source_address(request) or "unknown"
    key = request.get(KEY)
    scope = "user" if user_token else (key.scope if key is not None else None)
    return ReplaceRequest(True, f"client:{client.id}" + ("/user-token" if user_token else "") + f"@{peer}", scope)
