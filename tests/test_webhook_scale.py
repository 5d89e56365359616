"""Two server processes sharing PostgreSQL and Redis (the scale-out shape): every outbox row is
delivered once although both workers claim (FOR UPDATE SKIP LOCKED), a WebSocket subscriber on B
gets the events of a session run on A, and a face enrolled on A is identified on B at once.

A is an app in this test's process; B is a `facestream serve` subprocess on the same database,
bus and cache."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.keys import STORE
from api.metrics import METRICS
from engine.face_engine import FaceEngine
from facestream.config import load_config
from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL
from testkit.data import read
from testkit.helpers import form
from tests.session_helpers import direct_enroll, make_user
from tests.test_webhook_crash import ROOT, _free_port, _ready
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


async def test_two_processes_on_postgres_and_redis(pg_url: str, engine: FaceEngine, tmp_path: Path,
                                                   aiohttp_client: Callable[..., Awaitable[TestClient]]) -> None:
    prefix = f"fs-test-{uuid.uuid4().hex[:8]}-"
    settings = {
        "storage.database_url": pg_url, "events.bus_url": REDIS_URL, "cache.url": REDIS_URL,
        "cache.key_prefix": prefix, "rate_limits.enabled": False,
        "webhooks.allow_private_targets": True, "webhooks.poll_interval_s": 0.05, "webhooks.batch_size": 2,
    }
    a = await aiohttp_client(create_app(load_config(env={}, overrides=settings), engine=engine))
    made = await a.app[STORE].create_client("scale")
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    port, log = _free_port(), tmp_path / "b.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FACESTREAM__SERVER__INFERENCE_THREADS": "1",
           **{"FACESTREAM__" + k.replace(".", "__").upper(): str(v).lower() if isinstance(v, bool) else str(v)
              for k, v in settings.items()}}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "facestream.cli", "serve", "--host", "127.0.0.1", "--port",
                                 str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    b = f"http://127.0.0.1:{port}"
    try:
        async with receiver() as rx, aiohttp.ClientSession() as http:
            await _ready(http, b, proc, log)
            resp = await a.post("/api/webhooks/endpoints/", headers=auth, json={
                "url": rx.at("/scale"), "events": ["user.created", "enrollment.completed"]})
            assert resp.status == 201

            async def user_on_b(ext: str) -> None:
                async with http.post(b + "/api/clients/users/", headers=auth,
                                     json={"external_id": ext, "name": ext}) as r:
                    assert r.status == 201, await r.text()

            n = 24
            await asyncio.gather(*(make_user(a, auth, f"EMP{i:03d}") if i % 2 else user_on_b(f"EMP{i:03d}")
                                   for i in range(n)))
            got = await rx.wait_for(n, "/scale", timeout=60)
            await asyncio.sleep(1.0)  # both workers keep polling: no second copy of any row
            ids = Counter(r.headers["X-Webhook-Delivery"] for r in rx.to("/scale"))
            assert len(ids) == n and set(ids.values()) == {1}, ids.most_common(3)
            assert sorted(r.json["data"]["external_id"] for r in got) == [f"EMP{i:03d}" for i in range(n)]
            on_a = a.app[METRICS].registry.get_sample_value("facestream_webhook_deliveries_total",
                                                             {"outcome": "success"}) or 0
            async with http.get(b + "/metrics") as r:
                on_b = sum(s.value for f in text_string_to_metric_families(await r.text()) for s in f.samples
                           if s.name == "facestream_webhook_deliveries_total" and s.labels == {"outcome": "success"})
            assert on_a + on_b == n and min(on_a, on_b) > 0, (on_a, on_b)  # both delivered, none twice

            async with http.ws_connect(b + "/ws/recognition/") as ws:
                key, secret = auth["Authorization"].split(" ", 1)[1].split(":", 1)
                await ws.send_json({"type": "authenticate", "api_key": key, "api_secret": secret})
                assert (await ws.receive_json(timeout=30))["type"] == "authenticated"
                await ws.send_json({"type": "subscribe", "scope": "client"})
                assert (await ws.receive_json(timeout=30))["type"] == "subscribed"
                user_id = await make_user(a, auth, "OBAMA", "Barack Obama")
                status, out = await direct_enroll(a, auth, "OBAMA", read("faces/barack_obama/obama.jpg"))
                assert status == 201, out
                event = await ws.receive_json(timeout=30)
                while event["type"] != "enrollment.completed":
                    event = await ws.receive_json(timeout=30)
                assert event["session_id"] == out["enrollment_id"] and event["payload"]["user_id"] == user_id
            async with http.post(b + "/identify", data=form(read("faces/barack_obama/obama2.jpg"), tenant_id=0),
                                 headers=auth) as r:
                found = await r.json()
                assert r.status == 200, found
            assert found["match"] is True and str(found["user_id"]) == user_id, found
            hook = await rx.wait_for(n + 1, "/scale")
            assert hook[-1].json["event"] == "enrollment.completed" and hook[-1].json["data"]["user_id"] == user_id
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
