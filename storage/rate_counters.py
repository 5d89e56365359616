"""Fixed-window request counters for the rate limiter, in process or in Redis.

In Redis (`redis.url`) every worker shares the counters; a Lua script checks every window
and increments them in one atomic step, and a refused request is not counted, so a client that
backs off gets its quota back when the window turns. While Redis is unreachable the limiter
fails open to counters in this process (logged), rather than refusing service.
"""

from __future__ import annotations


import redis.asyncio as redis
from redis.exceptions import RedisError

from storage.redis_breaker import DEFAULT_TIMEOUT_S, RedisBreaker


MINUTE, HOUR, DAY = 60, 3600, 86400


class MemoryRateLimiter:
    """Fixed-window counters of one process."""

    backend = "memory"

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._next_prune = 0.0

    async def hit(self, key: str, windows: list[tuple[int, int]], now: float) -> tuple[bool, list[int]]:
        if now >= self._next_prune:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            self._next_prune = now + MINUTE
        keys = [f"{key}:{w}:{int(now) // w}" for w, _ in windows]
        counts = [self._counts.get(k, (0, 0.0))[0] for k in keys]
        if any(c >= limit for c, (_, limit) in zip(counts, windows)):
            return False, counts
        for k, (w, _) in zip(keys, windows):
            count, _exp = self._counts.get(k, (0, 0.0))
            self._counts[k] = (count + 1, (int(now) // w + 1) * w + 1)
        return True, [c + 1 for c in counts]

    async def close(self) -> None:
        self._counts.clear()


# KEYS: one counter per window. ARGV: limits..., then ttls... Returns {allowed, counts...}.
_LUA = """
local n = #KEYS
local counts = {}
for i = 1, n do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if counts[i] >= tonumber(ARGV[i]) then
    table.insert(counts, 1, 0)
    return counts
  end
end
for i = 1, n do
  counts[i] = redis.call('INCR', KEYS[i])
  if counts[i] == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[n + i])) end
end
table.insert(counts, 1, 1)
return counts
"""


class RedisRateLimiter:
    """Counters shared by every worker; falls back to local counters while Redis is down."""

    backend = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        # A short timeout, and Redis left alone for a while after a failure: this runs on every
        # authenticated request (storage/redis_breaker.py).
        self._client = redis.Redis.from_url(url, socket_connect_timeout=DEFAULT_TIMEOUT_S,
                                            socket_timeout=DEFAULT_TIMEOUT_S)
        self._prefix = prefix
        self._script = self._client.register_script(_LUA)
        self._fallback = MemoryRateLimiter()
        self._breaker = RedisBreaker("rate limit counters (failing open)")

    async def hit(self, key: str, windows: list[tuple[int, int]], now: float) -> tuple[bool, list[int]]:
        keys = [f"{self._prefix}{key}:{w}:{int(now) // w}" for w, _ in windows]
        ttls = [w - int(now) % w + 1 for w, _ in windows]
        if not self._breaker.closed:
            return await self._fallback.hit(key, windows, now)
        try:
            result = await self._script(keys=keys, args=[n for _, n in windows] + ttls)
        except (RedisError, OSError) as exc:
            self._breaker.failed(exc)
            return await self._fallback.hit(key, windows, now)
        return bool(int(result[0])), [int(c) for c in result[1:]]

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()


RateCounters = MemoryRateLimiter | RedisRateLimiter


def build_rate_counters(url: str, prefix: str) -> RateCounters:
    return RedisRateLimiter(url, prefix) if url else MemoryRateLimiter()
