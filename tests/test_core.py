"""`/api/core/status/` and `/api/core/config/`: service states, and no secrets in the config."""

from __future__ import annotations

import json

from tests.conftest import REDIS_URL, FaceClient


async def test_status_without_redis_is_healthy_and_says_not_configured(face_client: FaceClient) -> None:
    client, auth = await face_client()
    resp = await client.get("/api/core/status/")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "healthy" and body["version"] == "0.1.0" and body["timestamp"].endswith("Z")
    assert body["services"] == {"database": "online", "redis": "not_configured", "face_recognition": "online"}
    assert "X-RateLimit-Limit" not in resp.headers  # anonymous: not counted
    resp = await client.get("/api/core/status/", headers=auth)
    assert resp.status == 200 and resp.headers["X-RateLimit-Limit"] == "50"
    bad = await client.get("/api/core/status/", headers={"Authorization": "ApiKey fs_nobody:x"})
    assert bad.status == 401


async def test_status_with_redis_online_and_offline(face_client: FaceClient) -> None:
    client, _ = await face_client(**{"cache.url": REDIS_URL, "rate_limits.url": REDIS_URL})
    body = await (await client.get("/api/core/status/")).json()
    assert body["services"]["redis"] == "online" and body["status"] == "healthy"

    down, _ = await face_client(**{"events.bus_url": "redis://127.0.0.1:1/0"})
    body = await (await down.get("/api/core/status/")).json()
    assert body["services"]["redis"] == "offline" and body["status"] == "degraded"
    assert body["services"]["database"] == "online"


async def test_public_config_lists_thresholds_but_never_secrets(face_client: FaceClient) -> None:
    signing_key = "jwt-signing-key-that-must-stay-secret-0123456789"
    aes = "k1:" + "A" * 43 + "="
    client, _ = await face_client(**{
        "auth.jwt_signing_key": signing_key, "encryption.keys": [aes], "encryption.current_key_id": "k1",
        "cache.url": "redis://:hunter2@127.0.0.1:6379/15",
    })
    resp = await client.get("/api/core/config/")
    assert resp.status == 200
    body = await resp.json()
    values = {e["key"]: e["value"] for e in body["results"]}
    assert body["count"] == len(values)
    assert values["matching.threshold"] == 0.72 and values["version"] == "0.1.0"
    assert values["rate_limits.premium"] == {"hourly": 5000, "daily": 50000, "burst_per_minute": 200, "concurrent_sessions": 50}
    assert values["encryption.enabled"] is True and values["auth.access_token_ttl_s"] == 900
    text = json.dumps(body)
    for secret in (signing_key, "A" * 43, "hunter2", "sqlite:///", "postgresql://", "redis://"):
        assert secret not in text
    one = await (await client.get("/api/core/config/matching.threshold/")).json()
    assert one == {"key": "matching.threshold", "value": 0.72, "description": one["description"]}
    resp = await client.get("/api/core/config/auth.jwt_signing_key/")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"
