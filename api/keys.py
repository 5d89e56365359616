"""Typed application keys for the shared services (created in cleanup_ctx, never globals)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from engine.face_engine import FaceEngine
from events.bus import EventBus
from api.jwt_tokens import TokenService
from facestream.config import Config
from storage.cache import Cache
from storage.galleries import GalleryService
from storage.rate_counters import MemoryRateLimiter, RedisRateLimiter
from storage.usage_store import UsageStore
from storage.user_store import UserStore
from storage.sql_store import SqlStore
from sessions.service import SessionServices
from streaming.registry import SessionRegistry
from streaming.cameras import CameraManager

CONFIG = web.AppKey("config", Config)
ENGINE = web.AppKey("engine", FaceEngine)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
STORE = web.AppKey("store", SqlStore)
CACHE = web.AppKey("cache", Cache)  # type: ignore[type-abstract]
GALLERIES = web.AppKey("galleries", GalleryService)
BUS = web.AppKey("bus", EventBus)  # type: ignore[type-abstract]
SESSIONS = web.AppKey("stream_sessions", SessionRegistry)
SESSION_SERVICES = web.AppKey("rest_sessions", SessionServices)

TOKENS = web.AppKey("jwt_tokens", TokenService)
RATE_LIMITER = web.AppKey("rate_limiter", MemoryRateLimiter | RedisRateLimiter)  # type: ignore[arg-type]
USERS = web.AppKey("users", UserStore)
USAGE = web.AppKey("api_usage", UsageStore)

# Webhooks, audit and retention (issue 12).
from events.outbox import EventSink  # noqa: E402
from events.webhook_store import WebhookStore  # noqa: E402

EVENT_SINK = web.AppKey("event_sink", EventSink)
WEBHOOKS = web.AppKey("webhooks", WebhookStore)
CAMERAS = web.AppKey("cameras", CameraManager)
