"""A gallery as one blob: what the shared cache (Redis) holds for tenants up to
MAX_BLOB_ENTRIES faces, so the first worker to load a small tenant spares the others its rows."""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass

import numpy as np

from engine.gallery_index import Gallery
from storage.cache import Cache, CacheUnavailable
from storage.gallery_versions import GalleryVersion

log = logging.getLogger(__name__)

# A gallery blob above this many faces is not put in the shared cache (2 KiB a face: 40 MiB);
# workers stream such tenants from the database instead.
MAX_BLOB_ENTRIES = 20_000


@dataclass(frozen=True)
class CacheStatus:
    tenant_id: int
    cached: bool  # a blob for the tenant's current version is in the shared cache
    enrollment_count: int
    ttl_seconds: int | None
    backend: str
    cache_online: bool


class SharedBlobs:
    """Whole galleries in the shared cache, under a key naming the tenant's version (a search
    trusts only the blob of the version the database says) and the recogniser (workers of
    another profile never read it). Every call is best effort: without the cache each worker
    reads the database itself."""

    def __init__(self, cache: Cache, ttl: int, recognizer: str) -> None:
        self._cache = cache
        self._ttl = ttl
        self._recognizer = recognizer

    @property
    def backend(self) -> str:
        return self._cache.backend

    def key(self, client_id: int, tenant_id: int, version: GalleryVersion) -> str:
        return f"gallery:{client_id}:{tenant_id}:{version.tag}:{self._recognizer}"

    async def get(self, client_id: int, tenant_id: int, version: GalleryVersion) -> tuple[Gallery | None, bool]:
        """(the blob of this version or None, whether the cache answered)."""
        if not version.shareable:
            return None, False
        try:
            blob = await self._cache.get(self.key(client_id, tenant_id, version))
        except CacheUnavailable as exc:
            log.warning("cache unavailable, reading tenant %s from the database: %s", tenant_id, exc)
            return None, False
        return (decode_gallery(blob) if blob is not None else None), True

    async def put(self, client_id: int, tenant_id: int, version: GalleryVersion, gallery: Gallery) -> None:
        if not version.shareable or len(gallery) > MAX_BLOB_ENTRIES:
            return
        try:
            await self._cache.set(self.key(client_id, tenant_id, version), encode_gallery(gallery), self._ttl)
        except CacheUnavailable as exc:
            log.warning("cache unavailable, tenant %s not shared: %s", tenant_id, exc)

    async def drop(self, client_id: int, versions: dict[int, GalleryVersion]) -> bool:
        """Drop the blobs of these tenants' versions early; False if the cache was unreachable
        (they expire with their TTL, and no search trusts an old version's blob anyway)."""
        if not versions:
            return True
        try:
            await self._cache.delete(*(self.key(client_id, t, v) for t, v in versions.items()))
            return True
        except CacheUnavailable as exc:
            log.warning("cache unavailable, gallery blobs of client %s left to expire: %s", client_id, exc)
            return False

    async def ttl(self, client_id: int, tenant_id: int, version: GalleryVersion) -> tuple[int | None, bool]:
        """(seconds the blob has left or None, whether the cache answered)."""
        try:
            return await self._cache.ttl(self.key(client_id, tenant_id, version)), True
        except CacheUnavailable:
            return None, False


def encode_gallery(gallery: Gallery) -> bytes:
    ids, users, names, matrix = gallery.arrays()
    header = json.dumps({"dim": gallery.dim or 0, "rows": [[int(i), u, n] for i, u, n in zip(ids.tolist(), users, names)]})
    return struct.pack("<I", len(header.encode())) + header.encode() + matrix.astype("<f4").tobytes()


def decode_gallery(blob: bytes) -> Gallery:
    (size,) = struct.unpack_from("<I", blob)
    meta = json.loads(blob[4 : 4 + size])
    if isinstance(meta, list):  # a blob written before the dimension was stored: infer it
        meta = {"dim": len(blob[4 + size :]) // 4 // max(len(meta), 1), "rows": meta}
    rows, dim = meta["rows"], int(meta["dim"])
    gallery = Gallery()
    if rows:
        matrix = np.frombuffer(blob[4 + size :], dtype="<f4").reshape(len(rows), dim).astype(np.float32)
        gallery.add_arrays(np.asarray([int(r[0]) for r in rows], np.int64), [str(r[1]) for r in rows],
                           [str(r[2]) for r in rows], matrix)
    return gallery
