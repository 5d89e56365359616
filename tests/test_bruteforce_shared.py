"""Brute-force counters shared by workers through Redis (storage/failure_counters.py)."""

from __future__ import annotations

import uuid

import redis.asyncio as redis

from api.auth_guard import CredentialGuard
from facestream.config import BruteForceSettings
from storage.failure_counters import RedisFailureCounters
from tests.conftest import REDIS_URL, FaceClient

SETTINGS = BruteForceSettings(max_failures_per_address=10, max_failures_per_key=50, base_block_s=30.0)


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_two_workers_share_the_limit_and_the_block() -> None:
    prefix = f"facestream-test:bf:{uuid.uuid4().hex[:8]}:"
    clock = Clock()
    a = CredentialGuard(SETTINGS, RedisFailureCounters(REDIS_URL, prefix), clock)
    b = CredentialGuard(SETTINGS, RedisFailureCounters(REDIS_URL, prefix), clock)
    blocks = []
    b.listeners.append(blocks.append)
    try:
        for i in range(9):  # 9 failures spread over both workers: nobody blocked yet
            await (a if i % 2 else b).failed("203.0.113.7", "fs_key")
        assert await a.check("203.0.113.7", "fs_key") is None and await b.check("203.0.113.7", None) is None
        await b.failed("203.0.113.7", "fs_key")  # the 10th: each worker alone saw 5
        for guard in (a, b):
            block = await guard.check("203.0.113.7", "fs_key")
            assert block is not None and block.scope == "address" and block.failures == 10
            assert block.retry_after == 30
        assert [(x.scope, x.failures) for x in blocks] == [("address", 10)]
        assert await a.check("198.51.100.1", "fs_key") is None  # another address, same key: below 50
        clock.t += 31  # the block ends; one more failure doubles it (60 s)
        assert await a.check("203.0.113.7", None) is None
        await a.failed("203.0.113.7", None)
        block = await b.check("203.0.113.7", None)
        assert block is not None and block.failures == 11 and block.retry_after == 60
        # /verify lockouts too; a success on either worker clears them for both
        for _ in range(5):
            await a.user_failed("1:0:EMP1")
        assert (await b.user_locked("1:0:EMP1")) is not None
        await b.user_succeeded("1:0:EMP1")
        assert await a.user_locked("1:0:EMP1") is None
        # Redis holds hashed subjects only: no address, key or user in the key names
        r = redis.Redis.from_url(REDIS_URL)
        names = [k.decode() for k in await r.keys(prefix + "*")]
        await r.aclose()
        assert names and not any(s in n for n in names for s in ("203.0.113.7", "fs_key", "EMP1"))
    finally:
        await a.close()
        await b.close()


async def test_redis_down_falls_back_to_this_process() -> None:
    guard = CredentialGuard(SETTINGS, RedisFailureCounters("redis://127.0.0.1:1/0", "x:"), Clock())
    try:
        for _ in range(10):
            await guard.failed("203.0.113.9", None)
        block = await guard.check("203.0.113.9", None)
        assert block is not None and block.failures == 10
    finally:
        await guard.close()


async def test_app_with_shared_counters_blocks_after_the_limit(face_client: FaceClient) -> None:
    prefix = f"facestream-test:bf:{uuid.uuid4().hex[:8]}:"
    http, headers = await face_client(**{"brute_force.url": REDIS_URL, "brute_force.key_prefix": prefix})
    key = headers["Authorization"].split(" ", 1)[1].split(":", 1)[0]
    statuses = []
    for _ in range(11):
        resp = await http.post("/api/core/auth/client/", json={"api_key": key, "api_secret": "wrong-secret"})
        statuses.append(resp.status)
    assert statuses[:10] == [401] * 10 and statuses[10] == 429, statuses
    assert int(resp.headers["Retry-After"]) >= 29
    r = redis.Redis.from_url(REDIS_URL)
    assert len(await r.keys(prefix + "address:*")) == 1 and len(await r.keys(prefix + "key:*")) == 1
    await r.aclose()
