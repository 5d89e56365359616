"""Enrollment sessions over REST with real models and real frames (shared/data)."""

from __future__ import annotations

import asyncio
import base64

import cv2
import numpy as np

from api.keys import STORE
from tests.conftest import FaceClient
from testkit.data import read
from tests.session_helpers import (
    create_enrollment, direct_enroll, enroll_video, make_user, post_frame, still_jpeg, video_jpegs,
)


async def test_blink_video_enrollment_completes_with_liveness_verified(face_client: FaceClient) -> None:
    client, auth = await face_client()
    uid = await make_user(client, auth, "EMP001", "John Doe")
    session, responses = await enroll_video(client, auth, "EMP001", session_type="webcam", target_samples=5,
                                            auto_complete=True)
    assert session["status"] == "pending" and session["target_samples"] == 5 and session["session_token"]
    final = responses[-1]
    assert final["session_status"] == "completed", responses[-1]
    assert final["liveness_verified"] is True and final["enrollment_complete"] is True
    assert final["completed_samples"] == 5 and final["enrollment_progress"] == 100.0
    assert final["liveness_data"]["blinks_detected"] >= 2
    # Progress grows monotonically and liveness was the last requirement met, not the first.
    progress = [r["completed_samples"] for r in responses]
    assert progress == sorted(progress) and len(responses) > 10
    assert any(r["completed_samples"] == 5 and not r["liveness_verified"] for r in responses)
    enrollment = final["enrollment"]
    assert enrollment["status"] == "completed" and enrollment["user_id"] == uid and enrollment["user_name"] == "John Doe"
    assert enrollment["quality_metrics"]["face_count"] == 5 and enrollment["quality_metrics"]["overall_quality"] > 0.9

    # The record persists: GET answers the completed session; completing again is idempotent.
    got = await client.get(f"/api/auth/enrollment/{session['session_id']}/", headers=auth)
    assert got.status == 200
    body = await got.json()
    assert body["status"] == "completed" and body["result"]["enrollment_id"] == session["session_id"]
    again = await client.post("/api/auth/enrollment/complete/", headers={**auth, "X-Session-Token": session["session_token"]})
    assert again.status == 200 and (await again.json())["enrollment_id"] == session["session_id"]

    # A completed session takes no more frames.
    status, err = await post_frame(client, session["session_token"], video_jpegs()[0][1], 20.0)
    assert status == 409 and err["error"]["code"] == "SESSION_ALREADY_COMPLETED"

    # The template is in the client's gallery, tenant 0: 5 samples + their weighted mean, listed without vectors.
    rows = await client.app[STORE].enrollments(1, 0)
    assert len(rows) == 6 and {r.user_id for r in rows} == {uid}
    user = await (await client.get(f"/api/clients/users/{uid}/", headers=auth)).json()
    assert user["enrollments_count"] == 6 or user.get("has_enrollment", True)
    listing = await (await client.get("/api/recognition/embeddings/?page_size=4", headers=auth)).json()
    assert listing["count"] == 6 and len(listing["results"]) == 4 and listing["next"]
    assert sorted({r["kind"] for r in listing["results"]}) in (["sample"], ["sample", "template"], ["template"])
    assert all("embedding" not in r and "encoding" not in r for r in listing["results"])
    one = await client.get(f"/api/recognition/embeddings/{listing['results'][0]['id']}/", headers=auth)
    assert one.status == 200 and "embedding" not in await one.json()
    sessions = await (await client.get("/api/recognition/sessions/", headers=auth)).json()
    assert sessions["count"] == 1 and sessions["results"][0]["status"] == "completed"
    assert "token_hash" not in sessions["results"][0]


async def test_default_session_waits_for_complete_after_ready_to_complete(face_client: FaceClient) -> None:
    """The documented flow on /api/auth/enrollment/create/ (curl Quick Start, SDK classes, React):
    frames until `status: ready_to_complete`, then the client's own complete/."""
    client, auth = await face_client()
    uid = await make_user(client, auth, "EMP006", "Jane Roe")
    session = await create_enrollment(client, auth, "EMP006", session_type="webcam")
    token, sid = session["session_token"], session["session_id"]
    responses = []
    for t, data in video_jpegs():
        status, out = await post_frame(client, token, data, t)
        assert status == 200, out
        responses.append(out)
        if out["status"] != "processing":
            break
    ready = responses[-1]
    assert ready["status"] == "ready_to_complete" and ready["session_status"] == "ready", ready
    assert ready["liveness_verified"] is True and ready["completed_samples"] == 5 and "enrollment" not in ready
    assert all(r["session_status"] == "in_progress" for r in responses[:-1])
    got = await (await client.get(f"/api/auth/enrollment/{sid}/", headers=auth)).json()
    assert got["status"] == "ready" and got["result"] is None
    assert await client.app[STORE].enrollments(1, 0) == []  # nothing stored before complete/
    # A further frame does not complete it either.
    status, out = await post_frame(client, token, video_jpegs()[len(responses)][1], video_jpegs()[len(responses)][0])
    assert status == 200 and out["status"] == "ready_to_complete", out
    resp = await client.post("/api/auth/enrollment/complete/", headers={**auth, "X-Session-Token": token})
    assert resp.status == 200, await resp.text()
    done = await resp.json()
    assert done["status"] == "completed" and done["user_id"] == uid and done["enrollment_id"] == sid
    got = await (await client.get(f"/api/auth/enrollment/{sid}/", headers=auth)).json()
    assert got["status"] == "completed" and got["result"]["enrollment_id"] == sid
    assert {r.user_id for r in await client.app[STORE].enrollments(1, 0)} == {uid}


async def test_still_photo_never_completes_with_liveness(face_client: FaceClient) -> None:
    client, auth = await face_client()
    await make_user(client, auth, "EMP002")
    # auto_complete: the session would complete itself on the frame meeting every requirement; liveness never is.
    session = await create_enrollment(client, auth, "EMP002", target_samples=3, auto_complete=True)
    token = session["session_token"]
    for i in range(45):  # 3 s of the same photo at 15 fps
        status, out = await post_frame(client, token, still_jpeg(), i / 15, path="/api/auth/process-image/")
        assert status == 200, out
        assert out["session_status"] == "processing" and out["liveness_verified"] is False
    assert out["status"] == "processing" and out["completed_samples"] == 3 and out["feedback"]["suggestions"] == ["blink"]
    assert out["liveness_data"]["blinks_detected"] == 0 and out["liveness_data"]["static_detection"] is True
    resp = await client.post("/api/auth/enrollment/complete/", json={"session_token": token}, headers=auth)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "LIVENESS_CHECK_FAILED" and error["details"]["liveness"]["passed"] is False
    assert error["request_id"] and error["timestamp"]
    assert await client.app[STORE].enrollments(1, 0) == []


async def test_frame_feedback_and_bad_frames(face_client: FaceClient) -> None:
    client, auth = await face_client()
    await make_user(client, auth, "EMP003")
    session = await create_enrollment(client, auth, "EMP003", require_multiple_angles=True, quality_threshold=0.5)
    token = session["session_token"]
    status, out = await post_frame(client, token, read("scenes/dogs.jpg"), 0.0)
    assert status == 200 and out["feedback"]["code"] == "NO_FACE_DETECTED" and out["face_detected"] is False
    status, out = await post_frame(client, token, read("scenes/two_people.jpg"), 0.1)
    assert status == 200 and out["feedback"]["code"] == "MULTIPLE_FACES_DETECTED" and not out["frame_accepted"]
    # Garbage bytes: a clear 400 in the /api/ format, and the session carries on.
    status, out = await post_frame(client, token, b"\x00not an image" * 10, 0.2)
    assert status == 415 and out["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE" and out["error"]["message"]
    resp = await client.post("/api/enrollment/process-frame/", json={"session_token": token, "frame_data": "data:image/jpeg;base64,@@@"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "INVALID_IMAGE"
    data_url = "data:image/jpeg;base64," + base64.b64encode(video_jpegs()[0][1]).decode()
    resp = await client.post("/api/enrollment/process-frame/", json={
        "session_token": token, "frame_data": data_url, "frame_metadata": {"timestamp": 0.5}})
    assert resp.status == 200, await resp.text()
    out = await resp.json()
    assert out["face_detected"] and out["frame_accepted"] and out["completed_samples"] == 1
    # Multiple angles are asked for: a frontal face gets told to turn.
    assert out["angles_captured"] == ["front"]
    assert set(out["feedback"]["suggestions"]) == {"turn_left", "turn_right"}
    # Missing frame and unknown token.
    resp = await client.post("/api/auth/enrollment/process-frame/", json={"session_token": token})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "VALIDATION_ERROR"
    status, out = await post_frame(client, "no-such-token", still_jpeg())
    assert status == 404 and out["error"]["code"] == "SESSION_NOT_FOUND"
    # Completing too early says what is missing.
    resp = await client.post("/api/auth/enrollment/complete/", headers={**auth, "X-Session-Token": token})
    assert resp.status == 400
    details = (await resp.json())["error"]["details"]
    assert details["completed_samples"] == 1 and set(details["angles_missing"]) == {"left", "right"}


async def test_expired_session(face_client: FaceClient) -> None:
    client, auth = await face_client()
    await make_user(client, auth, "EMP004")
    session = await create_enrollment(client, auth, "EMP004", timeout=1)
    await asyncio.sleep(1.2)
    status, out = await post_frame(client, session["session_token"], still_jpeg())
    assert status == 410 and out["error"]["code"] == "SESSION_EXPIRED"
    got = await (await client.get(f"/api/auth/enrollment/{session['session_id']}/", headers=auth)).json()
    assert got["status"] == "expired"
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": "EMP004", "timeout": 10**6}, headers=auth)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "VALIDATION_ERROR"


async def test_sessions_are_invisible_to_other_clients(face_client: FaceClient) -> None:
    client, auth = await face_client()
    other = await client.app[STORE].create_client("other")
    auth_b = {"Authorization": f"ApiKey {other.client.api_key}:{other.api_secret}"}
    await make_user(client, auth, "EMP005")
    session = await create_enrollment(client, auth, "EMP005")
    token, sid = session["session_token"], session["session_id"]
    leaks = []
    status, out = await post_frame(client, token, still_jpeg(), 0.0, headers=auth_b)
    leaks.append((status, out["error"]["code"]))
    resp = await client.post("/api/auth/enrollment/complete/", headers={**auth_b, "X-Session-Token": token})
    leaks.append((resp.status, (await resp.json())["error"]["code"]))
    for path in (f"/api/auth/enrollment/{sid}/", f"/api/auth/authentication/{sid}/", f"/api/recognition/sessions/{sid}/"):
        resp = await client.get(path, headers=auth_b)
        leaks.append((resp.status, (await resp.json())["error"]["code"]))
    assert leaks == [(404, "SESSION_NOT_FOUND")] * 5
    for what in ("sessions", "embeddings", "attempts"):
        listing = await (await client.get(f"/api/recognition/{what}/", headers=auth_b)).json()
        assert listing["count"] == 0 and listing["results"] == []
    # The owner still uses it.
    status, _ = await post_frame(client, token, still_jpeg(), 0.0, headers=auth)
    assert status == 200


async def test_direct_enrollment_and_duplicate_face(face_client: FaceClient) -> None:
    client, auth = await face_client()
    ids = {name: await make_user(client, auth, name) for name in ("angie", "someone-else", "group", "dogs")}
    status, out = await direct_enroll(client, auth, "angie", read("faces/angelina_jolie/img1.jpg"))
    assert status == 201, out
    assert out["status"] == "completed" and out["user_id"] == ids["angie"] and out["liveness_verified"] is False
    status, out = await direct_enroll(client, auth, "someone-else", read("faces/angelina_jolie/img2.jpg"))
    assert status == 409 and out["error"]["code"] == "FACE_ALREADY_ENROLLED"
    assert out["error"]["details"]["existing_user_id"] == ids["angie"]
    status, out = await direct_enroll(client, auth, "group", read("scenes/two_people.jpg"))
    assert status == 400 and out["error"]["code"] == "MULTIPLE_FACES_DETECTED"
    status, out = await direct_enroll(client, auth, "dogs", read("scenes/dogs.jpg"))
    assert status == 400 and out["error"]["code"] == "NO_FACE_DETECTED"
    # Re-enrolling the same user replaces the template rather than piling up rows.
    status, _ = await direct_enroll(client, auth, "angie", read("faces/angelina_jolie/img2.jpg"))
    assert status == 201
    assert [r.user_id for r in await client.app[STORE].enrollments(1, 0)] == [ids["angie"]]
    # A platform id (UUID) that names nobody is refused; it never becomes a new external id.
    status, out = await direct_enroll(client, auth, "8d3e1c52-5b1e-4d1c-9a59-3f5f0a6f2b11",
                                      read("faces/angelina_jolie/img1.jpg"))
    assert status == 404 and out["error"]["code"] == "USER_NOT_FOUND"


async def test_openapi_declares_session_and_legacy_operations(face_client: FaceClient) -> None:
    client, _ = await face_client()
    doc = await (await client.get("/api/schema/")).json()
    paths = doc["paths"]
    for path in ("/api/auth/enrollment/create/", "/api/auth/enrollment/", "/api/enrollment/create/"):
        assert paths[path]["post"]["tags"] == ["Face Enrollment"]
    frame = paths["/api/auth/process-image/"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(frame)
    assert paths["/api/auth/authentication/batch-process/"]["post"]["tags"] == ["Face Authentication"]
    for what in ("embeddings", "sessions", "attempts"):
        for path in (f"/api/recognition/{what}/", f"/api/recognition/{what}/{{item_id}}/"):
            op = paths[path]["get"]
            assert op["deprecated"] is True and op["tags"] == ["Legacy Recognition"]


async def test_guidance_enabled_decides_whether_frames_carry_guidance(face_client: FaceClient) -> None:
    """user_guide.md's mobile option: guidance on (the default) gives each frame what to do;
    off gives only what happened (feedback.code), for apps that draw their own guides."""
    client, auth = await face_client()
    await make_user(client, auth, "EMP050")
    ok, buf = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))  # a usable frame, nobody in it
    assert ok
    empty_room = buf.tobytes()
    answers = {}
    for guided in (True, False):
        session = await create_enrollment(client, auth, "EMP050", session_type="mobile", guidance_enabled=guided)
        assert session["guidance_enabled"] is guided
        status, out = await post_frame(client, session["session_token"], empty_room, 0.0)
        assert status == 200 and out["guidance_enabled"] is guided, out
        answers[guided] = out
    assert answers[True]["feedback"]["code"] == answers[False]["feedback"]["code"] == "NO_FACE_DETECTED"
    assert answers[True]["feedback"]["message"] and answers[True]["feedback"]["suggestions"]
    assert answers[False]["feedback"] == {"code": "NO_FACE_DETECTED", "message": None, "suggestions": []}
    assert answers[False]["message"] == "Frame processed."
