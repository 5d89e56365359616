"""The `signaling_url` of a streaming session (served by api/signaling_socket.py)."""

from __future__ import annotations

PATH = "/api/streaming/signaling/"


def signaling_url(base_http_url: str, token: str) -> str:
    """The WebSocket URL of a session's signaling (ws:// or wss:// after the HTTP base)."""
    scheme, _, rest = base_http_url.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{PATH}?token={token}"
