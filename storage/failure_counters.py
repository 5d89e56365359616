"""Failure counters with doubling blocks for the brute-force guard (api/auth_guard.py), in
process or in Redis.

In Redis every worker shares them, so N workers give an attacker the limit once, not N times;
one Lua script reads, counts and sets the block atomically. While Redis is unreachable or slower
than `brute_force.redis_timeout_s` the guard falls back to this process's counters (fail open to
local counting, logged) rather than refusing every credential check, and leaves Redis alone for
`brute_force.redis_retry_s` (storage/redis_breaker.py) so a frozen Redis does not slow every
request.
Subjects (addresses, API keys, user scopes) are hashed into the Redis key names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from storage.redis_breaker import DEFAULT_RETRY_S, DEFAULT_TIMEOUT_S, RedisBreaker


MAX_ENTRIES = 100_000  # per process: the oldest unblocked entries are pruned beyond this


@dataclass(frozen=True)
class FailurePolicy:
    """`limit` failures within `window_s` block a subject for `base_s`, doubling with every
    further failure, at most `max_s`. A limit of 0 never blocks."""

    limit: int
    window_s: float
    base_s: float
    max_s: float


@dataclass(frozen=True)
class FailureState:
    failures: int
    blocked_until: float  # unix seconds; <= now when not blocked


def block_until(policy: FailurePolicy, failures: int, now: float) -> float:
    if policy.limit <= 0 or failures < policy.limit:
        return 0.0
    return now + min(policy.max_s, policy.base_s * 2 ** (failures - policy.limit))


@dataclass
class _Entry:
    failures: int = 0
    last_failure: float = 0.0
    blocked_until: float = 0.0


class MemoryFailureCounters:
    """Counters of one process (bounded)."""

    backend = "memory"

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}

    async def state(self, scope: str, subject: str) -> FailureState | None:
        entry = self._entries.get((scope, subject))
        return None if entry is None else FailureState(entry.failures, entry.blocked_until)

    async def fail(self, scope: str, subject: str, policy: FailurePolicy, now: float) -> FailureState:
        entry = self._entries.pop((scope, subject), None) or _Entry()
        if now - entry.last_failure > policy.window_s:
            entry = _Entry()
        entry.failures += 1
        entry.last_failure = now
        entry.blocked_until = block_until(policy, entry.failures, now) or entry.blocked_until
        self._entries[(scope, subject)] = entry  # re-inserted: the dict stays ordered oldest-first
        self._prune(now)
        return FailureState(entry.failures, entry.blocked_until)

    async def clear(self, scope: str, subject: str) -> None:
        self._entries.pop((scope, subject), None)

    def _prune(self, now: float) -> None:
        if len(self._entries) <= MAX_ENTRIES:
            return
        for key in list(self._entries)[: len(self._entries) // 10 or 1]:
            if self._entries[key].blocked_until <= now:
                del self._entries[key]

    async def close(self) -> None:
        self._entries.clear()


# KEYS[1]: the subject's hash. ARGV: now, limit, window_s, base_s, max_s.
# Returns {failures, blocked_until as a string} (Redis truncates Lua numbers to integers).
_FAIL = """
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local base, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local f = tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local till = tonumber(redis.call('HGET', KEYS[1], 'u') or '0')
if now - last > window then f = 0; till = 0 end
f = f + 1
if limit > 0 and f >= limit then till = now + math.min(cap, base * 2 ^ (f - limit)) end
redis.call('HSET', KEYS[1], 'f', f, 'l', ARGV[1], 'u', tostring(till))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(window, till - now) + 1) * 1000))
return {f, tostring(till)}
"""


class RedisFailureCounters:
    """Counters shared by every worker; this process's counters while Redis is down."""

    backend = "redis"

    def __init__(self, url: str, prefix: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 retry_s: float = DEFAULT_RETRY_S) -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        self._prefix = prefix
        self._fail = self._client.register_script(_FAIL)
        self._fallback = MemoryFailureCounters()
        self._breaker = RedisBreaker("brute-force counters", retry_s)

    def _key(self, scope: str, subject: str) -> str:
        return f"{self._prefix}{scope}:{hashlib.sha256(subject.encode()).hexdigest()[:32]}"

    async def state(self, scope: str, subject: str) -> FailureState | None:
        local = await self._fallback.state(scope, subject)  # failures counted while Redis was down
        if not self._breaker.closed:
            return local
        try:
            got = await self._client.hmget(self._key(scope, subject), ["f", "u"])
        except (RedisError, OSError) as exc:
            self._breaker.failed(exc)
            return local
        if got[0] is None:
            return local
        shared = FailureState(int(got[0]), float(got[1] or 0))
        return local if local is not None and local.blocked_until > shared.blocked_until else shared

    async def fail(self, scope: str, subject: str, policy: FailurePolicy, now: float) -> FailureState:
        if self._breaker.closed:
            try:
                f, till = await self._fail(keys=[self._key(scope, subject)],
                                           args=[repr(now), policy.limit, policy.window_s, policy.base_s, policy.max_s])
            except (RedisError, OSError) as exc:
                self._breaker.failed(exc)
            else:
                return FailureState(int(f), float(till))
        return await self._fallback.fail(scope, subject, policy, now)

    async def clear(self, scope: str, subject: str) -> None:
        await self._fallback.clear(scope, subject)
        if not self._breaker.closed:
            return
        try:
            await self._client.delete(self._key(scope, subject))
        except (RedisError, OSError) as exc:
            self._breaker.failed(exc)

    async def close(self) -> None:
        await self._client.aclose()


FailureCounters = MemoryFailureCounters | RedisFailureCounters


def build_failure_counters(url: str, prefix: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                           retry_s: float = DEFAULT_RETRY_S) -> FailureCounters:
    return RedisFailureCounters(url, prefix, timeout_s, retry_s) if url else MemoryFailureCounters()
