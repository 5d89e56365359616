"""Per-tenant 1:N galleries: built from the store, shared through the cache, memoised in process.

The cache holds a version token per tenant and the serialised gallery under that token. A
worker reuses its in-process gallery while the token is unchanged; any write deletes the
token, so every worker reloads on its next search. When the cache is unreachable the store
is read directly: a slow answer, never a wrong or missing one.
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
from dataclasses import dataclass

import numpy as np

from engine.matching import Gallery, GalleryEntry
from engine.types import EMBEDDING_DIM
from storage.cache import Cache, CacheUnavailable
from storage.sql_store import SqlStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheStatus:
    tenant_id: int
    cached: bool
    enrollment_count: int
    ttl_seconds: int | None
    backend: str
    cache_online: bool


class GalleryService:
    def __init__(self, store: SqlStore, cache: Cache, ttl: int) -> None:
        self._store = store
        self._cache = cache
        self._ttl = ttl
        self._local: dict[tuple[int, int], tuple[str, Gallery]] = {}

    @staticmethod
    def _version_key(client_id: int, tenant_id: int) -> str:
        return f"gallery:{client_id}:{tenant_id}:version"

    @staticmethod
    def _blob_key(client_id: int, tenant_id: int, token: str) -> str:
        return f"gallery:{client_id}:{tenant_id}:{token}"

    async def gallery(self, client_id: int, tenant_id: int) -> Gallery:
        scope = (client_id, tenant_id)
        try:
            raw_token = await self._cache.get(self._version_key(*scope))
            token = raw_token.decode() if raw_token else None
            if token is not None:
                memo = self._local.get(scope)
                if memo is not None and memo[0] == token:
                    return memo[1]
                blob = await self._cache.get(self._blob_key(*scope, token))
                if blob is not None:
                    gallery = decode_gallery(blob)
                    self._local[scope] = (token, gallery)
                    return gallery
            return await self._load_and_publish(client_id, tenant_id)
        except CacheUnavailable as exc:
            log.warning("cache unavailable, reading tenant %s from the database: %s", tenant_id, exc)
            self._local.pop(scope, None)
            return await self._load(client_id, tenant_id)

    async def _load(self, client_id: int, tenant_id: int) -> Gallery:
        rows = await self._store.enrollments(client_id, tenant_id)
        return Gallery([GalleryEntry(r.id, r.user_id, r.name, r.embedding) for r in rows])

    async def _load_and_publish(self, client_id: int, tenant_id: int) -> Gallery:
        gallery = await self._load(client_id, tenant_id)
        token = uuid.uuid4().hex
        await self._cache.set(self._blob_key(client_id, tenant_id, token), encode_gallery(gallery), self._ttl)
        await self._cache.set(self._version_key(client_id, tenant_id), token.encode(), self._ttl)
        self._local[(client_id, tenant_id)] = (token, gallery)
        return gallery

    async def invalidate(self, client_id: int, tenant_id: int) -> bool:
        """Drop the tenant's cached gallery everywhere; False if the shared cache was unreachable."""
        memo = self._local.pop((client_id, tenant_id), None)
        keys = [self._version_key(client_id, tenant_id)]
        if memo is not None:
            keys.append(self._blob_key(client_id, tenant_id, memo[0]))
        try:
            token = await self._cache.get(keys[0])
            if token:
                keys.append(self._blob_key(client_id, tenant_id, token.decode()))
            await self._cache.delete(*keys)
            return True
        except CacheUnavailable as exc:
            log.warning("cache unavailable, could not invalidate tenant %s: %s", tenant_id, exc)
            return False

    async def refresh(self, client_id: int, tenant_id: int) -> int:
        await self.invalidate(client_id, tenant_id)
        try:
            return len(await self._load_and_publish(client_id, tenant_id))
        except CacheUnavailable:
            return len(await self._load(client_id, tenant_id))

    async def status(self, client_id: int, tenant_id: int) -> CacheStatus:
        count = len(await self._store.enrollments(client_id, tenant_id))
        try:
            ttl = await self._cache.ttl(self._version_key(client_id, tenant_id))
            online = True
        except CacheUnavailable:
            ttl, online = None, False
        return CacheStatus(tenant_id, ttl is not None, count, ttl, self._cache.backend, online)


def encode_gallery(gallery: Gallery) -> bytes:
    entries = gallery.entries()
    header = json.dumps([[e.entry_id, e.user_id, e.name] for e in entries]).encode()
    matrix = np.stack([e.embedding for e in entries]).astype("<f4") if entries else np.zeros((0, EMBEDDING_DIM), "<f4")
    return struct.pack("<I", len(header)) + header + matrix.tobytes()


def decode_gallery(blob: bytes) -> Gallery:
    (size,) = struct.unpack_from("<I", blob)
    meta = json.loads(blob[4 : 4 + size])
    matrix = np.frombuffer(blob[4 + size :], dtype="<f4").reshape(len(meta), EMBEDDING_DIM).astype(np.float32)
    return Gallery([GalleryEntry(int(i), str(u), str(n), matrix[k]) for k, (i, u, n) in enumerate(meta)])
