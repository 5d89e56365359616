"""Redis implementation of the cache interface, shared by every worker process."""

from __future__ import annotations

import redis.asyncio as redis
from redis.exceptions import RedisError

from storage.cache import CacheUnavailable


class RedisCache:
    backend = "redis"

    def __init__(self, url: str, prefix: str = "") -> None:
        self._prefix = prefix
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        try:
            await self._client.set(self._prefix + key, value, ex=ttl)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        try:
            return int(await self._client.delete(*(self._prefix + k for k in keys)))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def ttl(self, key: str) -> int | None:
        try:
            left = int(await self._client.ttl(self._prefix + key))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return None if left == -2 else max(left, 0)

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()
