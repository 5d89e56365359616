"""CORS for every surface (REST, the root face API, pages, WebSocket upgrades), so a browser page
on another origin can call the server when, and only when, the operator lists that origin.

`server.cors_origins` empty (the default) means same origin only: no CORS headers, a cross-origin
preflight is refused (403) and so is a cross-origin WebSocket upgrade (browsers do not apply CORS
to WebSockets, so the Origin check is the only guard against another site's page opening a socket
with a token it holds). `"*"` allows every origin. No cookies are used (credentials travel in
`Authorization` / `X-Session-Token`), so `Access-Control-Allow-Credentials` is never sent.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from api.keys import CONFIG

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
DEFAULT_HEADERS = "Authorization, Content-Type, X-Session-Token, X-Request-ID"
EXPOSED = ("X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-RateLimit-Window, Retry-After, "
           "X-Request-ID, Content-Disposition")
MAX_AGE = "600"


def _same_origin(request: web.Request, origin: str) -> bool:
    public = request.app[CONFIG].server.public_url.rstrip("/")
    return origin in (f"{request.scheme}://{request.host}", public)


def origin_allowed(request: web.Request, origin: str) -> bool:
    allowed = request.app[CONFIG].server.cors_origins
    return _same_origin(request, origin) or "*" in allowed or origin.rstrip("/") in allowed


def _refused(message: str) -> web.Response:
    return web.json_response({"error": {"code": "CORS_ORIGIN_NOT_ALLOWED", "message": message,
                                        "details": {"setting": "server.cors_origins"}}}, status=403)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if not origin:
        return await handler(request)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        if not origin_allowed(request, origin):
            return _refused(f"WebSocket connections from {origin} are not allowed (server.cors_origins)")
        return await handler(request)
    if _same_origin(request, origin):
        return await handler(request)
    allowed = origin_allowed(request, origin)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            return _refused(f"Origin {origin} is not allowed (server.cors_origins)")
        return web.Response(status=204, headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", DEFAULT_HEADERS),
            "Access-Control-Max-Age": MAX_AGE,
            "Vary": "Origin",
        })
    response = await handler(request)
    if allowed and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
        response.headers.add("Vary", "Origin")
    return response
