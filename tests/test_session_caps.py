"""The server's caps on sessions held at once: REST state and live streams refuse the same way
(one sessions.errors.TooManySessions), 429 RATE_LIMIT_EXCEEDED in the platform error format."""

from __future__ import annotations

from tests.conftest import FaceClient


async def test_rest_and_stream_caps_answer_429_rate_limit_exceeded(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"sessions.max_live_sessions": 1, "streaming.max_sessions": 1})
    path = "/api/auth/authentication/create/"
    first = await client.post(path, json={"mode": "identification"}, headers=auth)
    assert first.status == 201, await first.text()
    second = await client.post(path, json={"mode": "identification"}, headers=auth)
    assert second.status == 429
    error = (await second.json())["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["message"] == "this server already holds 1 sessions in progress"
    assert error["details"] == {}

    stream = "/api/streaming/sessions/"
    first = await client.post(stream, json={"mode": "identification"}, headers=auth)
    assert first.status == 201, await first.text()
    second = await client.post(stream, json={"mode": "identification"}, headers=auth)
    assert second.status == 429
    error = (await second.json())["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["message"] == "this server already runs 1 stream sessions"
    assert error["details"] == {}
    closed = await client.post(f"/api/streaming/sessions/{(await first.json())['session_id']}/close/", headers=auth)
    assert closed.status == 200
