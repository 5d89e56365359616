"""The behaviours the documents' examples rely on (issue 13), each on the real app and models:
users created by enrollment, one-image upload enrollment, authentication without liveness on
one frame, user tokens, multipart under a forced JSON Content-Type, users by external id, CORS,
WebSocket authentication with `secret_key` and REST session tokens, and a WebSocket signaling_url."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import aiohttp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.conftest import FaceClient
from testkit.data import read
from testkit.rtc_client import FrameTrack, still_source

ANGIE = "faces/angelina_jolie/img1.jpg"
ANGIE_2 = "faces/angelina_jolie/img2.jpg"
OBAMA = "faces/barack_obama/obama.jpg"


def _frame(data: bytes, name: str = "frame") -> aiohttp.FormData:
    fd = aiohttp.FormData()
    fd.add_field(name, io.BytesIO(data), filename="face.jpg", content_type="image/jpeg")
    return fd


async def _upload_enroll(client: Any, auth: dict[str, str], user_id: str, image: str) -> dict[str, Any]:
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": user_id, "session_type": "upload"},
                             headers=auth)
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    assert session["target_samples"] == 1
    token = session["session_token"]
    resp = await client.post("/api/auth/enrollment/process-frame/", data=_frame(read(image)),
                             headers={**auth, "X-Session-Token": token})
    assert resp.status == 200
    frame = await resp.json()
    # The documents' upload flow (SDK examples) posts the one image, then calls complete/ itself.
    assert frame["session_status"] == "ready" and frame["status"] == "ready_to_complete", frame
    resp = await client.post("/api/auth/enrollment/complete/", headers={**auth, "X-Session-Token": token})
    assert resp.status == 200
    done = await resp.json()
    assert done["status"] == "completed" and done["enrollment_id"] == session["enrollment_id"], done
    return done


async def test_enrollment_creates_unknown_user_and_upload_completes_from_one_image(face_client: FaceClient) -> None:
    client, auth = await face_client()
    done = await _upload_enroll(client, auth, "user123", ANGIE)
    user = await (await client.get("/api/clients/users/user123/", headers=auth)).json()
    assert user["external_id"] == "user123" and user["id"] == done["user_id"] and user["is_active"] is True
    # A UUID naming nobody is never taken as a new external id.
    resp = await client.post("/api/auth/enrollment/create/",
                             json={"user_id": "8d3e1c52-5b1e-4d1c-9a59-3f5f0a6f2b11"}, headers=auth)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "USER_NOT_FOUND"
    # Verification of an unknown user does not create it.
    resp = await client.post("/api/auth/authentication/create/", json={"user_id": "ghost"}, headers=auth)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "USER_NOT_FOUND"
    assert (await client.get("/api/clients/users/ghost/", headers=auth)).status == 404


async def test_auto_create_users_off_answers_user_not_found(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"sessions.auto_create_users": False})
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": "user123"}, headers=auth)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "USER_NOT_FOUND"


async def test_authentication_without_liveness_decides_on_the_first_frame(face_client: FaceClient) -> None:
    client, auth = await face_client()
    await _upload_enroll(client, auth, "user123", ANGIE)
    outcomes = {}
    for image in (ANGIE_2, OBAMA):
        resp = await client.post("/api/auth/authentication/create/", headers=auth, json={
            "session_type": "webcam", "require_liveness": False, "mode": "verification", "user_id": "user123"})
        assert resp.status == 201
        token = (await resp.json())["session_token"]
        resp = await client.post("/api/auth/authentication/process-frame/", data=_frame(read(image)),
                                 headers={**auth, "X-Session-Token": token})
        assert resp.status == 200
        outcomes[image] = await resp.json()
    good, bad = outcomes[ANGIE_2], outcomes[OBAMA]
    assert good["status"] == "completed" and good["result"]["authenticated"] is True, good
    assert good["result"]["user_id"] and good["frames_processed"] == 1
    assert bad["status"] == "failed" and bad["result"]["authenticated"] is False, bad


async def test_user_token_enrolls_its_own_user_only(face_client: FaceClient) -> None:
    client, auth = await face_client()
    resp = await client.post("/api/auth/user-token/", json={"user_id": "EMP001", "name": "Angie"}, headers=auth)
    assert resp.status == 200
    issued = await resp.json()
    bearer = {"Authorization": f"Bearer {issued['access']}"}
    # enrollment.md: create with the user's token and no user_id; frames as JSON data URLs.
    resp = await client.post("/api/enrollment/create/", json={"session_type": "upload"}, headers=bearer)
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    assert session["user_id"] == issued["user_id"]
    data_url = "data:image/jpeg;base64," + base64.b64encode(read(ANGIE)).decode()
    body = json.dumps({"session_token": session["session_token"], "frame_data": data_url}).encode()
    resp = await client.post("/api/enrollment/process-frame/", data=io.BytesIO(body),
                             headers={**bearer, "Content-Type": "application/json"})
    assert resp.status == 200
    assert (await resp.json())["session_status"] == "completed"
    # The token acts for that user only, and nowhere client-wide.
    resp = await client.post("/api/enrollment/create/", json={"user_id": "someone-else"}, headers=bearer)
    assert resp.status in (403, 404)
    resp = await client.get("/api/clients/users/", headers=bearer)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "INVALID_TOKEN"


async def test_multipart_under_forced_json_content_type_is_read_as_multipart(face_client: FaceClient) -> None:
    client, auth = await face_client()
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": "user9", "session_type": "upload"},
                             headers=auth)
    token = (await resp.json())["session_token"]
    boundary = "----WebKitFormBoundaryX3bY8fQz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"frame\"; filename=\"blob\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + read(ANGIE) + f"\r\n--{boundary}--\r\n".encode()
    headers = {**auth, "X-Session-Token": token, "Content-Type": "application/json"}
    resp = await client.post("/api/auth/enrollment/process-frame/", data=io.BytesIO(body), headers=headers)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status"] == "ready_to_complete"
    # Bytes that are neither JSON nor multipart are still a JSON error.
    resp = await client.post("/api/auth/enrollment/process-frame/", data=b"--not multipart", headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "VALIDATION_ERROR"


async def test_users_addressed_by_external_id_on_every_route(face_client: FaceClient) -> None:
    client, auth = await face_client()
    resp = await client.post("/api/clients/users/", json={"external_id": "EMP001", "name": "John"}, headers=auth)
    uid = (await resp.json())["id"]
    resp = await client.put("/api/clients/users/EMP001/", json={"name": "John Smith"}, headers=auth)
    assert resp.status == 200 and (await resp.json())["name"] == "John Smith"
    for action, active in (("deactivate", False), ("activate", True)):
        resp = await client.post(f"/api/clients/users/EMP001/{action}/", headers=auth)
        assert resp.status == 200 and (await resp.json())["is_active"] is active
    resp = await client.get("/api/clients/users/EMP001/export/", headers=auth)
    assert resp.status == 200 and (await resp.json())["user"]["id"] == uid
    resp = await client.delete("/api/clients/users/EMP001/", headers=auth)
    assert resp.status == 200 and (await resp.json())["id"] == uid
    assert (await client.get(f"/api/clients/users/{uid}/", headers=auth)).status == 404


async def test_cors_same_origin_by_default_and_listed_origins(face_client: FaceClient) -> None:
    client, auth = await face_client()
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    resp = await client.options("/api/clients/users/", headers=preflight)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "CORS_ORIGIN_NOT_ALLOWED"
    resp = await client.get("/health", headers={"Origin": "https://app.example.com"})
    assert resp.status == 200 and "Access-Control-Allow-Origin" not in resp.headers
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.session.ws_connect(client.make_url("/ws/recognition/"), headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


async def test_cors_listed_origin_gets_headers_everywhere(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"server.cors_origins": ["https://app.example.com"]})
    origin = {"Origin": "https://app.example.com"}
    resp = await client.options("/api/clients/users/", headers={
        **origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "POST" in resp.headers["Access-Control-Allow-Methods"]
    assert resp.headers["Access-Control-Allow-Headers"] == "authorization"
    for path, headers in (("/api/clients/users/", auth), ("/health", {}), ("/api/clients/users/nope/", auth)):
        resp = await client.get(path, headers={**headers, **origin})
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example.com", path
        assert "X-RateLimit-Remaining" in resp.headers["Access-Control-Expose-Headers"]
    async with client.session.ws_connect(client.make_url("/ws/recognition/"), headers=origin) as ws:
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json())["type"] == "pong"


async def test_websocket_authenticates_with_secret_key_and_rest_session_tokens(face_client: FaceClient) -> None:
    client, auth = await face_client()
    key, secret = auth["Authorization"].split(" ", 1)[1].split(":", 1)
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": "u1"}, headers=auth)
    enrollment = await resp.json()
    async with client.ws_connect("/ws/recognition/") as ws:
        await ws.send_json({"type": "authenticate", "api_key": key, "secret_key": secret})
        reply = await ws.receive_json()
        assert reply["type"] == "authenticated" and reply["payload"]["scope"] == "client"
    async with client.ws_connect("/ws/recognition/") as ws:
        await ws.send_json({"type": "authenticate", "token": enrollment["session_token"]})
        reply = await ws.receive_json()
        assert reply["type"] == "authenticated" and reply["payload"]["session_id"] == enrollment["session_id"]
        # The socket now gets that REST session's events.
        await client.post("/api/auth/enrollment/process-frame/", data=_frame(read(ANGIE)),
                          headers={"X-Session-Token": enrollment["session_token"]})
        event = await ws.receive_json(timeout=30)
        assert event["type"] == "enrollment_progress" and event["session_id"] == enrollment["session_id"]
    async with client.ws_connect("/ws/recognition/") as ws:
        await ws.send_json({"type": "authenticate", "token": "not-a-token"})
        reply = await ws.receive_json()
        assert reply["type"] == "error" and reply["payload"]["code"] == "INVALID_SESSION_TOKEN"


async def test_signaling_url_is_a_websocket_carrying_offer_and_answer(face_client: FaceClient) -> None:
    client, auth = await face_client()
    resp = await client.post("/api/streaming/sessions/", headers=auth,
                             json={"session_type": "webrtc", "mode": "identification", "require_liveness": False})
    session = await resp.json()
    url = session["signaling_url"]
    assert url.startswith("ws://") and "/api/streaming/signaling/?token=" in url
    pc = RTCPeerConnection()
    try:
        pc.createDataChannel("events")
        pc.addTrack(FrameTrack(still_source(moving=False)))
        await pc.setLocalDescription(await pc.createOffer())
        async with client.session.ws_connect(url) as ws:
            reply = await ws.receive_json(timeout=10)
            assert reply["type"] == "authenticated" and reply["payload"]["session_id"] == session["session_id"]
            await ws.send_json({"type": "offer", "sdp": pc.localDescription.sdp})
            while (answer := await ws.receive_json(timeout=20))["type"] != "answer":
                assert answer["type"] != "error", answer
            await pc.setRemoteDescription(RTCSessionDescription(answer["payload"]["sdp"], "answer"))
            assert pc.remoteDescription is not None and pc.remoteDescription.type == "answer"
    finally:
        await pc.close()
    # The REST offer endpoint stays where it was.
    assert session["offer_url"].endswith("/api/streaming/webrtc/offer/")


async def test_server_initiated_offer_answered_at_webrtc_answer(face_client: FaceClient) -> None:
    """`offer_from: "server"`: the create response carries the server's offer; the client's answer
    goes to /api/streaming/webrtc/answer/ and the session's events arrive on the server's channel."""
    client, auth = await face_client()
    resp = await client.post("/api/streaming/sessions/", headers=auth, json={
        "session_type": "webrtc", "mode": "identification", "require_liveness": False, "offer_from": "server"})
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    assert session["offer"]["type"] == "offer" and "m=video" in session["offer"]["sdp"]
    events: list[dict[str, Any]] = []
    pc = RTCPeerConnection()
    try:
        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            channel.on("message", lambda m: events.append(json.loads(m)))

        await pc.setRemoteDescription(RTCSessionDescription(session["offer"]["sdp"], "offer"))
        pc.addTrack(FrameTrack(still_source(moving=False)))
        await pc.setLocalDescription(await pc.createAnswer())
        resp = await client.post("/api/streaming/webrtc/answer/", json={
            "session_token": session["session_token"], "type": "answer", "sdp": pc.localDescription.sdp})
        assert resp.status == 200 and (await resp.json())["accepted"] is True
        for _ in range(300):
            if any(e["type"] == "faces" and e["payload"]["faces"] for e in events):
                break
            await asyncio.sleep(0.1)
        assert {"session_status", "faces"} <= {e["type"] for e in events}, events[:3]
        # A second answer is out of turn.
        resp = await client.post("/api/streaming/webrtc/answer/", json={
            "session_token": session["session_token"], "type": "answer", "sdp": pc.localDescription.sdp})
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "INVALID_SESSION_STATE"
    finally:
        await pc.close()


async def test_enrollment_frame_status_ready_to_complete_then_completed(face_client: FaceClient) -> None:
    """Who completes follows the documents by path: on /api/auth/enrollment/create/ (the React
    example and every api_integration_guide.md / user_guide.md flow) the frame that meets every
    requirement answers `ready_to_complete` and the session waits for complete/; `auto_complete` /
    `auto_capture: true`, API_INTEGRATION_GUIDE.md's /api/auth/enrollment/ and enrollment.md's
    /api/enrollment/create/ complete on that frame."""
    client, auth = await face_client()

    async def first_frame(path: str, image: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        resp = await client.post(path, headers=auth, json={"session_type": "upload", **body})
        assert resp.status == 201, await resp.text()
        session = await resp.json()
        resp = await client.post("/api/auth/enrollment/process-frame/", data=_frame(read(image)),
                                 headers={**auth, "X-Session-Token": session["session_token"]})
        assert resp.status == 200, await resp.text()
        return session, await resp.json()

    session, frame = await first_frame("/api/auth/enrollment/create/", OBAMA, {"user_id": "react-user"})
    assert frame["status"] == "ready_to_complete" and frame["session_status"] == "ready", frame
    assert frame["ready_to_complete"] is True and frame["enrollment_complete"] is False
    got = await (await client.get(f"/api/auth/enrollment/{session['session_id']}/", headers=auth)).json()
    assert got["status"] == "ready" and got["result"] is None
    token = session["session_token"]
    resp = await client.post("/api/auth/enrollment/complete/", headers={**auth, "X-Session-Token": token})
    assert resp.status == 200 and (await resp.json())["status"] == "completed"
    got = await (await client.get(f"/api/auth/enrollment/{session['session_id']}/", headers=auth)).json()
    assert got["status"] == "completed" and got["result"]["user_id"] == session["user_id"]

    faces = iter((ANGIE, "faces/jennifer_aniston/img12.jpg", "faces/joe_biden/biden2.jpg",
                  "faces/mark_zuckerberg/img13.jpg"))
    for path, body in (("/api/auth/enrollment/create/", {"user_id": "auto", "auto_complete": True}),
                       ("/api/auth/enrollment/create/", {"user_id": "mobile", "auto_capture": True}),
                       ("/api/auth/enrollment/", {"user_id": "guide-3-1"}),
                       ("/api/enrollment/create/", {"user_id": "enrollment-md"})):
        _, frame = await first_frame(path, next(faces), body)
        assert frame["status"] == "completed" and frame["enrollment"]["status"] == "completed", (path, body, frame)
