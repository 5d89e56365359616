"""The outbox survives a crash: the app (a subprocess) is SIGKILLed after an enrollment committed
and while its webhook was in flight (never answered); after a restart the event is delivered,
exactly once."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from storage.sql_store import SqlStore
from testkit.data import read
from tests.webhook_receiver import receiver

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    metrics_dir = log.parent / "prometheus"
    metrics_dir.mkdir(exist_ok=True)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PYTHONPATH": str(ROOT), "FACESTREAM__STORAGE__DATABASE_URL": db_url,
           "FACESTREAM__WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true", "FACESTREAM__WEBHOOKS__REQUEST_TIMEOUT_S": "2",
           "FACESTREAM__WEBHOOKS__LEASE_MARGIN_S": "1", "FACESTREAM__WEBHOOKS__POLL_INTERVAL_S": "0.2",
           "FACESTREAM__SERVER__INFERENCE_THREADS": "1"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "facestream.cli", "serve", "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def _ready(http: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            async with http.get(base + "/health") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError("server did not start: " + log.read_text()[-3000:])


async def test_enrollment_webhook_delivered_once_after_sigkill(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/crash.db"
    store = SqlStore(db_url)
    await store.open()
    made = await store.create_client("crash-test")
    await store.close()
    auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    port, log = _free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    async with receiver() as rx, aiohttp.ClientSession() as http:
        rx.hold = asyncio.Event()  # the first delivery arrives and is never answered
        proc = _serve(db_url, port, log)
        try:
            await _ready(http, base, proc, log)
            async with http.post(base + "/api/webhooks/endpoints/", headers=auth, json={
                    "url": rx.at("/crash"), "events": ["enrollment.completed"], "secret": "crash-secret",
                    "retry_policy": {"max_retries": 3, "retry_delay": 0.2}}) as resp:
                assert resp.status == 201, await resp.text()
            async with http.post(base + "/api/clients/users/", headers=auth,
                                 json={"external_id": "EMP100", "name": "Crash Person"}) as resp:
                user_id = (await resp.json())["id"]
            fd = aiohttp.FormData()
            fd.add_field("user_id", "EMP100")
            fd.add_field("image", io.BytesIO(read("faces/angelina_jolie/img1.jpg")), filename="f.jpg", content_type="image/jpeg")
            async with http.post(base + "/api/auth/enrollment/direct/", data=fd, headers=auth) as resp:
                assert resp.status == 201, await resp.text()  # committed, with its outbox row
            held = await rx.wait_held(1)
            os.kill(proc.pid, signal.SIGKILL)  # mid-delivery: no answer was ever given
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        assert rx.requests == []
        rx.hold = None
        proc = _serve(db_url, port, log)
        try:
            await _ready(http, base, proc, log)
            got = await rx.wait_for(1, "/crash", timeout=60)
            await asyncio.sleep(2.0)  # and no second copy follows
            assert len(rx.to("/crash")) == 1
            async with http.get(base + "/api/webhooks/logs/", headers=auth) as resp:
                logs = (await resp.json())["results"]
            async with http.get(base + "/metrics") as resp:
                metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
                           for f in text_string_to_metric_families(await resp.text()) for s in f.samples}
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    delivered = got[0].json
    assert delivered["event"] == "enrollment.completed" and delivered["data"]["user_id"] == user_id
    assert got[0].headers["X-Webhook-Delivery"] == held[0].headers["X-Webhook-Delivery"]
    assert got[0].headers["X-Webhook-Attempt"] == "1"  # the killed attempt never finished, so it never counted
    assert [(lg["status"], lg["response_status"]) for lg in logs] == [("success", 200)]
    # multiprocess metrics: the killed process's requests are still counted beside the new one's
    created = (("method", "POST"), ("route", "/api/webhooks/endpoints/"), ("status", "201"))
    assert metrics[("facestream_http_requests_total", created)] == 1
    assert metrics[("facestream_webhook_deliveries_total", (("outcome", "success"),))] == 1
