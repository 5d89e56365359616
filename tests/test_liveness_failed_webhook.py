"""A photo attack fires `liveness.failed` (beside `authentication.failed`) on every transport:
REST frames, WebSocket process_frame and WebRTC, whether liveness failed at the end of its window
(`liveness_failed`) or by a failed challenge sequence (`challenge_failed`, what the shipped
challenge policy gives a photo); and a WebRTC enrollment that expires because its face never
proved liveness fires `enrollment.failed` + `liveness.failed`."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import FaceClient
from tests.path_clients import AUTH_FRAME, data_url, ws_open, ws_receive
from testkit.rtc_client import FrameTrack, RtcPeer, still_source
from tests.session_helpers import direct_enroll, make_user, post_frame, still_jpeg
from tests.webhook_receiver import Received, receiver

# A photo never answers the blink prompt: two prompts of half a second each fail the sequence.
SETTINGS = {"webhooks.allow_private_targets": True, "webhooks.poll_interval_s": 0.2,
            "liveness.challenge_timeout_s": 0.5, "liveness.max_challenge_failures": 2,
            "streaming.connect_timeout_s": 20.0}
EVENTS = ["liveness.failed", "authentication.failed", "enrollment.failed"]


async def _victim(http: TestClient, auth: dict[str, str]) -> str:
    """The photo's owner, enrolled from the photo itself: only liveness can stop the photo."""
    uid = await make_user(http, auth, "victim", "Victim")
    status, body = await direct_enroll(http, auth, "victim", still_jpeg())
    assert status == 201, body
    return uid


def _events(got: list[Received], session_id: str) -> dict[str, dict[str, Any]]:
    return {r.json["event"]: r.json["data"] for r in got if r.json["data"].get("session_id") == session_id}


async def _wait_events(rx: Any, session_id: str, names: set[str]) -> dict[str, dict[str, Any]]:
    for count in range(1, 20):
        got = await rx.wait_for(count, "/hook", timeout=30)
        found = _events(got, session_id)
        if names <= set(found):
            return found
    raise AssertionError(f"{names} not delivered for {session_id}")


async def test_rest_photo_attack_fires_liveness_failed(face_client: FaceClient) -> None:
    async with receiver() as rx:
        http, auth = await face_client(**SETTINGS)
        uid = await _victim(http, auth)
        resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={"url": rx.at("/hook"), "events": EVENTS})
        assert resp.status == 201
        resp = await http.post("/api/auth/authentication/create/", headers=auth, json={
            "user_id": "victim", "mode": "verification", "require_liveness": True})
        session = await resp.json()
        out: dict[str, Any] = {}
        for i in range(90):
            status, out = await post_frame(http, session["session_token"], still_jpeg(), i / 15, path=AUTH_FRAME)
            assert status == 200, out
            if out["status"] != "processing":
                break
        assert out["result"]["reason"] == "challenge_failed" and out["error_code"] == "LIVENESS_CHECK_FAILED", out
        found = await _wait_events(rx, session["session_id"], {"liveness.failed", "authentication.failed"})
        assert found["liveness.failed"]["user_id"] == uid and found["liveness.failed"]["liveness_score"] < 0.5
        assert found["authentication.failed"]["failure_reason"] == "CHALLENGE_FAILED"


async def test_websocket_photo_attack_fires_liveness_failed(face_client: FaceClient) -> None:
    async with receiver() as rx:
        http, auth = await face_client(**SETTINGS)
        uid = await _victim(http, auth)
        resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={"url": rx.at("/hook"), "events": EVENTS})
        assert resp.status == 201
        ws = await ws_open(http, auth)
        options = {"mode": "verification", "user_id": "victim", "require_liveness": True}
        result: dict[str, Any] | None = None
        session_id = None
        try:
            for i in range(120):
                await ws.send_json({"type": "process_frame", "frame": data_url(still_jpeg()), "timestamp": i / 15,
                                    "options": options})
                while True:
                    event = await ws_receive(ws, 30.0)
                    session_id = event.get("session_id") or session_id
                    if event["type"] == "recognition_result":
                        result = event["payload"]
                    if event["type"] in ("faces", "recognition_result", "error"):
                        break
                if result is not None:
                    break
        finally:
            await ws.close()
        assert result is not None and result["status"] == "failure", result
        assert result["reason"] == "challenge_failed" and session_id
        found = await _wait_events(rx, session_id, {"liveness.failed", "authentication.failed"})
        assert found["liveness.failed"]["user_id"] == uid


async def test_webrtc_photo_attack_fires_liveness_failed(face_client: FaceClient) -> None:
    async with receiver() as rx:
        http, auth = await face_client(**SETTINGS)
        uid = await _victim(http, auth)
        resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={"url": rx.at("/hook"), "events": EVENTS})
        assert resp.status == 201
        peer = RtcPeer(http, auth)
        await peer.create(mode="verification", user_id="victim", require_liveness=True, timeout=20)
        await peer.connect(FrameTrack(still_source(False)))
        try:
            assert await peer.wait_for(lambda evs: any(e["type"] == "recognition_result" for e in evs), 30)
        finally:
            await peer.close()
        (result,) = peer.of_type("recognition_result")
        assert result["status"] == "failure" and result["reason"] == "challenge_failed", result
        found = await _wait_events(rx, peer.session["session_id"], {"liveness.failed", "authentication.failed"})
        assert found["liveness.failed"]["user_id"] == uid


async def test_webrtc_enrollment_of_a_photo_fires_liveness_failed_at_expiry(face_client: FaceClient) -> None:
    """The photo gives every sample but never liveness: the session is never ready, and when it
    expires the integrator hears why (enrollment.failed LIVENESS_CHECK_FAILED + liveness.failed)."""
    async with receiver() as rx:
        http, auth = await face_client(**SETTINGS)
        await make_user(http, auth, "photo-enrollee")
        resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={"url": rx.at("/hook"), "events": EVENTS})
        assert resp.status == 201
        peer = RtcPeer(http, auth)
        await peer.create(mode="enrollment", user_id="photo-enrollee", require_liveness=True, timeout=6)
        await peer.connect(FrameTrack(still_source(False)))
        try:
            assert await peer.wait_for(lambda evs: any(
                e["type"] == "session_status" and e["payload"].get("close_reason") for e in evs), 30)
        finally:
            await peer.close()
        progress = peer.of_type("enrollment_progress")
        assert progress and progress[-1]["completed_samples"] == progress[-1]["target_samples"], progress[-1:]
        found = await _wait_events(rx, peer.session["session_id"], {"liveness.failed", "enrollment.failed"})
        assert found["enrollment.failed"]["error_code"] == "LIVENESS_CHECK_FAILED", found
