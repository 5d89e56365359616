"""`redis.url`: one setting puts every shared use (cache, gallery notices, event bus, rate-limit
and failed-credential counters) in the same real Redis, each under its own prefix."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis

from api.auth_guard import CREDENTIAL_GUARD
from api.keys import BUS, RATE_LIMITER
from storage.failure_counters import RedisFailureCounters
from storage.rate_counters import RedisRateLimiter
from tests.conftest import REDIS_URL, FaceClient


async def test_redis_url_wires_every_use_with_its_own_prefix(face_client: FaceClient) -> None:
    run = uuid.uuid4().hex[:8]
    prefixes = {use: f"facestream-test:{run}:{use}:" for use in ("cache", "events", "rate_limits", "brute_force")}
    http, headers = await face_client(**{"redis.url": REDIS_URL, **{f"{use}.key_prefix": p for use, p in prefixes.items()}})
    assert isinstance(http.app[RATE_LIMITER], RedisRateLimiter)
    assert isinstance(http.app[CREDENTIAL_GUARD].counters, RedisFailureCounters)
    assert http.app[BUS].backend == "redis"
    status = await (await http.get("/api/core/status/")).json()
    assert status["services"]["redis"] == "online" and status["status"] == "healthy"

    r = redis.Redis.from_url(REDIS_URL)
    try:
        assert (await http.get("/api/clients/users/", headers=headers)).status == 200  # counted in Redis
        key = headers["Authorization"].split(" ", 1)[1].split(":", 1)[0]
        refused = await http.post("/api/core/auth/client/", json={"api_key": key, "api_secret": "wrong-secret"})
        assert refused.status == 401  # a failure counted in Redis
        assert await r.keys(prefixes["rate_limits"] + "*")
        assert await r.keys(prefixes["brute_force"] + "address:*")
        # The bus publishes on <events prefix><topic> in that Redis.
        pubsub = r.pubsub()
        await pubsub.psubscribe(prefixes["events"] + "*")
        await asyncio.wait_for(pubsub.get_message(timeout=5.0), 10.0)  # the subscribe confirmation
        await http.app[BUS].publish(["probe-topic"], {"type": "probe"})
        message = None
        deadline = asyncio.get_running_loop().time() + 20.0  # a generous ceiling, not a sleep
        while message is None and asyncio.get_running_loop().time() < deadline:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        assert message is not None and message["channel"] == (prefixes["events"] + "probe-topic").encode()
        await pubsub.aclose()
    finally:
        await r.aclose()
