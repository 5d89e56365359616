"""The cache interface and tenant galleries, on the in-process cache and on the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from engine.face_engine import FaceEngine
from storage import schema
from storage.cache import Cache, MemoryCache
from storage.crypto import scope_aad
from storage.gallery_blob import decode_gallery, encode_gallery
from storage.galleries import GalleryService
from storage.redis_cache import RedisCache
from storage.sql_store import SqlStore
from tests.conftest import REDIS_URL
from testkit.data import read


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    made: Cache = MemoryCache(prefix) if request.param == "memory" else RedisCache(REDIS_URL, prefix)
    assert await made.ping(), f"{request.param} cache is not reachable (is redis-server running?)"
    yield made
    await made.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = SqlStore(f"sqlite:///{tmp_path}/cache-test.db")
    await s.open()
    yield s
    await s.close()


async def test_get_set_delete_and_ttl(cache: Cache) -> None:
    assert await cache.get("a") is None
    await cache.set("a", b"\x00\x01payload", ttl=30)
    assert await cache.get("a") == b"\x00\x01payload"
    ttl = await cache.ttl("a")
    assert ttl is not None and 28 <= ttl <= 30
    assert await cache.delete("a", "missing") == 1
    assert await cache.get("a") is None and await cache.ttl("a") is None


async def test_entries_expire(cache: Cache) -> None:
    await cache.set("short", b"x", ttl=1)
    await asyncio.sleep(1.2)
    assert await cache.get("short") is None


async def _enroll(store: SqlStore, engine: FaceEngine, client_id: int, tenant: int, user: str, path: str) -> None:
    emb = engine.embedding_of(engine.decode(read(path)))
    await store.add_enrollment(client_id, tenant, user, user, emb, 0.9)


async def test_two_workers_share_galleries_and_see_invalidations(cache: Cache, store: SqlStore, engine: FaceEngine) -> None:
    """Two GalleryServices over one store and one cache behave like two worker processes."""
    client = (await store.create_client("c")).client
    await _enroll(store, engine, client.id, 1, "barack", "faces/barack_obama/obama.jpg")
    worker_a = GalleryService(store, cache, ttl=60)
    # A second process shares Redis, but an in-process cache is its own.
    worker_b = GalleryService(store, cache if cache.backend == "redis" else MemoryCache(), ttl=60)
    probe = engine.embedding_of(engine.decode(read("faces/joe_biden/biden.jpg")))

    assert len(await worker_a.gallery(client.id, 1)) == 1
    # B sees A's published gallery only through a shared cache.
    assert (await worker_b.status(client.id, 1)).cached is (cache.backend == "redis")
    await _enroll(store, engine, client.id, 1, "joe", "faces/joe_biden/biden2.jpg")
    # The write bumped the tenant's database version in its own transaction: both workers see it
    # without an invalidation, whatever the cache (the store's write is neither worker's own, so
    # a plain search may answer before the addition lands; every_addition waits for it).
    assert len(await worker_a.gallery(client.id, 1, every_addition=True)) == 2
    assert len(await worker_b.gallery(client.id, 1, every_addition=True)) == 2
    # A row written behind the store's back bumps nothing: a worker keeps serving its memo (that
    # is what a cache is) until an invalidation, which reaches every worker through the database.
    emb = engine.embedding_of(engine.decode(read("faces/angelina_jolie/img1.jpg")))
    sealed, key_id = store.cipher.seal(emb, scope_aad(client.id, 1, "angelina"))
    async with store.engine.begin() as conn:
        await conn.execute(schema.face_enrollments.insert().values(
            client_id=client.id, tenant_id=1, user_id="angelina", name="angelina", embedding=sealed, key_id=key_id,
            quality=0.9, created_at=datetime.now(timezone.utc),
        ))
    assert len(await worker_a.gallery(client.id, 1)) == 2
    assert await worker_b.invalidate(client.id, 1) is True
    gallery = await worker_a.gallery(client.id, 1)
    assert len(gallery) == 3
    assert gallery.search(probe, k=1)[0].user_id == "joe"
    assert len(await worker_b.gallery(client.id, 1)) == 3
    status = await worker_a.status(client.id, 1)
    assert status.cached and status.enrollment_count == 3 and status.backend == cache.backend


async def test_gallery_serialisation_round_trip(engine: FaceEngine, store: SqlStore) -> None:
    client = (await store.create_client("c")).client
    await _enroll(store, engine, client.id, 2, "barack", "faces/barack_obama/obama.jpg")
    await _enroll(store, engine, client.id, 2, "angelina", "faces/angelina_jolie/img1.jpg")
    gallery = await GalleryService(store, MemoryCache(), 60).gallery(client.id, 2)
    again = decode_gallery(encode_gallery(gallery))
    assert [(e.entry_id, e.user_id) for e in again.entries()] == [(e.entry_id, e.user_id) for e in gallery.entries()]
    for a, b in zip(again.entries(), gallery.entries()):
        assert np.array_equal(a.embedding, b.embedding)


async def test_redis_going_away_falls_back_to_the_database(store: SqlStore, engine: FaceEngine) -> None:
    client = (await store.create_client("c")).client
    await _enroll(store, engine, client.id, 3, "barack", "faces/barack_obama/obama.jpg")
    dead = RedisCache("redis://127.0.0.1:1/0", prefix="x:")  # nothing listens on port 1
    try:
        service = GalleryService(store, dead, ttl=60)
        gallery = await service.gallery(client.id, 3)
        assert len(gallery) == 1
        assert await service.invalidate(client.id, 3) is False
        status = await service.status(client.id, 3)
        assert status.cache_online is False and status.enrollment_count == 1
        assert await service.refresh(client.id, 3) == 1
    finally:
        await dead.close()
