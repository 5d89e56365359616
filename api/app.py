"""create_app(config): the one place where services are built, wired and torn down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from api import (
    auth_routes, auth_session_routes, core_routes, enrollment_routes, face_routes, legacy_routes, streaming_routes,
    usage_routes, user_routes, ws_routes,
)
from api.errors import MAX_UPLOAD, error_middleware
from api.jwt_tokens import TokenService
from api.platform_middleware import platform_middleware
from api.page_routes import setup_pages
from api.schema_routes import setup_schema
from api.session_common import sessions_ctx
from api.keys import BUS, CACHE, CONFIG, ENGINE, EXECUTOR, GALLERIES, RATE_LIMITER, STORE, TOKENS, USAGE, USERS
from engine.face_engine import FaceEngine
from events.bus import EventBus
from events.memory_bus import InProcessBus
from events.redis_bus import RedisBus
from facestream.config import Config
from storage.cache import Cache, MemoryCache
from storage.crypto import EmbeddingCipher
from storage.galleries import GalleryService
from storage.rate_counters import build_rate_counters
from storage.redis_cache import RedisCache
from storage.sql_store import SqlStore
from storage.usage_store import UsageStore
from storage.user_store import UserStore

log = logging.getLogger(__name__)


def build_cache(config: Config) -> Cache:
    if config.cache.url:
        return RedisCache(config.cache.url, prefix=config.cache.key_prefix)
    return MemoryCache(prefix=config.cache.key_prefix)


def build_bus(config: Config) -> EventBus:
    return RedisBus(config.events.bus_url) if config.events.bus_url else InProcessBus()


async def _services(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    executor = ThreadPoolExecutor(max_workers=config.server.inference_threads, thread_name_prefix="inference")
    cipher = EmbeddingCipher.from_settings(config.encryption.keys, config.encryption.current_key_id)
    store = SqlStore(config.storage.database_url, cipher)
    cache = build_cache(config)
    bus = build_bus(config)
    limiter = build_rate_counters(config.rate_limits.url, config.rate_limits.key_prefix)
    try:
        version = await store.open()
        log.info("database ready at schema version %d (%s)", version, store.dialect)
        app[EXECUTOR] = executor
        app[STORE] = store
        app[CACHE] = cache
        app[BUS] = bus
        app[GALLERIES] = GalleryService(store, cache, config.cache.ttl_seconds)
        app[TOKENS] = TokenService(config.auth)
        app[RATE_LIMITER] = limiter
        app[USERS] = UserStore(store)
        app[USAGE] = UsageStore(store)
        if ENGINE not in app:
            app[ENGINE] = FaceEngine(config.engine, config.quality)
        yield
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        await bus.close()
        await limiter.close()
        await cache.close()
        await store.close()


def create_app(config: Config, engine: FaceEngine | None = None) -> web.Application:
    """Build the application. `engine` lets a test process share one loaded model set."""
    app = web.Application(
        client_max_size=config.server.max_upload_bytes, middlewares=[platform_middleware, error_middleware]
    )
    app[CONFIG] = config
    app[MAX_UPLOAD] = config.server.max_upload_bytes
    if engine is not None:
        app[ENGINE] = engine
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(sessions_ctx)
    app.cleanup_ctx.append(streaming_routes.streaming_ctx)
    app.cleanup_ctx.append(ws_routes.sockets_ctx)
    app.on_shutdown.append(ws_routes.close_sockets)
    app.add_routes(face_routes.routes)
    setup_pages(app)
    app.add_routes(streaming_routes.routes)
    for area in (auth_routes, user_routes, usage_routes, core_routes):
        app.add_routes(area.routes)
    app.add_routes(ws_routes.routes)
    app.add_routes(enrollment_routes.routes)
    app.add_routes(auth_session_routes.routes)
    app.add_routes(legacy_routes.routes)
    setup_schema(app)
    return app
