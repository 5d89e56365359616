"""Analytics numbers match a scripted history exactly, on SQLite and PostgreSQL, and another
client's data never appears. The history goes through the real recording paths: REST direct
enrollments (real photos and models) and sessions.outcomes.settle (what every transport calls
with its decision), so attempts, audit rows and outbox events are the ones production writes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.keys import SESSION_SERVICES, STORE
from recognition.decision import Decision
from sessions.outcomes import settle
from tests.conftest import POSTGRES_ADMIN_URL, FaceClient
from testkit.data import read
from testkit.helpers import form
from tests.session_helpers import direct_enroll, make_user

M_SUCCESS, K_FAIL = 5, 3  # one of the failures is a liveness failure


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {}
        return
    name = f"facestream_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"storage.database_url": POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name}
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _attempts(http: TestClient, client_id: int, user_id: str, successes: int, failures: int) -> None:
    svc = http.app[SESSION_SERVICES]
    row, _ = await svc.create_row(client_id=client_id, kind="authentication", user_id=user_id, session_type="webcam",
                                  mode="verification", timeout_s=60, params={})
    for i in range(successes):
        await settle(svc, client_id, row.id, "verification", user_id,
                     Decision("success", "match", user_id, "x", 0.3, 0.8, ()), 0.9, failures_before=0)
    for i in range(failures):
        reason = "liveness_failed" if i == 0 else "face_mismatch"
        await settle(svc, client_id, row.id, "verification", user_id,
                     Decision("failure", reason, user_id, None, 0.9, 0.35, ()), 0.2, failures_before=i)


async def get(http: TestClient, auth: dict[str, str], path: str, **query: str) -> dict[str, Any]:
    resp = await http.get("/api/analytics/" + path, headers=auth, params=query)
    body = await resp.json()
    assert resp.status == 200, (path, body)
    return dict(body)


async def test_numbers_match_a_scripted_history(face_client: FaceClient, database: dict[str, Any]) -> None:
    http, auth = await face_client(**database)
    me = (await http.app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0]))
    assert me is not None
    other = await http.app[STORE].create_client("other")
    other_auth = {"Authorization": f"ApiKey {other.client.api_key}:{other.api_secret}"}
    requests = 0
    # N = 2 enrollments and 1 failed one (the same face for another user)
    ids = {}
    for ext, path in (("OBAMA", "faces/barack_obama/obama.jpg"), ("ANGIE", "faces/angelina_jolie/img1.jpg"),
                      ("DUP", None)):
        ids[ext] = await make_user(http, auth, ext)
        requests += 1
        status, out = await direct_enroll(http, auth, ext, read(path or "faces/barack_obama/obama2.jpg"))
        requests += 1
        assert status == (409 if path is None else 201), out
    await _attempts(http, me.id, ids["OBAMA"], M_SUCCESS, K_FAIL)
    await _attempts(http, me.id, ids["ANGIE"], 1, 0)
    # the other client: its own user, attempts and enrollment, none of which may show for `me`
    theirs = await make_user(http, other_auth, "THEIRS")
    assert (await direct_enroll(http, other_auth, "THEIRS", read("faces/angelina_jolie/img2.jpg")))[0] == 201
    await _attempts(http, other.client.id, theirs, 2, 4)

    total, ok, failed = M_SUCCESS + K_FAIL + 1, M_SUCCESS + 1, K_FAIL
    stats = await get(http, auth, "statistics/", period="today")
    requests += 1
    assert stats["authentications"] == {"total": total, "successful": ok, "failed": failed,
                                        "success_rate": round(ok / total, 4), "unique_users": 2,
                                        "average_confidence": round((ok * 0.8 + failed * 0.35) / total, 4)}
    assert stats["by_mode"]["verification"]["attempts"] == total and "identification" not in stats["by_mode"]
    assert stats["enrollments"] == {"started": 3, "completed": 2, "failed": 1, "users_enrolled": 2,
                                    "success_rate": round(2 / 3, 4)}
    assert stats["failure_reasons"] == {"face_mismatch": K_FAIL - 1, "liveness_failed": 1}
    assert stats["liveness"]["passed"] == ok and stats["liveness"]["failed"] == failed
    assert stats["api"]["total_requests"] == requests - 1  # this request is recorded after it answers
    assert stats["daily"] == [{"date": datetime.now(timezone.utc).date().isoformat(),
                               "attempts": total, "accepted": ok, "rejected": failed,
                               "accept_rate": round(ok / total, 4), "liveness_passed": ok,
                               "liveness_pass_rate": round(ok / total, 4),
                               "average_confidence": round((ok * 0.8 + failed * 0.35) / total, 4)}]

    dash = await get(http, auth, "dashboard/")
    requests += 1
    assert dash["period"] == "last_30_days"
    assert dash["metrics"]["total_authentications"] == total and dash["metrics"]["unique_users"] == 2
    assert dash["metrics"]["successful_rate"] == round(ok / total, 4)
    assert dash["metrics"]["total_enrollments"] == 2 and dash["metrics"]["failed_enrollments"] == 1
    assert dash["metrics"]["peak_concurrent_sessions"] >= 2
    assert dash["trends"]["authentications_trend"] == "+100%"

    rec = await get(http, auth, "face-recognition-stats/", period="last_7_days")
    assert rec["verification"]["attempts"] == total and rec["identification"]["attempts"] == 0
    assert rec["enrollments"]["completed"] == 2
    behavior = await get(http, auth, "user-behavior/", period="today")
    assert sum(h["attempts"] for h in behavior["authentication_by_hour"]) == total
    assert sum(behavior["authentication_by_weekday"].values()) == total
    assert [(u["user_id"], u["authentications"], u["successful"]) for u in behavior["most_active_users"]] == [
        (ids["OBAMA"], M_SUCCESS + K_FAIL, M_SUCCESS), (ids["ANGIE"], 1, 1)]
    assert behavior["device_distribution"] == {"upload": 3, "webcam": 2}

    perf = await get(http, auth, "model-performance/", period="today")
    conf = {b["range"]: b["count"] for b in perf["score_distributions"]["confidence"]}
    assert conf["0.8-0.9"] == ok and conf["0.3-0.4"] == failed and sum(conf.values()) == total
    live = {b["range"]: b["count"] for b in perf["score_distributions"]["liveness_score"]}
    assert live["0.9-1.0"] == ok and live["0.2-0.3"] == failed
    assert perf["accept_rate"] == round(ok / total, 4) and perf["daily"][0]["attempts"] == total

    today = datetime.now(timezone.utc).date().isoformat()
    audit = await get(http, auth, "audit-logs/", start_date=today, end_date=today, page_size="200")
    kinds = [r["event_type"] for r in audit["results"]]
    assert kinds.count("authentication.success") == ok and kinds.count("authentication.failed") == failed
    assert kinds.count("enrollment.completed") == 2 and kinds.count("enrollment.failed") == 1
    assert kinds.count("user.created") == 3 and audit["count"] == len(kinds)
    assert ids["OBAMA"] in {r["subject"] for r in audit["results"]}
    only = await get(http, auth, "audit-logs/", event_type="enrollment.failed")
    assert only["count"] == 1 and only["results"][0]["details"]["error_code"] == "FACE_ALREADY_ENROLLED"
    sec = await get(http, auth, "security-events/")
    # one liveness failure: its liveness.failed event and the presentation_attack event (issue 25)
    assert sorted(r["event_type"] for r in sec["results"]) == ["liveness.failed", "presentation_attack"]
    assert sec["summary"] == {"liveness.failed": 1, "presentation_attack": 1}

    summary = await get(http, auth, "api/summary/", period="today")
    daily = await get(http, auth, "api/daily/", days="3")
    overview = await get(http, auth, "api/overview/")
    assert summary["status_codes"]["201"] == 5 and summary["status_codes"]["409"] == 1
    assert summary["total_requests"] == sum(summary["status_codes"].values()) and summary["errors"] == 1
    assert daily["results"][-1]["requests"] == summary["total_requests"] + 1
    assert overview["periods"]["today"]["total_requests"] == summary["total_requests"] + 2
    system = await get(http, auth, "system-metrics/")
    assert 0 <= system["metrics"]["cpu_usage"] <= 1 and system["metrics"]["queue_size"] == 0
    assert set(system["performance"]) >= {"p50_response_time", "p95_response_time", "error_rate", "frames_per_second"}

    # the other client sees only its own
    theirs_stats = await get(http, other_auth, "statistics/", period="today")
    assert theirs_stats["authentications"]["total"] == 6 and theirs_stats["authentications"]["successful"] == 2
    assert theirs_stats["enrollments"]["completed"] == 1 and theirs_stats["enrollments"]["failed"] == 0
    their_audit = await get(http, other_auth, "audit-logs/", page_size="200")
    assert not {r["subject"] for r in their_audit["results"]} & set(ids.values())
    bad = await http.get("/api/analytics/audit-logs/", headers=auth, params={"start_date": "2024-02-10",
                                                                              "end_date": "2024-02-01"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "VALIDATION_ERROR"
    bad = await http.get("/api/analytics/statistics/", headers=auth, params={"period": "forever"})
    assert bad.status == 400


async def test_credential_and_security_events_are_audited(face_client: FaceClient) -> None:
    http, auth = await face_client()
    key = auth["Authorization"].split()[1].split(":")[0]
    bad = await http.get("/api/clients/users/", headers={"Authorization": f"ApiKey {key}:wrong-secret"})
    assert bad.status == 401 and (await bad.json())["error"]["code"] == "INVALID_API_KEY"  # no hint that the key exists
    assert (await http.post("/api/auth/client-token/", headers=auth)).status == 200
    resp = await http.post("/enroll", data=form(read("faces/barack_obama/obama.jpg"), tenant_id=5, user_id=7,
                                                name="obama"), headers=auth)
    assert resp.status == 200, await resp.text()
    sec = await get(http, auth, "security-events/")
    assert [(r["event_type"], r["ip_address"]) for r in sec["results"]] == [("credentials.invalid_secret", "127.0.0.1")]
    audit = await get(http, auth, "audit-logs/", category="credential")
    assert [r["event_type"] for r in audit["results"]] == ["credential.token_issued"]
    enrolled = await get(http, auth, "audit-logs/", event_type="enrollment.face_api")
    assert enrolled["count"] == 1 and enrolled["results"][0]["details"]["tenant_id"] == 5
