"""Every endpoint the clients call, written once as a `Call` (method, path, body, files, headers):
the synchronous and asynchronous clients only differ in how they send one."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

# Answers worth another try after the server's Retry-After (rate limit, lockout, overload).
RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: dict[str, Any] | None = None
    fields: dict[str, str] | None = None  # multipart text fields (with files)
    files: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None


def _id(user: str) -> str:
    return quote(user, safe="")


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _frame(path: str, token: str, image: bytes, timestamp: float | None) -> Call:
    fields = {} if timestamp is None else {"frame_metadata": json.dumps({"timestamp": timestamp})}
    return Call("POST", path, fields=fields, files={"frame": image}, headers={"X-Session-Token": token})


# -- users ---------------------------------------------------------------------------------------

def list_users(page: int = 1, page_size: int = 20, search: str | None = None, is_active: bool | None = None,
               has_enrollment: bool | None = None) -> Call:
    params = _drop_none({"page": page, "page_size": page_size, "search": search,
                         "is_active": None if is_active is None else str(is_active).lower(),
                         "has_enrollment": None if has_enrollment is None else str(has_enrollment).lower()})
    return Call("GET", "/api/clients/users/", params=params)


def create_user(external_id: str, name: str, email: str | None = None, metadata: dict[str, Any] | None = None) -> Call:
    return Call("POST", "/api/clients/users/", json=_drop_none(
        {"external_id": external_id, "name": name, "email": email, "metadata": metadata}))


def get_user(user: str) -> Call:
    return Call("GET", f"/api/clients/users/{_id(user)}/")


def update_user(user: str, **changes: Any) -> Call:
    return Call("PUT", f"/api/clients/users/{_id(user)}/", json=changes)


def delete_user(user: str) -> Call:
    return Call("DELETE", f"/api/clients/users/{_id(user)}/")


def set_user_active(user: str, active: bool) -> Call:
    return Call("POST", f"/api/clients/users/{_id(user)}/{'activate' if active else 'deactivate'}/")


# -- enrollment ----------------------------------------------------------------------------------

def create_enrollment(user_id: str, session_type: str = "webcam", **options: Any) -> Call:
    """The session waits for complete_enrollment() once a frame answers `ready_to_complete`;
    pass auto_complete=True for one that completes itself on that frame (it answers `completed`)."""
    return Call("POST", "/api/auth/enrollment/create/", json={"user_id": user_id, "session_type": session_type,
                                                               **_drop_none(options)})


def enrollment_frame(token: str, image: bytes, timestamp: float | None = None) -> Call:
    return _frame("/api/auth/enrollment/process-frame/", token, image, timestamp)


def complete_enrollment(token: str) -> Call:
    return Call("POST", "/api/auth/enrollment/complete/", headers={"X-Session-Token": token})


def direct_enrollment(user_id: str, image: bytes, quality_threshold: float | None = None) -> Call:
    fields = _drop_none({"user_id": user_id, "quality_threshold": None if quality_threshold is None
                         else str(quality_threshold)})
    return Call("POST", "/api/auth/enrollment/direct/", fields=fields, files={"image": image})


# -- authentication ------------------------------------------------------------------------------

def create_authentication(user_id: str | None = None, mode: str | None = None, require_liveness: bool = True,
                          session_type: str = "webcam", **options: Any) -> Call:
    body = _drop_none({"user_id": user_id, "mode": mode, "session_type": session_type,
                       "require_liveness": require_liveness, **options})
    return Call("POST", "/api/auth/authentication/create/", json=body)


def authentication_frame(token: str, image: bytes, timestamp: float | None = None) -> Call:
    return _frame("/api/auth/authentication/process-frame/", token, image, timestamp)


# -- streaming -----------------------------------------------------------------------------------

def create_stream_session(mode: str = "identification", user_id: str | None = None, require_liveness: bool = True,
                          **options: Any) -> Call:
    body = _drop_none({"session_type": "webrtc", "mode": mode, "user_id": user_id,
                       "require_liveness": require_liveness, **options})
    return Call("POST", "/api/streaming/sessions/", json=body)


def close_stream_session(session_id: str) -> Call:
    return Call("POST", f"/api/streaming/sessions/{_id(session_id)}/close/")


# -- webhooks (the documented routes; served once the server has webhooks) -----------------------

def list_webhooks() -> Call:
    return Call("GET", "/api/webhooks/endpoints/")


def create_webhook(url: str, events: list[str], secret: str | None = None, is_active: bool = True) -> Call:
    return Call("POST", "/api/webhooks/endpoints/", json=_drop_none(
        {"url": url, "events": events, "secret": secret, "is_active": is_active}))


def delete_webhook(webhook_id: str) -> Call:
    return Call("DELETE", f"/api/webhooks/endpoints/{_id(webhook_id)}/")


def retry_after_seconds(value: str | None, default: float) -> float:
    """Retry-After in seconds (the server sends integers; an HTTP date is treated as `default`)."""
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
