"""`/metrics` parses with prometheus_client's parser and moves with traffic; the retention purge
deletes rows older than their setting and keeps newer ones."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from api.keys import STORE
from events.delivery import retry_delay
from events.retention import RetentionPolicy, purge
from storage import schema
from storage.events_schema import audit_logs, webhook_deliveries, webhook_endpoints, webhook_events, webhook_logs
from storage.sql_store import SqlStore
from tests.conftest import FaceClient
from tests.path_clients import data_url, ws_open, ws_receive
from tests.session_helpers import make_user, still_jpeg
from tests.waiting import wait_until
from tests.webhook_receiver import receiver


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape(http: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await http.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    return samples(await resp.text())


async def test_metrics_parse_and_move(face_client: FaceClient) -> None:
    async with receiver() as rx:
        http, auth = await face_client(**{"webhooks.allow_private_targets": True, "webhooks.poll_interval_s": 0.1})
        before = await scrape(http)
        users_route = (("method", "POST"), ("route", "/api/clients/users/"), ("status", "201"))
        assert before.get(("facestream_http_requests_total", users_route), 0) == 0
        resp = await http.post("/api/webhooks/endpoints/", headers=auth,
                               json={"url": rx.at("/m"), "events": ["user.created"]})
        assert resp.status == 201
        for i in range(3):
            await make_user(http, auth, f"M{i}")
        assert (await http.get("/api/clients/users/nope/", headers=auth)).status == 404
        await rx.wait_for(3, "/m")
        async def delivered() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            now = await scrape(http)
            return now if now.get(("facestream_webhook_deliveries_total", (("outcome", "success"),)), 0) == 3 else {}

        # the worker records the outcome just after the receiver answered
        after = await wait_until(delivered, message="three successful deliveries counted")
        assert after[("facestream_http_requests_total", users_route)] == 3
        missing = (("method", "GET"), ("route", "/api/clients/users/{user_id}/"), ("status", "404"))
        assert after[("facestream_http_requests_total", missing)] == 1  # the template, not the concrete path
        assert after[("facestream_webhook_deliveries_total", (("outcome", "success"),))] == 3
        assert after[("facestream_webhook_outbox_depth", ())] == 0
        count = ("facestream_http_request_duration_seconds_count", (("method", "POST"), ("route", "/api/clients/users/")))
        assert after[count] == 3
        assert after[("facestream_active_sessions", (("kind", "stream"),))] == 0
        # frames through a live session (WebSocket process_frame) move the frame and model series
        ws = await ws_open(http, auth)
        for t in (0.0, 0.1):
            await ws.send_json({"type": "process_frame", "frame": data_url(still_jpeg()), "timestamp": t,
                                "options": {"mode": "identification", "require_liveness": False}})
        while (await ws_receive(ws, 30))["type"] != "faces":  # newest frame wins: one may replace the other
            pass
        await ws.close()
        frames = await scrape(http)
        processed = frames[("facestream_frames_total", (("outcome", "processed"),))]
        assert processed >= 1
        stages = sum(v for (name, labels), v in frames.items()
                     if name == "facestream_model_latency_seconds_count")
        assert stages == processed


def test_backoff_grows_and_is_capped() -> None:
    import random
    rng = random.Random(1)
    waits = [retry_delay("exponential", 30.0, n, 3600.0, 0.0, rng) for n in range(1, 9)]
    assert waits[:4] == [30.0, 60.0, 120.0, 240.0] and waits[-1] == 3600.0
    assert [retry_delay("linear", 10.0, n, 3600.0, 0.0, rng) for n in (1, 2, 3)] == [10.0, 20.0, 30.0]
    jittered = [retry_delay("fixed", 10.0, 1, 3600.0, 0.2, rng) for _ in range(200)]
    assert 8.0 <= min(jittered) < max(jittered) <= 12.0


async def test_retention_purge_keeps_newer_rows(store: SqlStore) -> None:
    made = await store.create_client("retention")
    cid = made.client.id
    now = datetime.now(timezone.utc)
    old, new = now - timedelta(days=40), now - timedelta(days=5)
    S, A, U = schema.recognition_sessions, schema.recognition_attempts, schema.api_usage
    async with store.engine.begin() as conn:
        for sid, at in (("old-session", old), ("new-session", new)):
            await conn.execute(S.insert().values(
                id=sid, client_id=cid, kind="authentication", token_hash=sid, user_id=None, session_type="webcam",
                mode="identification", status="completed", params={}, result=None, frames_processed=0,
                failed_attempts=0, created_at=at, updated_at=at, expires_at=at + timedelta(minutes=5),
                completed_at=at))
            for attempt_at in (old, new):
                await conn.execute(A.insert().values(
                    session_id=sid, client_id=cid, user_id=None, mode="identification", result="failure",
                    reason="no_match", confidence=0.1, liveness_score=0.1, created_at=max(attempt_at, at)))
        for at in (old, new):
            await conn.execute(U.insert().values(client_id=cid, method="GET", path="/api/x/", status=200,
                                                 duration_ms=1.0, created_at=at))
            await conn.execute(audit_logs.insert().values(client_id=cid, category="user", event_type="user.created",
                                                          outcome="success", details={}, created_at=at))
        await conn.execute(webhook_endpoints.insert().values(
            id="ep", client_id=cid, url="https://x.example/", events=["*"], secret="s", description="",
            is_active=True, max_retries=0, backoff_strategy="fixed", retry_delay=1.0, created_at=old, updated_at=old))
        for name, at, status in (("old-done", old, "delivered"), ("old-pending", old, "pending"), ("new-done", new,
                                                                                                  "delivered")):
            await conn.execute(webhook_events.insert().values(id=name, client_id=cid, event_type="user.created",
                                                              data={}, created_at=at))
            await conn.execute(webhook_deliveries.insert().values(
                id=name + "-d", client_id=cid, event_id=name, endpoint_id="ep", status=status, attempts=1,
                max_attempts=1, next_attempt_at=at, created_at=at))
            await conn.execute(webhook_logs.insert().values(
                client_id=cid, delivery_id=name + "-d", endpoint_id="ep", event_id=name, event_type="user.created",
                url="https://x.example/", attempt=1, status="success", duration_ms=1.0, created_at=at))
    policy = RetentionPolicy(sessions_days=30, attempts_days=30, usage_days=30, audit_days=30, webhook_logs_days=30)
    counts = await purge(store.engine, policy)
    assert counts == {"recognition_attempts": 1, "recognition_sessions": 1, "api_usage": 1, "audit_logs": 1,
                      "webhook_logs": 2, "webhook_events": 1}
    async with store.engine.connect() as conn:
        async def ids(table: Any, col: str = "id") -> list[Any]:
            return sorted(r[0] for r in await conn.execute(sa.select(table.c[col])))
        assert await ids(S) == ["new-session"]
        assert len(await ids(A)) == 2  # the new session's attempts (one dated at its start, one newer)
        assert len(await ids(U)) == 1 and len(await ids(audit_logs)) == 1
        assert await ids(webhook_events) == ["new-done", "old-pending"]  # a pending delivery keeps its event
        assert await ids(webhook_deliveries) == ["new-done-d", "old-pending-d"]
        assert len(await ids(webhook_logs)) == 1
    assert all(v == 0 for v in (await purge(store.engine, policy)).values())  # idempotent
    assert await purge(store.engine, RetentionPolicy(0, 0, 0, 0, 0)) == {}  # 0 keeps everything


async def test_the_app_purges_periodically(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"retention.purge_interval_s": 0.2, "retention.usage_days": 1})
    assert (await http.get("/api/clients/users/", headers=auth)).status == 200  # a fresh usage row
    engine = http.app[STORE].engine
    U = schema.api_usage
    async with engine.begin() as conn:
        client_id = (await conn.execute(sa.select(U.c.client_id))).scalar_one()
        await conn.execute(U.insert().values(client_id=client_id, method="GET", path="/api/old/", status=200,
                                             duration_ms=1.0, created_at=datetime.now(timezone.utc) - timedelta(days=2)))
    async def purged() -> list[str]:
        async with engine.connect() as conn:
            paths = sorted(r[0] for r in await conn.execute(sa.select(U.c.path)))
        return paths if "/api/old/" not in paths else []

    paths = await wait_until(purged, message="the old usage row never purged")
    assert "/api/old/" not in paths and "/api/clients/users/" in paths


def test_webhook_and_retention_settings_are_checked() -> None:
    import pytest

    from facestream.config import ConfigError, load_config
    for bad in ({"webhooks.jitter": 1.5}, {"webhooks.per_endpoint_concurrency": 0}, {"retention.usage_days": -1}):
        with pytest.raises(ConfigError):
            load_config(env={}, overrides=bad)
    cfg = load_config(env={"FACESTREAM__WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"})
    assert cfg.webhooks.allow_private_targets is True and cfg.retention.audit_days == 365
