"""Per-tenant 1:N galleries: built from the store, shared through the cache, memoised in process.

The truth about freshness is the tenant's version in the database (storage/gallery_versions.py),
bumped in the same transaction as every write that changes what the gallery matches. Each
search reads it first (one small query) and trusts only copies made at that version: the
in-process memo if it carries it, else the cache blob stored under a key naming it, else the
rows themselves, read after the version so they are at least that new. A cache that was
unreachable during a write therefore costs a reload, never a stale answer; old blobs are simply
never asked for again and expire by TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from dataclasses import dataclass

import numpy as np

from engine.matching import Gallery, GalleryEntry
from storage.cache import Cache, CacheUnavailable
from storage.gallery_versions import GalleryVersion
from storage.model_stamp import check_rows
from storage.sql_store import SqlStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheStatus:
    tenant_id: int
    cached: bool  # a blob for the tenant's current version is in the shared cache
    enrollment_count: int
    ttl_seconds: int | None
    backend: str
    cache_online: bool


class GalleryService:
    def __init__(self, store: SqlStore, cache: Cache, ttl: int) -> None:
        self._store = store
        self._cache = cache
        self._ttl = ttl
        self._local: dict[tuple[int, int], tuple[GalleryVersion, Gallery]] = {}

    def _blob_key(self, client_id: int, tenant_id: int, version: GalleryVersion) -> str:
        # The recogniser is in the key: workers of another profile never read this blob.
        return f"gallery:{client_id}:{tenant_id}:{version.tag}:{self._store.recognizer}"

    async def gallery(self, client_id: int, tenant_id: int) -> Gallery:
        scope = (client_id, tenant_id)
        version = await self._store.gallery_version(client_id, tenant_id)
        memo = self._local.get(scope)
        if memo is not None and memo[0] == version:
            return memo[1]
        gallery, cache_online = await self._from_cache(client_id, tenant_id, version)
        if gallery is None:
            gallery = await self._load(client_id, tenant_id)
            if cache_online:
                await self._publish(client_id, tenant_id, version, gallery)
        self._local[scope] = (version, gallery)
        return gallery

    async def _from_cache(self, client_id: int, tenant_id: int, version: GalleryVersion) -> tuple[Gallery | None, bool]:
        """(the blob of this version or None, whether the cache answered)."""
        if not version.shareable:
            return None, False
        try:
            blob = await self._cache.get(self._blob_key(client_id, tenant_id, version))
        except CacheUnavailable as exc:
            log.warning("cache unavailable, reading tenant %s from the database: %s", tenant_id, exc)
            return None, False
        return (decode_gallery(blob) if blob is not None else None), True

    async def _publish(self, client_id: int, tenant_id: int, version: GalleryVersion, gallery: Gallery) -> None:
        """Best effort: without the cache every worker reads the database itself."""
        if not version.shareable:
            return
        try:
            await self._cache.set(self._blob_key(client_id, tenant_id, version), encode_gallery(gallery), self._ttl)
        except CacheUnavailable as exc:
            log.warning("cache unavailable, tenant %s not shared: %s", tenant_id, exc)

    async def _load(self, client_id: int, tenant_id: int) -> Gallery:
        rows = await self._store.gallery_rows(client_id, tenant_id)
        check_rows(tenant_id, (r.model_id for r in rows), self._store.recognizer)  # never a mixed search
        return Gallery([GalleryEntry(r.id, r.user_id, r.name, r.embedding) for r in rows])

    async def every_face(self, client_id: int, tenant_id: int) -> Gallery:
        """Every stored face, deactivated users' included, straight from the store: what a
        duplicate check must see (the matching gallery leaves inactive users out)."""
        rows = await self._store.enrollments(client_id, tenant_id)
        check_rows(tenant_id, (r.model_id for r in rows), self._store.recognizer)
        return Gallery([GalleryEntry(r.id, r.user_id, r.name, r.embedding) for r in rows])

    async def invalidate(self, client_id: int, tenant_id: int) -> bool:
        """Make every worker reload the tenant (the database version is bumped, so this holds even
        when the cache is down); False if the shared cache was unreachable to drop the old blob."""
        old = await self._store.gallery_version(client_id, tenant_id)
        await self._store.bump_gallery_version(client_id, tenant_id)
        self._local.pop((client_id, tenant_id), None)
        try:
            await self._cache.delete(self._blob_key(client_id, tenant_id, old))
            return True
        except CacheUnavailable as exc:
            log.warning("cache unavailable, old gallery of tenant %s left to expire: %s", tenant_id, exc)
            return False

    async def invalidate_client(self, client_id: int) -> bool:
        """Every tenant of the client at once (after a platform-user write, which may touch them
        all); False if the shared cache was unreachable for any of them."""
        tenants = await self._store.tenant_ids(client_id)
        return all(await asyncio.gather(*(self.invalidate(client_id, t) for t in tenants)))

    async def refresh(self, client_id: int, tenant_id: int) -> int:
        await self.invalidate(client_id, tenant_id)
        return len(await self.gallery(client_id, tenant_id))

    async def status(self, client_id: int, tenant_id: int) -> CacheStatus:
        version = await self._store.gallery_version(client_id, tenant_id)
        count = await self._store.enrollment_count(client_id, tenant_id)
        try:
            ttl = await self._cache.ttl(self._blob_key(client_id, tenant_id, version))
            online = True
        except CacheUnavailable:
            ttl, online = None, False
        return CacheStatus(tenant_id, ttl is not None, count, ttl, self._cache.backend, online)


def encode_gallery(gallery: Gallery) -> bytes:
    entries = gallery.entries()
    header = json.dumps([[e.entry_id, e.user_id, e.name] for e in entries]).encode()
    matrix = np.stack([e.embedding for e in entries]).astype("<f4") if entries else np.zeros((0, 0), "<f4")
    return struct.pack("<I", len(header)) + header + matrix.tobytes()


def decode_gallery(blob: bytes) -> Gallery:
    (size,) = struct.unpack_from("<I", blob)
    meta = json.loads(blob[4 : 4 + size])
    data = np.frombuffer(blob[4 + size :], dtype="<f4")
    matrix = data.reshape(len(meta), data.size // max(len(meta), 1)).astype(np.float32)  # the recogniser's dimension
    return Gallery([GalleryEntry(int(i), str(u), str(n), matrix[k]) for k, (i, u, n) in enumerate(meta)])
