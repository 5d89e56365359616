"""Two app instances sharing PostgreSQL and Redis (the scale-out shape): every outbox row is
delivered once although both workers claim, a WebSocket subscriber on B gets the events of a
session run on A, and a face enrolled on A is identified on B at once.

Both apps run in this test's process (each with its own engine pool, worker, bus connection and
cache client), which keeps the test inside its time budget; the rows are claimed through
PostgreSQL exactly as two processes would (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import STORE
from api.metrics import METRICS
from engine.face_engine import FaceEngine
from facestream.config import load_config
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL
from tests.data import read
from tests.path_clients import root_identify, ws_open, ws_receive
from tests.session_helpers import direct_enroll, make_user
from tests.webhook_receiver import receiver


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    name = f"facestream_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_two_apps_on_postgres_and_redis(pg_url: str, engine: FaceEngine,
                                              aiohttp_client: Callable[..., Awaitable[TestClient]]) -> None:
    prefix = f"fs-test-{uuid.uuid4().hex[:8]}:"
    config = load_config(env={}, overrides={
        "storage.database_url": pg_url, "events.bus_url": REDIS_URL, "cache.url": REDIS_URL,
        "cache.key_prefix": prefix, "rate_limits.enabled": False,
        "webhooks.allow_private_targets": True, "webhooks.poll_interval_s": 0.05, "webhooks.batch_size": 2,
    })
    a = await aiohttp_client(create_app(config, engine=engine))
    b = await aiohttp_client(create_app(config, engine=engine))
    made = await a.app[STORE].create_client("scale")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    async with receiver() as rx:
        resp = await a.post("/api/webhooks/endpoints/", headers=auth, json={
            "url": rx.at("/scale"), "events": ["user.created", "enrollment.completed"]})
        assert resp.status == 201
        n = 24
        await asyncio.gather(*(make_user(a if i % 2 else b, auth, f"EMP{i:03d}") for i in range(n)))
        got = await rx.wait_for(n, "/scale", timeout=60)
        await asyncio.sleep(1.0)  # both workers keep polling: no second copy of any row
        ids = Counter(r.headers["X-Webhook-Delivery"] for r in rx.to("/scale"))
        assert len(ids) == n and set(ids.values()) == {1}, ids.most_common(3)
        assert sorted(r.json["data"]["external_id"] for r in got) == [f"EMP{i:03d}" for i in range(n)]
        by_app = [app.app[METRICS].registry.get_sample_value("facestream_webhook_deliveries_total",
                                                             {"outcome": "success"}) or 0 for app in (a, b)]
        assert sum(by_app) == n and min(by_app) > 0, by_app  # both workers delivered, none twice

        ws = await ws_open(b, auth)
        await ws.send_json({"type": "subscribe", "scope": "client"})
        assert (await ws_receive(ws, 10))["type"] == "subscribed"
        user_id = await make_user(a, auth, "OBAMA", "Barack Obama")
        status, out = await direct_enroll(a, auth, "OBAMA", read("faces/barack_obama/obama.jpg"))
        assert status == 201, out
        event = await ws_receive(ws, 10)
        while event["type"] != "enrollment.completed":
            event = await ws_receive(ws, 10)
        assert event["session_id"] == out["enrollment_id"] and event["payload"]["user_id"] == user_id
        await ws.close()
        status, found = await root_identify(b, auth, 0, read("faces/barack_obama/obama2.jpg"))
        assert status == 200, found
        assert found["match"] is True and str(found["user_id"]) == user_id, found
        hook = await rx.wait_for(n + 1, "/scale")
        assert hook[-1].json["event"] == "enrollment.completed" and hook[-1].json["data"]["user_id"] == user_id
