"""The cache interface and its in-process default; storage.redis_cache holds the Redis one."""

from __future__ import annotations

import time
from typing import Protocol


class CacheUnavailable(Exception):
    """The cache backend cannot be reached; callers fall back to the database."""


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: int) -> None: ...

    async def delete(self, *keys: str) -> int: ...

    async def ttl(self, key: str) -> int | None:
        """Seconds left, or None when the key is absent."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class MemoryCache:
    """A per-process dict with expiry; right for one worker, wrong for several (use Redis)."""

    backend = "memory"

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._data: dict[str, tuple[bytes, float]] = {}

    def _live(self, key: str) -> tuple[bytes, float] | None:
        item = self._data.get(self._prefix + key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            self._data.pop(self._prefix + key, None)
            return None
        return item

    async def get(self, key: str) -> bytes | None:
        item = self._live(key)
        return item[0] if item else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._data[self._prefix + key] = (value, time.monotonic() + ttl)

    async def delete(self, *keys: str) -> int:
        return sum(1 for k in keys if self._data.pop(self._prefix + k, None) is not None)

    async def ttl(self, key: str) -> int | None:
        item = self._live(key)
        return max(0, int(item[1] - time.monotonic())) if item else None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
