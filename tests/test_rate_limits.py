"""Per-client rate limits: headers on every authenticated /api/ response, 429 + Retry-After,
in-process and Redis counters (shared by two app instances), fail-open when Redis is gone."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import redis.asyncio as redis
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.errors import ApiError
from api.rate_limit import check_session_capacity, decide, session_limit
from facestream.config import load_config
from storage.records import Client
from tests.conftest import REDIS_URL, FaceClient

HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Window")


def _limits(burst: int, hourly: int = 1000) -> dict[str, Any]:
    return {"rate_limits.basic": {"burst_per_minute": burst, "hourly": hourly, "daily": 10000, "concurrent_sessions": 2}}


async def _fresh_minute() -> None:
    """Fixed windows: keep a burst test inside one minute window."""
    into = time.time() % 60
    if into > 54:
        await asyncio.sleep(60 - into + 0.2)


async def test_headers_on_every_authenticated_response_and_429(face_client: FaceClient) -> None:
    client, auth = await face_client(**_limits(burst=5))
    await _fresh_minute()
    calls = [
        client.get("/api/clients/users/", headers=auth),
        client.post("/api/clients/users/", json={"external_id": "a", "name": "A"}, headers=auth),
        client.post("/api/clients/users/", json={"name": ""}, headers=auth),  # 400
        client.get("/api/clients/users/no-such-user/", headers=auth),  # 404
        client.post("/api/auth/client-token/", headers=auth),
    ]
    statuses, remaining = [], []
    for call in calls:
        resp = await call
        statuses.append(resp.status)
        assert all(h in resp.headers for h in HEADERS), resp.headers
        assert resp.headers["X-RateLimit-Limit"] == "5" and resp.headers["X-RateLimit-Window"] == "60"
        assert int(resp.headers["X-RateLimit-Reset"]) % 60 == 0 and int(resp.headers["X-RateLimit-Reset"]) > time.time()
        remaining.append(int(resp.headers["X-RateLimit-Remaining"]))
    assert statuses == [200, 201, 400, 404, 200]
    assert remaining == [4, 3, 2, 1, 0]

    resp = await client.get("/api/clients/users/", headers=auth)
    assert resp.status == 429
    body = await resp.json()
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    retry = int(resp.headers["Retry-After"])
    assert 1 <= retry <= 60 and body["error"]["details"] == {"limit": 5, "window": 60, "retry_after": retry}
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    # refused requests are not counted: still exactly at the limit, still refused
    assert (await client.get("/api/clients/statistics/", headers=auth)).status == 429

    # unauthenticated requests carry no rate-limit headers and do not count
    anon = await client.get("/api/clients/users/")
    assert anon.status == 401 and "X-RateLimit-Limit" not in anon.headers
    # the root face API is not part of the platform limits
    assert "X-RateLimit-Limit" not in (await client.get("/health")).headers


async def test_limits_are_per_client(face_client: FaceClient) -> None:
    from api.keys import STORE

    client, alice = await face_client(**_limits(burst=2))
    await _fresh_minute()
    made = await client.app[STORE].create_client("bob")
    bob = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    for _ in range(2):
        assert (await client.get("/api/clients/users/", headers=alice)).status == 200
    assert (await client.get("/api/clients/users/", headers=alice)).status == 429
    resp = await client.get("/api/clients/users/", headers=bob)
    assert resp.status == 200 and resp.headers["X-RateLimit-Remaining"] == "1"


async def test_premium_tier_and_the_window_reported(face_client: FaceClient) -> None:
    from api.keys import STORE

    client, _ = await face_client()
    made = await client.app[STORE].create_client("big", tier="premium")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    resp = await client.get("/api/clients/users/", headers=auth)
    # the burst window has the fewest requests left, so it is the one reported
    assert resp.headers["X-RateLimit-Limit"] == "200" and resp.headers["X-RateLimit-Remaining"] == "199"
    # the hourly window is reported once it is the tighter one
    now = 7200.0 + 30
    chosen = decide([(60, 200), (3600, 5000), (86400, 50000)], [10, 4995, 4995], True, now)
    assert (chosen.limit, chosen.remaining, chosen.window, chosen.reset) == (5000, 5, 3600, 10800)
    refused = decide([(60, 50), (3600, 1000)], [50, 1000], False, now)
    assert (refused.window, refused.retry_after, refused.allowed) == (3600, 3570, False)


@pytest.fixture
async def redis_prefix() -> Any:
    prefix = f"test-rl-{uuid.uuid4().hex[:8]}:"
    yield prefix
    r = redis.Redis.from_url(REDIS_URL)
    keys = [k async for k in r.scan_iter(prefix + "*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


async def test_redis_counters_are_shared_by_two_app_instances(
    aiohttp_client: Any, engine: Any, make_config: Any, face_client: FaceClient, redis_prefix: str
) -> None:
    overrides = {**_limits(burst=6), "rate_limits.url": REDIS_URL, "rate_limits.key_prefix": redis_prefix}
    first, auth = await face_client(**overrides)
    # a second worker: same database and Redis, its own process state
    second: TestClient = await aiohttp_client(create_app(make_config(**overrides), engine=engine))
    await _fresh_minute()
    remaining = []
    for i in range(6):
        worker = first if i % 2 == 0 else second
        resp = await worker.get("/api/clients/users/", headers=auth)
        assert resp.status == 200
        remaining.append(int(resp.headers["X-RateLimit-Remaining"]))
    assert remaining == [5, 4, 3, 2, 1, 0]
    for worker in (first, second):
        resp = await worker.get("/api/clients/users/", headers=auth)
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1

    r = redis.Redis.from_url(REDIS_URL)
    keys = sorted([k.decode() async for k in r.scan_iter(redis_prefix + "*")])
    assert len(keys) == 3  # minute, hour, day counters of the one client
    values = [int(await r.get(k)) for k in keys]
    ttls = [await r.ttl(k) for k in keys]
    await r.aclose()
    assert values == [6, 6, 6]
    assert all(0 < t <= 86401 for t in ttls) and min(ttls) <= 61


async def test_redis_unreachable_fails_open_to_local_counters(
    face_client: FaceClient, caplog: pytest.LogCaptureFixture
) -> None:
    client, auth = await face_client(**_limits(burst=3), **{"rate_limits.url": "redis://127.0.0.1:1/0"})
    await _fresh_minute()
    statuses = []
    for _ in range(4):
        resp = await client.get("/api/clients/users/", headers=auth)
        statuses.append(resp.status)
        assert "X-RateLimit-Remaining" in resp.headers
    assert statuses == [200, 200, 200, 429]
    assert any("failing open" in r.message for r in caplog.records)


def test_concurrent_session_limit_for_session_code() -> None:
    config = load_config(env={})
    basic = Client(1, "c", "fs_x", "basic", True, None)  # type: ignore[arg-type]
    assert session_limit(config, "basic") == 10 and session_limit(config, "premium") == 50
    check_session_capacity(config, basic, 9)
    with pytest.raises(ApiError) as err:
        check_session_capacity(config, basic, 10)
    assert err.value.status == 429 and err.value.code == "RATE_LIMIT_EXCEEDED" and err.value.details["limit"] == 10
