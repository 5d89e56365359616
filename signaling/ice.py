"""ICE server configuration, written once: the server's own peer connections and the list handed
to clients in a session's create response come from the same `streaming.ice_servers` setting."""

from __future__ import annotations

from typing import Any

from aiortc import RTCIceServer

from streaming.settings import StreamingSettings


def rtc_ice_servers(settings: StreamingSettings) -> list[RTCIceServer]:
    return [
        RTCIceServer(urls=entry["urls"], username=entry.get("username") or None,
                     credential=entry.get("credential") or None)
        for entry in client_ice_servers(settings)
    ]


def client_ice_servers(settings: StreamingSettings) -> list[dict[str, Any]]:
    """As a browser's RTCPeerConnection takes them; TURN URLs carry the configured credentials."""
    return [
        {"urls": [url], "username": settings.turn_username, "credential": settings.turn_credential}
        if url.startswith("turn")
        else {"urls": [url]}
        for url in settings.ice_servers
    ]
