"""What keeps `/ws/recognition/` answering whatever a client sends.

Why a module of its own: the socket's message handlers (api/ws_routes.py) should read as the
protocol; the limits that turn hostile input into an `error` message instead of a dead socket
(close 1002 from an exception escaping the receive loop) live here, in one place.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from api.key_check import IP_NOT_ALLOWED, KEY, check_api_key
from api.ws_messages import validation_problem
from storage.records import Client

from api.dependency_errors import dependency_error
from api.errors import ApiError
from api.input_guard import is_credential_text

log = logging.getLogger(__name__)

CREDENTIAL_FIELDS = ("token", "api_key", "api_secret", "secret_key", "access_token", "session_token")


class MessageRefused(Exception):
    """A message the socket answers with an `error` (code, message) and otherwise ignores."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_message(text: str) -> dict[str, Any]:
    """A JSON object with a string `type`; nesting deep enough to overflow the parser is refused
    like any other non-JSON text."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise MessageRefused("INVALID_MESSAGE", "message is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MessageRefused("INVALID_MESSAGE", "message must be an object with a 'type'")
    problem = validation_problem(data)  # the same pydantic models as the REST endpoints
    if problem is not None:
        raise MessageRefused(*problem)
    return data


def check_credentials(data: dict[str, Any]) -> None:
    """Credentials of an `authenticate` message must be printable ASCII of a sane length: a lone
    surrogate or a megabyte string can never match, and must not reach hashing or SQL."""
    for name in CREDENTIAL_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and not is_credential_text(value):
            raise MessageRefused("INVALID_MESSAGE", f"'{name}' must be printable ASCII of a sane length")


async def authenticate_key(request: web.Request, key: str, secret: str) -> Client | None:
    """An `authenticate` with api_key + api_secret: the same check as HTTP (api/key_check.py),
    brute-force guard included; None for a wrong key, a wrong secret or a deactivated client."""
    try:
        client = await check_api_key(request, key, secret)
    except web.HTTPTooManyRequests as exc:
        raise MessageRefused("RATE_LIMIT_EXCEEDED", exc.text or "Too many failed authentication attempts") from None
    except ApiError as exc:
        if exc.code == IP_NOT_ALLOWED:  # the secret was right: say why, as HTTP does (403)
            raise MessageRefused(exc.code, exc.message) from None
        return None
    refuse_kiosk(request)
    return client


def refuse_kiosk(request: web.Request) -> None:
    """A client-wide subscription streams every user's recognitions: admin keys only (issue 25).
    Kiosks follow their own sessions with the session token."""
    key = request.get(KEY)
    if key is not None and not key.is_admin:
        raise MessageRefused("INSUFFICIENT_PERMISSIONS",
                             "a kiosk key cannot follow client events: authenticate with the session token")


def failure_reply(exc: Exception) -> tuple[str, str]:
    """(code, message) for an exception a message handler did not expect; the socket stays open."""
    if isinstance(exc, MessageRefused):
        return exc.code, exc.message
    if isinstance(exc, ApiError):
        return exc.code, exc.message
    if isinstance(exc, RedisError) or (isinstance(exc, (ConnectionError, OSError)) and not dependency_error(exc)):
        log.warning("websocket message failed: event bus unreachable (%s)", type(exc).__name__)
        return "EXTERNAL_SERVICE_ERROR", "The event bus is unavailable; retry later"
    mapped = dependency_error(exc)
    if mapped is not None:
        log.warning("websocket message failed: %s (%s)", mapped.code, type(exc).__name__)
        return mapped.code, mapped.message
    log.exception("websocket message failed")
    return "INTERNAL_ERROR", "Internal server error"
