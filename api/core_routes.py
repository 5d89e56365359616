"""System status and public configuration (`System` tag).

Both answer without credentials (a load balancer or a status page can call them); when an
Authorization header is sent it is checked, so a client's own calls are counted and carry
rate-limit headers like every other authenticated call. The config listing is an allowlist:
thresholds, limits and versions only, never keys, secrets or connection URLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from aiohttp import web
from redis.exceptions import RedisError

from api.client_auth import require_client
from api.engine_probe import engine_state
from api.errors import ApiError
from api.identity_schemas import ConfigEntry, ConfigList, CoreStatus
from api.keys import CACHE, CONFIG, RATE_LIMITER, STORE
from api.openapi import operation
from engine.profiles import file_names
from facestream import __version__
from facestream.config import Config
from storage.timestamps import iso_seconds

routes = web.RouteTableDef()
TAG = "System"


async def _ping_url(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def _redis_state(app: web.Application) -> str:
    urls = app[CONFIG].redis_urls
    checks = []
    if urls.cache:
        checks.append(app[CACHE].ping())
    if urls.rate_limits:
        checks.append(app[RATE_LIMITER].ping())  # type: ignore[union-attr]
    if urls.events:
        checks.append(_ping_url(urls.events))
    if not checks:
        return "not_configured"
    return "online" if all(await asyncio.gather(*checks)) else "offline"


async def _optional_auth(request: web.Request) -> None:
    if "Authorization" in request.headers:
        await require_client(request)


@routes.get("/api/core/status/")
@operation("Service health: database, redis and face recognition", tags=TAG, responses={200: CoreStatus},
           security=())
async def status(request: web.Request) -> web.Response:
    """`degraded` when a configured service is offline; the HTTP status stays 200 so the body
    (which service is down) reaches monitors."""
    await _optional_auth(request)
    app = request.app
    database = "online" if await app[STORE].ping() else "offline"
    redis_state = await _redis_state(app)
    engine = await engine_state(app)  # runs the detector (cached 10 s): a failing model shows here
    services = {"database": database, "redis": redis_state, "face_recognition": engine}
    return web.json_response({
        "status": "degraded" if "offline" in services.values() else "healthy",
        "version": __version__,
        "timestamp": iso_seconds(),
        "services": services,
    })


# key -> (reader, description). Add only values that are safe to publish.
PUBLIC: dict[str, tuple[Callable[[Config], Any], str]] = {
    "version": (lambda c: __version__, "server version"),
    "api_version": (lambda c: "v1", "platform API version"),
    "matching.threshold": (lambda c: c.matching.threshold, "maximum distance (1 - cosine) for a match"),
    "matching.top_k": (lambda c: c.matching.top_k, "candidates returned by identification"),
    "quality.min_face_size": (lambda c: c.quality.min_face_size, "px, shorter side of the face box"),
    "quality.max_yaw": (lambda c: c.quality.max_yaw, "degrees"),
    "quality.max_pitch": (lambda c: c.quality.max_pitch, "degrees"),
    "liveness.threshold": (lambda c: c.liveness.threshold, "liveness score needed to pass"),
    "liveness.required_blinks": (lambda c: c.liveness.required_blinks, "blinks before a face can pass"),
    "streaming.session_timeout_s": (lambda c: c.streaming.session_timeout_s, "default session lifetime"),
    "streaming.max_session_timeout_s": (lambda c: c.streaming.max_session_timeout_s, "largest session timeout"),
    "sessions.target_samples": (lambda c: c.sessions.target_samples, "embeddings averaged into one enrollment"),
    "server.max_upload_bytes": (lambda c: c.server.max_upload_bytes, "largest request body"),
    "engine.recognizer": (lambda c: file_names(c.engine)["recognizer"], "embedding model file"),
    "engine.detector": (lambda c: file_names(c.engine)["detector"], "face detector model file"),
    "engine.profile": (lambda c: c.engine.profile, "model profile: research (non-commercial weights) or permissive"),
    "auth.access_token_ttl_s": (lambda c: c.auth.access_token_ttl_s, "access JWT lifetime"),
    "auth.refresh_token_ttl_s": (lambda c: c.auth.refresh_token_ttl_s, "refresh JWT lifetime"),
    "rate_limits.enabled": (lambda c: c.rate_limits.enabled, "per-client rate limits on"),
    **{
        f"rate_limits.{tier}": (
            (lambda t: lambda c: {k: getattr(getattr(c.rate_limits, t), k)
                                  for k in ("hourly", "daily", "burst_per_minute", "concurrent_sessions")})(tier),
            f"{tier} tier limits (0 = unlimited)",
        )
        for tier in ("basic", "premium", "enterprise")
    },
    "encryption.enabled": (lambda c: bool(c.encryption.keys), "face embeddings encrypted at rest (AES-256-GCM)"),
}


def _entry(config: Config, key: str) -> dict[str, Any]:
    reader, description = PUBLIC[key]
    return {"key": key, "value": reader(config), "description": description}


@routes.get("/api/core/config/")
@operation("Public configuration: thresholds, limits, versions", tags=TAG, responses={200: ConfigList}, security=())
async def config_list(request: web.Request) -> web.Response:
    await _optional_auth(request)
    config = request.app[CONFIG]
    return web.json_response({"count": len(PUBLIC), "results": [_entry(config, k) for k in PUBLIC]})


@routes.get("/api/core/config/{key}/")
@operation("One public configuration value", tags=TAG, responses={200: ConfigEntry}, security=())
async def config_item(request: web.Request) -> web.Response:
    await _optional_auth(request)
    key = request.match_info["key"]
    if key not in PUBLIC:
        raise ApiError(404, f"No public setting named {key[:80]!r}", "NOT_FOUND")
    return web.json_response(_entry(request.app[CONFIG], key))
