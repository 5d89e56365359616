"""Topic names, always prefixed by the owning client's id (tenant isolation by construction)."""

from __future__ import annotations


def client_topic(client_id: int) -> str:
    return f"client:{client_id}"


def session_topic(client_id: int, session_id: str) -> str:
    return f"client:{client_id}:session:{session_id}"


def camera_topic(client_id: int, camera_id: str) -> str:
    return f"client:{client_id}:camera:{camera_id}"


def for_session_event(client_id: int, session_id: str) -> list[str]:
    """A session's event goes to that session's subscribers and to whole-client subscribers."""
    return [session_topic(client_id, session_id), client_topic(client_id)]
