"""Webhooks end to end: a real receiver on 127.0.0.1, the outbox worker of a real app."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from api.keys import STORE, WEBHOOKS
from events.signing import is_public
from tests.conftest import FaceClient
from testkit.data import read
from tests.path_clients import rest_verify
from tests.session_helpers import direct_enroll, make_user, still_jpeg
from tests.webhook_receiver import receiver
from tests.waiting import wait_until

README = Path(__file__).resolve().parents[1] / "README.md"
FAST = {"webhooks.allow_private_targets": True, "webhooks.poll_interval_s": 0.2}


def readme_verifier() -> Any:
    """The Python verification code the README shows, run as written."""
    text = README.read_text()
    block = re.search(r"<!-- webhook-verify -->\s*```python\n(.*?)```", text, re.S)
    assert block, "README lacks the webhook verification example"
    scope: dict[str, Any] = {}
    exec(block.group(1), scope)  # noqa: S102 - our own README
    return scope["verify_webhook"]


async def create_endpoint(http: TestClient, auth: dict[str, str], url: str, events: list[str], **extra: Any
                          ) -> dict[str, Any]:
    resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={"url": url, "events": events, **extra})
    body = await resp.json()
    assert resp.status == 201, body
    return dict(body)


async def logs(http: TestClient, auth: dict[str, str], **query: str) -> list[dict[str, Any]]:
    resp = await http.get("/api/webhooks/logs/", headers=auth, params={"page_size": "100", **query})
    assert resp.status == 200
    return list((await resp.json())["results"])


async def _rows_when(http: TestClient, auth: dict[str, str], count: int) -> list[dict[str, Any]]:
    """The delivery logs once there are `count` of them (else nothing, to poll again)."""
    rows = await logs(http, auth)
    return rows if len(rows) >= count else []


async def test_endpoint_crud_validation_and_refused_targets(face_client: FaceClient) -> None:
    http, auth = await face_client()  # private targets refused by default
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/x", "http://[::1]/x",
                "http://169.254.169.254/latest"):
        resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={"url": url, "events": ["user.created"]})
        body = await resp.json()
        assert resp.status == 400 and body["error"]["code"] == "VALIDATION_ERROR", (url, body)
        assert "url" in body["error"]["details"]
    resp = await http.post("/api/webhooks/endpoints/", headers=auth,
                           json={"url": "https://hooks.example.com/x", "events": ["nope.event"]})
    assert resp.status == 400 and "events.0" in (await resp.json())["error"]["details"]
    created = await create_endpoint(http, auth, "https://hooks.example.com/face", [
        "enrollment.completed", "authentication.failed"], secret="webhook_secret_123", is_active=True,
        retry_policy={"max_retries": 5, "backoff_strategy": "linear", "retry_delay": 2})
    assert created["secret"] == "webhook_secret_123"
    assert created["retry_policy"] == {"max_retries": 5, "backoff_strategy": "linear", "retry_delay": 2.0}
    wid = created["id"]
    got = await (await http.get(f"/api/webhooks/endpoints/{wid}/", headers=auth)).json()
    assert got["secret"] is None and got["events"] == ["enrollment.completed", "authentication.failed"]
    resp = await http.put(f"/api/webhooks/endpoints/{wid}/", headers=auth, json={"is_active": False,
                                                                                  "events": ["user.created"]})
    assert resp.status == 200
    updated = await resp.json()
    assert updated["is_active"] is False and updated["events"] == ["user.created"]
    listed = await (await http.get("/api/webhooks/endpoints/", headers=auth)).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == wid
    other_http, other_auth = http, {"Authorization": "ApiKey nope:nope"}
    assert (await other_http.get(f"/api/webhooks/endpoints/{wid}/", headers=other_auth)).status == 401
    assert (await http.delete(f"/api/webhooks/endpoints/{wid}/", headers=auth)).status == 200
    assert (await http.get(f"/api/webhooks/endpoints/{wid}/", headers=auth)).status == 404
    assert (await http.delete(f"/api/webhooks/endpoints/{wid}/", headers=auth)).status == 404


async def test_user_events_signed_byte_for_byte(face_client: FaceClient) -> None:
    verify = readme_verifier()
    async with receiver() as rx:
        http, auth = await face_client(**FAST)
        ep = await create_endpoint(http, auth, rx.at("/hooks"), ["user.created", "user.updated", "user.deleted"],
                                   secret="s3cret-for-tests")
        user_id = await make_user(http, auth, "EMP001", "John Doe")
        resp = await http.put(f"/api/clients/users/{user_id}/", headers=auth, json={"name": "John Q. Doe"})
        assert resp.status == 200
        await rx.wait_for(2, "/hooks")  # a delivery still pending at the delete would carry the scrubbed name
        assert (await http.delete(f"/api/clients/users/{user_id}/", headers=auth)).status == 200
        got = await rx.wait_for(3, "/hooks")
        by_event = {r.json["event"]: r for r in got}
        assert set(by_event) == {"user.created", "user.updated", "user.deleted"}
        for r in got:
            assert verify(r.body, r.headers["X-Signature"], "s3cret-for-tests") is True
            assert verify(r.body, r.headers["X-Signature"], "wrong-secret") is False
            assert verify(r.body + b" ", r.headers["X-Signature"], "s3cret-for-tests") is False
            env = r.json
            assert set(env) >= {"event", "data", "timestamp", "webhook_id"} and env["webhook_id"] == ep["id"]
            assert r.headers["X-Webhook-Delivery"] == env["delivery_id"]
            assert r.headers["X-Webhook-Event"] == env["event"] and int(r.headers["X-Webhook-Timestamp"]) > 0
        created = by_event["user.created"].json["data"]
        assert created["user_id"] == user_id and created["external_id"] == "EMP001" and created["name"] == "John Doe"
        changed = by_event["user.updated"].json["data"]
        assert changed["name"] == "John Q. Doe" and changed["changed_fields"] == ["name"]
        assert by_event["user.deleted"].json["data"]["user_id"] == user_id
        # erasure: the stored user.created / user.updated events no longer hold the name
        stored = await (await http.get("/api/webhooks/events/", headers=auth, params={"event_type": "user.created"})).json()
        assert stored["results"][0]["data"]["name"] is None and stored["results"][0]["data"]["user_id"] == user_id
        events = await (await http.get("/api/webhooks/events/", headers=auth)).json()
        assert events["count"] == 3
        one = await (await http.get(f"/api/webhooks/events/{events['results'][0]['id']}/", headers=auth)).json()
        assert one["event"] in by_event and one["delivered"] == 1
        # every log: a success with its HTTP status and a duration
        rows = await logs(http, auth)
        assert len(rows) == 3 and {r["status"] for r in rows} == {"success"}
        assert all(r["response_status"] == 200 and r["duration_ms"] > 0 for r in rows)
        filtered = await logs(http, auth, event_type="user.updated", status="success")
        assert [r["event_type"] for r in filtered] == ["user.updated"]
        await asyncio.sleep(0.6)  # nothing is delivered twice
        assert len(rx.to("/hooks")) == 3


async def test_openapi_documents_webhooks_and_analytics(face_client: FaceClient) -> None:
    http, _ = await face_client()
    doc = await (await http.get("/api/schema/")).json()
    ops = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    hooks = sorted((p, m) for p, m, op in ops if "Webhooks" in op["tags"])
    assert hooks == sorted([
        ("/api/webhooks/endpoints/", "get"), ("/api/webhooks/endpoints/", "post"),
        ("/api/webhooks/endpoints/{webhook_id}/", "get"), ("/api/webhooks/endpoints/{webhook_id}/", "put"),
        ("/api/webhooks/endpoints/{webhook_id}/", "patch"), ("/api/webhooks/endpoints/{webhook_id}/", "delete"),
        ("/api/webhooks/events/", "get"), ("/api/webhooks/events/{event_id}/", "get"), ("/api/webhooks/logs/", "get"),
        ("/api/webhooks/logs/{log_id}/", "get"), ("/api/webhooks/logs/{log_id}/retry/", "post")])
    analytics = sorted(p.removeprefix("/api/analytics/") for p, m, op in ops if "Analytics" in op["tags"])
    assert analytics == sorted(["dashboard/", "statistics/", "user-behavior/", "face-recognition-stats/",
                                "system-metrics/", "audit-logs/", "security-events/", "model-performance/",
                                "api/daily/", "api/summary/", "api/overview/"])
    create = doc["paths"]["/api/webhooks/endpoints/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    body = doc["components"]["schemas"][create["$ref"].rsplit("/", 1)[-1]]
    assert {"url", "events", "secret", "is_active", "retry_policy"} <= set(body["properties"])


async def test_retries_with_growing_delays_then_manual_retry(face_client: FaceClient) -> None:
    async with receiver() as rx:
        rx.script["/flaky"] = [500, 500, 500]
        rx.script["/down"] = [503, 503]
        http, auth = await face_client(**FAST, **{"webhooks.jitter": 0.1})
        await create_endpoint(http, auth, rx.at("/flaky"), ["user.created"],
                              retry_policy={"max_retries": 3, "backoff_strategy": "exponential", "retry_delay": 0.3})
        await create_endpoint(http, auth, rx.at("/down"), ["user.created"],
                              retry_policy={"max_retries": 0, "retry_delay": 0.1})
        await make_user(http, auth, "EMP002", "Jane Roe")
        got = await rx.wait_for(4, "/flaky", timeout=30)
        assert [r.status for r in got] == [500, 500, 500, 200]
        assert len({r.headers["X-Webhook-Delivery"] for r in got}) == 1
        assert [r.headers["X-Webhook-Attempt"] for r in got] == ["1", "2", "3", "4"]
        gaps = [b.at - a.at for a, b in zip(got, got[1:])]
        # waits of 0.3, 0.6 and 1.2 s (+-10 % jitter): never shorter; a loaded machine may add to them
        floors = [0.3 * 2 ** i * 0.9 - 0.02 for i in range(3)]
        assert all(g >= f for g, f in zip(gaps, floors)) and gaps[2] > gaps[0], (gaps, floors)
        flaky = sorted((r for r in await logs(http, auth) if r["url"].endswith("/flaky")), key=lambda r: r["attempt"])
        assert [(r["attempt"], r["status"], r["response_status"]) for r in flaky] == [
            (1, "failed", 500), (2, "failed", 500), (3, "failed", 500), (4, "success", 200)]
        assert all(r["duration_ms"] > 0 for r in flaky) and flaky[-1]["delivery_status"] == "delivered"
        # the endpoint without retries: one failed attempt, then a manual retry delivers it
        await rx.wait_for(1, "/down")
        async def down_failed() -> list[dict[str, Any]]:
            failed = await logs(http, auth, status="failed", event_type="user.created")
            down = [r for r in failed if r["url"].endswith("/down")]
            return down if down and down[0]["delivery_status"] == "failed" else []

        # polls at 1 s: the logs endpoint counts against the basic tier's 50 requests a minute
        down = await wait_until(down_failed, message="the /down delivery never failed for good", interval=1.0)
        assert len(down) == 1 and down[0]["response_status"] == 503
        one = await (await http.get(f"/api/webhooks/logs/{down[0]['id']}/", headers=auth)).json()
        assert one["error"] == "HTTP 503"
        resp = await http.post(f"/api/webhooks/logs/{down[0]['id']}/retry/", headers=auth)
        assert resp.status == 202 and (await resp.json())["status"] == "pending"
        got = await rx.wait_for(2, "/down")
        assert [r.status for r in got] == [503, 503]  # the script still says 503 once more
        resp = await http.post(f"/api/webhooks/logs/{down[0]['id']}/retry/", headers=auth)
        got = await rx.wait_for(3, "/down")
        assert got[-1].status == 200 and got[-1].json["data"]["external_id"] == "EMP002"
        assert (await http.post("/api/webhooks/logs/999999/retry/", headers=auth)).status == 404


async def test_enrollment_and_authentication_events(face_client: FaceClient) -> None:
    async with receiver() as rx:
        http, auth = await face_client(**FAST)
        await create_endpoint(http, auth, rx.at("/face"), ["enrollment.completed", "enrollment.failed"])
        user_id = await make_user(http, auth, "EMP010", "Angelina")
        other = await make_user(http, auth, "EMP011", "Someone")
        status, out = await direct_enroll(http, auth, "EMP010", read("faces/angelina_jolie/img1.jpg"))
        assert status == 201, out
        status, out = await direct_enroll(http, auth, "EMP011", read("faces/angelina_jolie/img2.jpg"))
        assert status == 409 and out["error"]["code"] == "FACE_ALREADY_ENROLLED"
        got = await rx.wait_for(2, "/face")
        by_event = {r.json["event"]: r.json["data"] for r in got}
        done = by_event["enrollment.completed"]
        assert done["user_id"] == user_id and done["user_name"] == "Angelina" and done["external_id"] == "EMP010"
        assert 0 < done["quality_score"] <= 1 and done["processing_time"] >= 0 and done["enrollment_date"]
        assert {"enrollment_id", "angles_captured"} <= set(done)
        failed = by_event["enrollment.failed"]
        assert failed["user_id"] == other and failed["error_code"] == "FACE_ALREADY_ENROLLED"
        assert failed["error_message"] and failed["attempts"] == 1 and failed["last_attempt"]


async def test_authentication_events_carry_the_documented_fields(face_client: FaceClient) -> None:
    async with receiver() as rx:
        http, auth = await face_client(**FAST)
        await create_endpoint(http, auth, rx.at("/auth"), ["authentication.success", "authentication.failed",
                                                           "liveness.failed"])
        live_user = await make_user(http, auth, "EMP020", "Video Person")
        await make_user(http, auth, "EMP021", "Angelina")
        assert (await direct_enroll(http, auth, "EMP020", still_jpeg()))[0] == 201
        assert (await direct_enroll(http, auth, "EMP021", read("faces/angelina_jolie/img1.jpg")))[0] == 201
        ok = await rest_verify(http, auth, "EMP020", require_liveness=True, max_seconds=10.0)
        assert ok.success, ok
        bad = await rest_verify(http, auth, "EMP021", require_liveness=False)
        assert bad.decided and not bad.success, bad
        got = await rx.wait_for(2, "/auth")
        by_event = {r.json["event"]: r.json["data"] for r in got}
        success = by_event["authentication.success"]
        assert success["session_id"] == ok.session_id and success["user_id"] == live_user
        assert success["user_name"] == "Video Person" and success["confidence"] > 0.5
        assert success["liveness_score"] > 0 and success["authentication_time"] and success["processing_time"] > 0
        assert success["device_info"]["ip_address"] == "127.0.0.1" and success["device_info"]["user_agent"]
        failed = by_event["authentication.failed"]
        assert failed["session_id"] == bad.session_id and failed["failure_reason"] == bad.reason.upper()
        assert failed["attempts"] == 1 and failed["threshold"] == 0.5 and 0 <= failed["confidence"] < 0.5
        assert "user_name" not in failed


async def test_concurrency_timeout_and_response_size_are_bounded(face_client: FaceClient) -> None:
    async with receiver() as rx:
        rx.delay_s["/slow"] = 0.3
        rx.delay_s["/stuck"] = 5.0
        rx.big_body.add("/big")
        http, auth = await face_client(**FAST, **{"webhooks.per_endpoint_concurrency": 1,
                                                  "webhooks.request_timeout_s": 1.5,
                                                  "webhooks.max_response_bytes": 4096})
        for path in ("/slow", "/stuck", "/big"):
            await create_endpoint(http, auth, rx.at(path), ["user.created"], retry_policy={"max_retries": 0})
        for i in range(3):
            await make_user(http, auth, f"C{i}")
        await rx.wait_for(3, "/slow", timeout=30)
        await rx.wait_for(3, "/big", timeout=30)
        assert rx.max_inflight["/slow"] == 1  # one at a time to that endpoint, though three were due at once
        # polls at 1 s: the logs endpoint counts against the basic tier's 50 requests a minute
        rows = await wait_until(lambda: _rows_when(http, auth, 9), message="nine delivery logs", interval=1.0)
        by_url: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_url.setdefault(row["url"].rsplit("/", 1)[-1], []).append(row)
        assert {r["status"] for r in by_url["slow"]} == {"success"}
        assert all(r["status"] == "failed" and r["error"] == "timed out" and r["response_status"] is None
                   and 1400 <= r["duration_ms"] < 15000 for r in by_url["stuck"]), by_url["stuck"]  # bounded, with room for a busy loop
        assert all(r["status"] == "success" and len(r["response_body"]) == 1024 for r in by_url["big"])


async def test_names_resolving_to_private_addresses_are_refused_at_delivery(face_client: FaceClient) -> None:
    """The guard holds at connection time too: a name (not an IP literal) that resolves to a
    private address is refused at creation (issue 24), and a row that holds one anyway (its DNS
    answer changed after creation) has every address checked again before connecting."""
    name = socket.gethostname()
    addresses = {a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET)}
    assert addresses and not any(is_public(a) for a in addresses), addresses  # true of every container/CI host
    async with receiver() as rx:
        http, auth = await face_client(**{"webhooks.poll_interval_s": 0.1})
        port = rx.url.rsplit(":", 1)[1]
        resp = await http.post("/api/webhooks/endpoints/", headers=auth,
                               json={"url": f"http://{name}:{port}/inside", "events": ["user.created"]})
        assert resp.status == 400, await resp.text()
        created = await create_endpoint(http, auth, "https://hooks.example.com/inside", ["user.created"],
                                        retry_policy={"max_retries": 0})
        webhooks = http.app[WEBHOOKS]
        owner = await http.app[STORE].client_by_key(auth["Authorization"][7:].split(":", 1)[0])
        assert owner is not None
        await webhooks.update(owner.id, created["id"], {"url": f"http://{name}:{port}/inside"}, None)
        await make_user(http, auth, "SSRF")
        rows = await wait_until(lambda: _rows_when(http, auth, 1), message="a delivery log", interval=1.0)
        assert len(rows) == 1 and rows[0]["status"] == "failed" and rows[0]["response_status"] is None
        assert rows[0]["error"].startswith("target refused"), rows[0]
        assert rx.requests == []
