"""Issue 24 item 6: a user token acts for its own user's sessions only; system metrics count the
caller's own sessions and webhook queue."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from aiohttp.test_utils import TestClient

from api.keys import STORE
from tests.conftest import FaceClient
from testkit.data import read
from tests.session_helpers import create_enrollment

ANGIE = "faces/angelina_jolie/img1.jpg"


async def _user_bearer(http: TestClient, auth: dict[str, str], user_id: str) -> dict[str, str]:
    resp = await http.post("/api/auth/user-token/", json={"user_id": user_id}, headers=auth)
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['access']}"}


async def _post_frame(http: TestClient, token: str, headers: dict[str, str]) -> tuple[int, str]:
    body = {"session_token": token, "frame_data": "data:image/jpeg;base64," + base64.b64encode(read(ANGIE)).decode()}
    resp = await http.post("/api/enrollment/process-frame/", data=io.BytesIO(json.dumps(body).encode()),
                           headers={**headers, "Content-Type": "application/json"})
    return resp.status, await resp.text()


async def test_a_user_token_cannot_post_another_users_session_frames(face_client: FaceClient) -> None:
    http, auth = await face_client()
    mallory = await _user_bearer(http, auth, "mallory")
    victim = await create_enrollment(http, auth, "victim", session_type="upload")
    # The repro: mallory's own user token beside the victim's session token.
    status, text = await _post_frame(http, victim["session_token"], mallory)
    assert status == 404 and json.loads(text)["error"]["code"] == "SESSION_NOT_FOUND", text
    resp = await http.post("/api/auth/enrollment/complete/", json={"session_token": victim["session_token"]},
                           headers=mallory)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "SESSION_NOT_FOUND"
    # Mallory's own session, the client's credentials and the token alone still work.
    own = await (await http.post("/api/enrollment/create/", json={"session_type": "upload"}, headers=mallory)).json()
    status, text = await _post_frame(http, own["session_token"], mallory)
    assert status == 200, text
    status, text = await _post_frame(http, victim["session_token"], auth)
    assert status == 200, text


async def test_system_metrics_count_the_callers_own_sessions_and_queue(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"webhooks.worker_enabled": False})
    made = await http.app[STORE].create_client("busy-neighbour")
    busy = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    resp = await http.post("/api/webhooks/endpoints/", headers=busy,
                           json={"url": "https://hooks.example.com/x", "events": ["user.created"]})
    assert resp.status == 201, await resp.text()
    resp = await http.post("/api/clients/users/", json={"external_id": "n1", "name": "N"}, headers=busy)
    assert resp.status == 201
    await create_enrollment(http, busy, "n2")
    assert (await http.post("/api/streaming/sessions/", json={"session_type": "webrtc"}, headers=busy)).status == 201

    async def metrics(headers: dict[str, str]) -> dict[str, Any]:
        resp = await http.get("/api/analytics/system-metrics/", headers=headers)
        assert resp.status == 200
        return dict((await resp.json())["metrics"])

    theirs, mine = await metrics(busy), await metrics(auth)
    assert theirs["active_sessions"] == 2 and theirs["queue_size"] >= 1, theirs
    assert mine["active_sessions"] == 0 and mine["queue_size"] == 0, mine  # the repro showed the neighbour's
    assert 0 <= mine["cpu_usage"] <= 1


async def test_an_auto_created_user_emits_user_created_and_an_audit_row(face_client: FaceClient) -> None:
    """Issue 24 item 5: an enrollment for an unknown external id creates the user silently."""
    http, auth = await face_client(**{"webhooks.worker_enabled": False})
    resp = await http.post("/api/webhooks/endpoints/", headers=auth,
                           json={"url": "https://hooks.example.com/x", "events": ["user.created"]})
    assert resp.status == 201, await resp.text()
    session = await create_enrollment(http, auth, "EMP-NEW")
    created = session["user_id"]
    stored = await (await http.get("/api/webhooks/events/", headers=auth, params={"event_type": "user.created"})).json()
    assert stored["count"] == 1, stored
    data = stored["results"][0]["data"]
    assert data["user_id"] == created and data["external_id"] == "EMP-NEW"
    assert data["metadata"] == {"created_by": "enrollment"}
    audit = await (await http.get("/api/analytics/audit-logs/", headers=auth, params={"event_type": "user.created"})
                   ).json()
    assert [r["subject"] for r in audit["results"]] == [created]
    # A second enrollment for the same person creates nobody.
    await create_enrollment(http, auth, "EMP-NEW")
    stored = await (await http.get("/api/webhooks/events/", headers=auth, params={"event_type": "user.created"})).json()
    assert stored["count"] == 1


async def _other(http: TestClient) -> dict[str, str]:
    made = await http.app[STORE].create_client("someone-else")
    return {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}


async def test_webhook_endpoints_per_client_are_capped(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"webhooks.max_endpoints_per_client": 2, "webhooks.worker_enabled": False})

    async def create(headers: dict[str, str], n: int) -> Any:
        return await http.post("/api/webhooks/endpoints/", headers=headers,
                               json={"url": f"https://hooks.example.com/{n}", "events": ["user.created"]})

    made = [await create(auth, n) for n in range(2)]
    assert [r.status for r in made] == [201, 201]
    resp = await create(auth, 3)
    assert resp.status == 429
    error = (await resp.json())["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED" and "webhooks.max_endpoints_per_client = 2" in error["message"]
    assert (await create(await _other(http), 4)).status == 201  # another client is not affected
    first = (await made[0].json())["id"]
    assert (await http.delete(f"/api/webhooks/endpoints/{first}/", headers=auth)).status in (200, 204)
    assert (await create(auth, 5)).status == 201  # room again after a delete


async def test_cameras_per_client_are_capped(face_client: FaceClient) -> None:
    # allow_private_targets: the cameras point at 127.0.0.1 (the shipped default refuses loopback)
    http, auth = await face_client(**{"ingest.max_cameras_per_client": 2, "ingest.open_timeout_s": 0.5,
                                      "ingest.backoff_max_s": 1.0, "ingest.allow_private_targets": True})

    async def add(headers: dict[str, str], n: int) -> Any:
        # nothing listens on port 9: the camera stays offline, which is all a cap test needs
        return await http.post("/api/streaming/cameras/", headers=headers,
                               json={"url": f"rtsp://127.0.0.1:9/cam{n}", "max_fps": 2})

    assert [(await add(auth, n)).status for n in range(2)] == [201, 201]
    resp = await add(auth, 3)
    assert resp.status == 429
    error = (await resp.json())["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED" and "ingest.max_cameras_per_client = 2" in error["message"]
    assert (await add(await _other(http), 4)).status == 201
