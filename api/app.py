"""create_app(config): the one place where services are built, wired and torn down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from api import (
    auth_routes, auth_session_routes, core_routes, enrollment_routes, face_routes, legacy_routes, streaming_routes,
    usage_routes, user_routes, ws_routes,
)
from api import camera_routes
from api.errors import MAX_UPLOAD, error_middleware
from api.keys import CAMERAS
from api.jwt_tokens import TokenService
from api.platform_middleware import platform_middleware
from api.page_routes import setup_pages
from api.schema_routes import setup_schema
from api.keys import (
    BUS, CACHE, CONFIG, ENGINE, EXECUTOR, GALLERIES, RATE_LIMITER, SESSION_SERVICES, SESSIONS, STORE, TOKENS, USAGE, USERS,
)
from engine.face_engine import FaceEngine
from events.bus import EventBus
from events.memory_bus import InProcessBus
from events.redis_bus import RedisBus
from events.topics import for_session_event
from events.topics import camera_topic
from facestream.config import Config
from recognition.payloads import envelope
from sessions.registry import LiveSessions
from sessions.service import SessionServices
from storage.cache import Cache, MemoryCache
from sessions.camera_directory import CameraDirectory
from storage.camera_store import CameraStore
from storage.crypto import EmbeddingCipher
from storage.galleries import GalleryService
from storage.rate_counters import build_rate_counters
from storage.redis_cache import RedisCache
from storage.session_store import SessionStore
from storage.sql_store import SqlStore
from storage.usage_store import UsageStore
from storage.user_store import UserStore
from streaming.cameras import CameraManager
from streaming.registry import SessionRegistry

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


async def _sessions(app: web.Application) -> AsyncIterator[None]:
    """The session service every transport uses; its cleanup task is started here and closed
    before the executor goes."""
    config = app[CONFIG]
    store = SessionStore(app[STORE].engine, app[STORE].cipher)
    live = LiveSessions(config.sessions.max_live_sessions, config.sessions.cleanup_interval_s, store.expire_stale)
    bus = app[BUS]

    def publish(client_id: int, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        bus.publish_nowait(for_session_event(client_id, session_id), envelope(kind, session_id, payload))

    app[SESSION_SERVICES] = SessionServices(
        engine=app[ENGINE], executor=app[EXECUTOR], store=store, galleries=app[GALLERIES], users=app[USERS],
        settings=config.sessions, recognition=config.recognition, liveness=config.liveness,
        threshold=config.matching.threshold, top_k=config.matching.top_k, live=live, publish=publish,
    )
    live.start()
    yield
    await live.close()


async def _streaming(app: web.Application) -> AsyncIterator[None]:
    """The session registry; every live session is closed at shutdown, before the executor goes."""
    app[SESSIONS] = SessionRegistry(app[SESSION_SERVICES], app[CONFIG].streaming)
    yield
    await app[SESSIONS].close_all()


async def _cameras(app: web.Application) -> AsyncIterator[None]:
    """Door cameras start with the app (config.yaml's written into the table first) and are closed
    at shutdown before the session service and the executor go."""
    config, bus = app[CONFIG], app[BUS]

    def publish(client_id: int, camera_id: str, message: dict[str, Any]) -> None:
        bus.publish_nowait([camera_topic(client_id, camera_id)], message)

    directory = CameraDirectory(CameraStore(app[STORE].engine))
    manager = CameraManager(app[SESSION_SERVICES], directory, config.ingest, publish, config.streaming.status_interval_s)
    app[CAMERAS] = manager
    await manager.sync_config(config.cameras)
    await manager.start_all()
    yield
    await manager.close_all()


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
    app.cleanup_ctx.append(_sessions)
    app.cleanup_ctx.append(_streaming)
    app.cleanup_ctx.append(_cameras)
    app.cleanup_ctx.append(ws_routes.sockets_ctx)
    app.on_shutdown.append(ws_routes.close_sockets)
    app.add_routes(face_routes.routes)
    setup_pages(app)
    app.add_routes(streaming_routes.routes)
    app.add_routes(camera_routes.routes)
    for area in (auth_routes, user_routes, usage_routes, core_routes):
        app.add_routes(area.routes)
    app.add_routes(ws_routes.routes)
    app.add_routes(enrollment_routes.routes)
    app.add_routes(auth_session_routes.routes)
    app.add_routes(legacy_routes.routes)
    setup_schema(app)
    return app
