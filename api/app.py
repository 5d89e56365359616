"""create_app(config): the one place where services are built, wired and torn down."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from api import (
    analytics_routes, auth_routes, auth_session_routes, camera_routes, core_routes, enrollment_routes, face_routes,
    import_routes, legacy_routes, metrics, signaling_socket, streaming_routes, usage_routes, user_routes, user_tokens,
    webhook_routes, ws_routes, key_routes,
)
from api.auth_guard import CREDENTIAL_GUARD, BruteForceBlock, CredentialGuard
from api.cors import cors_middleware
from api.engine_probe import PROBE, ProbeResult
from api.errors import MAX_UPLOAD, error_middleware
from api.input_guard import credential_header_guard
from api.jwt_tokens import TokenService
from api.live_outbound import EnvelopeOutbound
from api.keys import (
    BUS, CACHE, CAMERAS, CONFIG, ENGINE, EVENT_SINK, EXECUTOR, GALLERIES, RATE_LIMITER, SESSION_SERVICES, SESSIONS,
    STORE, TOKENS, USAGE, USERS, WEBHOOKS,
)
from api.revocation import revocation_ctx
from api.log_redaction import install_log_redaction
from api.multipart_sniff import multipart_sniff_middleware
from api.page_routes import setup_pages
from api.platform_middleware import platform_middleware
from api.scopes import kiosk_answer_middleware
from api.schema_routes import setup_schema
from doors.directory import CameraDirectory
from engine.ann_index import HnswParams, hnsw_factory
from engine.face_engine import FaceEngine
from engine.mediapipe_landmarks import shared_pool
from engine.weights import verify_liveness_bundle
from events.audit import record_security_event
from events.bus import EventBus
from events.memory_bus import InProcessBus
from events.redis_bus import RedisBus
from events.retention import RetentionPolicy
from events.runtime import EventsRuntime
from facestream.config import Config
from sessions.expiry import expire_stale
from sessions.registry import LiveSessions
from sessions.service import SessionServices
from storage.cache import Cache, MemoryCache
from storage.camera_store import CameraStore
from storage.crypto import EmbeddingCipher
from storage.failure_counters import build_failure_counters
from storage.galleries import GalleryOptions, GalleryService
from storage.gallery_notify import LocalNotifier, Notifier, RedisNotifier
from storage.index_snapshots import IndexSnapshots
from storage.model_stamp import warn_other_models
from storage.rate_counters import build_rate_counters
from storage.redis_cache import RedisCache
from storage.sealed_cache import seal_shared_cache
from storage.session_store import SessionStore
from storage.sql_store import SqlStore
from storage.usage_store import UsageStore
from storage.user_store import UserStore
from streaming.cameras import CameraManager
from streaming.registry import SessionRegistry

log = logging.getLogger(__name__)


def build_cache(config: Config) -> Cache:
    if config.redis_urls.cache:
        return RedisCache(config.redis_urls.cache, prefix=config.cache.key_prefix)
    return MemoryCache(prefix=config.cache.key_prefix)


def build_galleries(config: Config, store: SqlStore, cache: Cache) -> GalleryService:
    """Galleries change in place from the database change feed; Redis (the cache's) tells the
    other workers at once."""
    m = config.matching
    url = config.redis_urls.cache
    notifier: Notifier = RedisNotifier(url, config.cache.key_prefix) if url else LocalNotifier()
    options = GalleryOptions(m.index, m.ann_threshold, m.load_batch, m.preload, m.preload_wait_max, m.strict_additions)
    params = HnswParams(m.hnsw_m, m.hnsw_ef_construction, m.hnsw_ef_search)
    snapshots = IndexSnapshots(Path(m.index_dir), store, m.index_save_seconds, params) if m.index_dir else None
    return GalleryService(store, cache, config.cache.ttl_seconds, options, notifier, hnsw_factory(params), snapshots)


def build_bus(config: Config) -> EventBus:
    url = config.redis_urls.events
    return RedisBus(url, config.events.key_prefix) if url else InProcessBus()


async def _services(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    executor = ThreadPoolExecutor(max_workers=config.server.inference_threads, thread_name_prefix="inference")
    cipher = EmbeddingCipher.from_settings(config.encryption.keys, config.encryption.current_key_id)
    if ENGINE not in app:  # first: its recogniser id stamps and guards every stored embedding
        app[ENGINE] = FaceEngine(config.engine, config.quality)
    store = SqlStore(config.storage.database_url, cipher, recognizer=app[ENGINE].recognizer_id)
    cache = seal_shared_cache(build_cache(config), cipher)  # issue 9: no plaintext faces in Redis
    bus = build_bus(config)
    limiter = build_rate_counters(config.redis_urls.rate_limits, config.rate_limits.key_prefix)
    guard = app[CREDENTIAL_GUARD]
    bf = config.brute_force
    guard.counters = build_failure_counters(config.redis_urls.brute_force, bf.key_prefix, bf.redis_timeout_s,
                                            bf.redis_retry_s)
    try:
        version = await store.open()
        log.info("database ready at schema version %d (%s)", version, store.dialect)
        await warn_other_models(store)
        app[EXECUTOR] = executor
        app[STORE] = store
        app[CACHE] = cache
        app[BUS] = bus
        app[GALLERIES] = build_galleries(config, store, cache)
        await app[GALLERIES].start()
        app[TOKENS] = TokenService(config.auth)
        app[RATE_LIMITER] = limiter
        app[USERS] = UserStore(store)
        app[USAGE] = UsageStore(store)
        yield
    finally:
        if GALLERIES in app:
            await app[GALLERIES].close()
        executor.shutdown(wait=True, cancel_futures=True)
        await bus.close()
        await limiter.close()
        await guard.close()
        await cache.close()
        await store.close()


async def _sessions(app: web.Application) -> AsyncIterator[None]:
    """The session service every transport uses; its cleanup task is started here and closed
    before the executor goes."""
    config = app[CONFIG]
    store = SessionStore(app[STORE].engine, app[STORE].cipher, app[STORE].recognizer)
    live = LiveSessions(config.sessions.max_live_sessions, config.sessions.cleanup_interval_s,
                        functools.partial(expire_stale, store, app[EVENT_SINK],
                                          lambda c, u: app[SESSION_SERVICES].discard_placeholder(c, u)),
                        max_per_client=config.sessions.max_per_client)
    outbound = EnvelopeOutbound(app[BUS])
    app[SESSION_SERVICES] = SessionServices(
        engine=app[ENGINE], executor=app[EXECUTOR], store=store, galleries=app[GALLERIES], users=app[USERS],
        settings=config.sessions, recognition=config.recognition, liveness=config.liveness,
        threshold=config.matching.threshold, top_k=config.matching.top_k, live=live, outbound=outbound,
        events=app[EVENT_SINK], telemetry=app[metrics.METRICS].telemetry(),
    )
    if config.liveness.landmarks == "mediapipe":  # the first track should not pay for creating a landmarker
        verify_liveness_bundle(config.liveness.mediapipe_model)  # sha256 pinned like every other weight
        pool = shared_pool(config.liveness.mediapipe_model)
        await asyncio.get_running_loop().run_in_executor(app[EXECUTOR], pool.warm)
    live.start()
    yield
    await live.close()


async def _events(app: web.Application) -> AsyncIterator[None]:
    """The webhook outbox sink, its delivery worker and the retention purge (one owner: here)."""
    config = app[CONFIG]
    w, r = config.webhooks, config.retention
    worker = w if w.worker_enabled else None  # WebhookSettings extends the worker's settings
    policy = RetentionPolicy(r.sessions_days, r.attempts_days, r.usage_days, r.audit_days, r.webhook_logs_days)
    runtime = EventsRuntime.build(app[STORE].engine, app[STORE].cipher, worker,
                                  policy if r.purge_interval_s > 0 else None, r.purge_interval_s,
                                  on_outcome=app[metrics.METRICS].webhook_outcome)
    app[EVENT_SINK] = runtime.sink
    app[WEBHOOKS] = runtime.webhooks
    runtime.start()
    recording: set[asyncio.Task[None]] = set()

    def audit_block(block: BruteForceBlock) -> None:  # brute-force blocks join the security events
        task = asyncio.get_running_loop().create_task(_record_block(app, block))
        recording.add(task)
        task.add_done_callback(recording.discard)

    app[CREDENTIAL_GUARD].listeners.append(audit_block)
    yield
    app[CREDENTIAL_GUARD].listeners.remove(audit_block)
    await asyncio.gather(*recording, return_exceptions=True)
    await runtime.close()


async def _record_block(app: web.Application, block: BruteForceBlock) -> None:
    """A block of one API key is the key's client's security event; an address block has no client."""
    store = app[STORE]
    client_id: int | None = None
    if block.scope == "key":
        client = await store.client_by_key(block.subject)
        client_id = client.id if client else None
    elif block.scope == "user":  # "client:tenant:user" of a root /verify lockout
        client_id = int(block.subject.split(":", 1)[0])
    await record_security_event(
        store.engine, client_id, "bruteforce.blocked",
        subject=None if block.scope == "key" else block.subject,
        ip_address=block.subject if block.scope == "address" else None,
        details={"scope": block.scope, "failures": block.failures, "retry_after": block.retry_after},
    )


async def _streaming(app: web.Application) -> AsyncIterator[None]:
    """The session registry; every live session is closed at shutdown, before the executor goes."""
    app[SESSIONS] = SessionRegistry(app[SESSION_SERVICES], app[CONFIG].streaming)
    yield
    await app[SESSIONS].close_all()


async def _cameras(app: web.Application) -> AsyncIterator[None]:
    """Door cameras start with the app (config.yaml's written into the table first) and are closed
    at shutdown before the session service and the executor go."""
    config = app[CONFIG]
    svc = app[SESSION_SERVICES]
    directory = CameraDirectory(CameraStore(app[STORE].engine), app[STORE].cipher)
    await directory.seal_all()
    manager = CameraManager(svc, directory, config.ingest, EnvelopeOutbound(app[BUS]).camera_status,
                            config.streaming.status_interval_s)
    app[CAMERAS] = manager
    await manager.sync_config(config.cameras)
    await manager.start_all()
    yield
    await manager.close_all()


def create_app(config: Config, engine: FaceEngine | None = None) -> web.Application:
    """Build the application. `engine` lets a test process share one loaded model set."""
    app = web.Application(
        client_max_size=config.server.max_upload_bytes,
        middlewares=[cors_middleware, platform_middleware, error_middleware, kiosk_answer_middleware, credential_header_guard, multipart_sniff_middleware],
    )
    app[CONFIG] = config
    app[MAX_UPLOAD] = config.server.max_upload_bytes
    app[CREDENTIAL_GUARD] = CredentialGuard(config.brute_force, sessions=config.sessions)
    app[PROBE] = ProbeResult()
    install_log_redaction()  # issue 9: no credential in any log record
    if engine is not None:
        app[ENGINE] = engine
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(_events)
    app.cleanup_ctx.append(_sessions)
    app.cleanup_ctx.append(_streaming)
    app.cleanup_ctx.append(_cameras)
    app.cleanup_ctx.append(ws_routes.sockets_ctx)
    app.cleanup_ctx.append(revocation_ctx)
    app.on_shutdown.append(ws_routes.close_sockets)
    app.add_routes(face_routes.routes)
    app.add_routes(import_routes.routes)
    setup_pages(app)
    app.add_routes(streaming_routes.routes)
    app.add_routes(camera_routes.routes)
    for area in (auth_routes, user_routes, usage_routes, core_routes):
        app.add_routes(area.routes)
    app.add_routes(ws_routes.routes)
    app.add_routes(enrollment_routes.routes)
    app.add_routes(auth_session_routes.routes)
    app.add_routes(legacy_routes.routes)
    app.add_routes(user_tokens.routes)
    app.add_routes(signaling_socket.routes)
    app.add_routes(webhook_routes.routes)
    app.add_routes(key_routes.routes)
    app.add_routes(analytics_routes.routes)
    metrics.setup(app)
    setup_schema(app)
    return app
