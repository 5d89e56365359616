"""Shapes of the answers the client returns (TypedDicts: the JSON as the server sends it, typed
for editors and mypy; fields the server adds later pass through untouched)."""

from __future__ import annotations

from typing import Any, TypedDict


class User(TypedDict, total=False):
    id: str
    external_id: str
    name: str
    email: str | None
    metadata: dict[str, Any]
    is_active: bool
    created_at: str
    enrollments_count: int


class UserPage(TypedDict, total=False):
    count: int
    next: str | None
    previous: str | None
    page: int
    page_size: int
    results: list[User]


class SessionCreated(TypedDict, total=False):
    session_id: str
    session_token: str
    status: str
    expires_at: str
    target_samples: int
    session_type: str
    user_id: str | None


class FrameResult(TypedDict, total=False):
    """An enrollment or authentication frame's answer (`status`: processing / ready_to_complete /
    completed / failed)."""

    success: bool
    session_id: str
    session_status: str
    status: str
    quality_score: float
    feedback: dict[str, Any]
    completed_samples: int
    target_samples: int
    liveness_verified: bool
    result: dict[str, Any] | None
    matched_user: dict[str, Any] | None
    requires_more_frames: bool


class Enrollment(TypedDict, total=False):
    status: str
    enrollment_id: str
    user_id: str
    quality_metrics: dict[str, Any]
    liveness_verified: bool
    created_at: str


class StreamSession(TypedDict, total=False):
    session_id: str
    session_token: str
    ice_servers: list[dict[str, Any]]
    signaling_url: str
    offer_url: str
    status: str


class WebhookEndpoint(TypedDict, total=False):
    id: str
    url: str
    events: list[str]
    is_active: bool
