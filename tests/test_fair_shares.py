"""Issue 24 item 4a: one client cannot fill the process-wide session and stream caps every client
shares. A client holds at most its share (sessions.max_per_client, streaming.max_sessions_per_client;
0 = a quarter of the cap); at its share it gets a 429 naming that limit while others still get in."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from api.keys import STORE
from tests.conftest import FaceClient


async def _second_client(client: TestClient) -> dict[str, str]:
    made = await client.app[STORE].create_client("other-client")
    return {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}


async def test_one_client_at_its_enrollment_share_leaves_room_for_others(face_client: FaceClient) -> None:
    # The repro: one client asks for long sessions until the server is full. A cap of 8 gives
    # each client a quarter (2).
    client, auth = await face_client(**{"sessions.max_live_sessions": 8})
    for i in range(2):
        resp = await client.post("/api/auth/enrollment/create/", json={"user_id": f"u{i}", "timeout": 1800},
                                 headers=auth)
        assert resp.status == 201, await resp.text()
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": "u9", "timeout": 1800}, headers=auth)
    assert resp.status == 429
    error = (await resp.json())["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert "sessions.max_per_client = 2" in error["message"] and "this client" in error["message"]

    other = await _second_client(client)
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": "x", "timeout": 1800}, headers=other)
    assert resp.status == 201, await resp.text()


async def test_configured_enrollment_share(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"sessions.max_live_sessions": 8, "sessions.max_per_client": 3})
    statuses = []
    for i in range(4):
        resp = await client.post("/api/auth/enrollment/create/", json={"user_id": f"u{i}"}, headers=auth)
        statuses.append(resp.status)
    assert statuses == [201, 201, 201, 429]


async def test_one_client_at_its_stream_share_leaves_room_for_others(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"streaming.max_sessions": 8})
    body = {"session_type": "webrtc", "timeout": 600}
    for _ in range(2):
        resp = await client.post("/api/streaming/sessions/", json=body, headers=auth)
        assert resp.status == 201, await resp.text()
    resp = await client.post("/api/streaming/sessions/", json=body, headers=auth)
    assert resp.status == 429
    error = (await resp.json())["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert "streaming.max_sessions_per_client = 2" in error["message"]

    other = await _second_client(client)
    resp = await client.post("/api/streaming/sessions/", json=body, headers=other)
    assert resp.status == 201, await resp.text()
