"""Who opened a session (address and User-Agent), kept in its params: webhooks carry it as
`device_info` (sessions.announce.DeviceInfo)."""

from __future__ import annotations

from aiohttp import web


def device_info(request: web.Request) -> dict[str, str | None]:
    return {"ip_address": request.remote, "user_agent": request.headers.get("User-Agent", "")[:300] or None}
