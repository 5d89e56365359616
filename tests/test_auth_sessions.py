"""Authentication sessions over REST with real models: verification, identification, lockout, batch."""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from api.keys import STORE
from tests.conftest import FaceClient
from testkit.data import read
from tests.session_helpers import direct_enroll, enroll_video, make_user, post_frame, still_jpeg, video_jpegs

OTHER = "faces/angelina_jolie/img1.jpg"
AUTH_FRAME = "/api/auth/authentication/process-frame/"


async def create_auth(client: TestClient, auth: dict[str, str], **body: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/auth/authentication/create/", json=body, headers=auth)
    return resp.status, await resp.json()


async def run_video(client: TestClient, token: str, seconds: float = 14.0, path: str = AUTH_FRAME) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t, data in video_jpegs():
        if t > seconds:
            break
        status, out = await post_frame(client, token, data, t, path=path)
        assert status == 200, out
        if out["status"] != "processing":
            break
    return out


async def test_enrolled_person_verifies_and_is_identified_others_fail(face_client: FaceClient) -> None:
    client, auth = await face_client()
    vid = await make_user(client, auth, "vid-user", "Video Person")
    angie = await make_user(client, auth, "angie", "Angelina")
    _, responses = await enroll_video(client, auth, "vid-user")
    assert responses[-1]["session_status"] == "completed" and responses[-1]["liveness_verified"]
    status, _ = await direct_enroll(client, auth, "angie", read(OTHER))
    assert status == 201

    status, session = await create_auth(client, auth, user_id="vid-user", session_type="webcam",
                                        mode="verification", require_liveness=True, liveness_threshold=0.7)
    assert status == 201 and session["mode"] == "verification" and session["session_token"]
    out = await run_video(client, session["session_token"])
    assert out["success"] is True and out["status"] == "completed" and out["session_status"] == "completed"
    result = out["result"]
    assert result["authenticated"] is True and result["user_id"] == vid and result["user_name"] == "Video Person"
    assert result["confidence"] > 0.6 and result["liveness_score"] >= 0.7 and result["liveness_verified"]
    assert out["matched_user"]["user_id"] == vid and out["processing_time"] >= 0
    timings = out["timings"]  # ms per stage of the deciding frame
    assert set(timings) == {"decode", "detect", "landmarks", "embed", "search", "total"}
    assert all(isinstance(timings[k], float) and timings[k] >= 0 for k in timings if k != "embed")
    assert timings["total"] >= timings["decode"] + timings["detect"] + timings["landmarks"]
    got = await (await client.get(f"/api/auth/authentication/{session['session_id']}/", headers=auth)).json()
    assert got["status"] == "completed" and got["result"]["result"]["authenticated"] is True

    # Another identity claiming to be vid-user fails on the face, before liveness even matters.
    status, session = await create_auth(client, auth, user_id="vid-user")
    token = session["session_token"]
    for i in range(6):
        status, out = await post_frame(client, token, read(OTHER), i * 0.25, path="/api/auth/process-image/")
        assert status == 200
        if out["status"] != "processing":
            break
    # process-image answers in API_INTEGRATION_GUIDE.md's shape: the decision ends the session.
    assert out["success"] is False and out["result"] == "failure" and out["session_status"] == "completed"
    assert out["result_details"]["authenticated"] is False and out["result_details"]["reason"] == "face_mismatch"
    status, again = await post_frame(client, token, read(OTHER), 2.0, path="/api/auth/process-image/")
    assert status == 409, again

    # Identification: the enrolled person comes first.
    status, session = await create_auth(client, auth, mode="identification", search_threshold=0.0, max_results=5)
    assert status == 201 and session["mode"] == "identification"
    out = await run_video(client, session["session_token"], path="/api/auth/process-image/")
    assert out["result"] == "success" and out["result_details"]["authenticated"] is True
    matches = out["result_details"]["matches"]
    assert [m["user_id"] for m in matches][:2] == [vid, angie]
    assert matches[0]["name"] == "Video Person"
    assert matches[0]["confidence"] > matches[1]["confidence"]

    attempts = await (await client.get("/api/recognition/attempts/", headers=auth)).json()
    assert [a["result"] for a in reversed(attempts["results"])] == ["success", "failure", "success"]
    assert {"session_id", "user_id", "confidence", "liveness_score", "created_at"} <= set(attempts["results"][0])

    # A deactivated user never authenticates: new sessions are refused...
    resp = await client.post(f"/api/clients/users/{vid}/deactivate/", headers=auth)
    assert resp.status == 200
    status, out = await create_auth(client, auth, user_id=vid)
    assert status == 403 and out["error"]["code"] == "USER_INACTIVE"
    # ...identification does not even see their face (nothing about them is revealed)...
    status, session = await create_auth(client, auth, mode="identification")
    out = await run_video(client, session["session_token"])
    assert out["result"]["authenticated"] is False and out["result"]["reason"] == "no_match"
    assert vid not in json.dumps(out)
    # ...and their face still cannot be enrolled to someone else while the account is parked.
    await make_user(client, auth, "impostor", "Impostor")
    status, body = await direct_enroll(client, auth, "impostor", still_jpeg())
    assert status == 409 and body["error"]["code"] == "FACE_ALREADY_ENROLLED"
    assert body["error"]["details"]["existing_user_id"] == vid


async def test_still_photo_never_authenticates(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"sessions.auth_max_frames": 40})
    await make_user(client, auth, "vid-user")
    status, _ = await direct_enroll(client, auth, "vid-user", still_jpeg())
    assert status == 201
    _, session = await create_auth(client, auth, user_id="vid-user")
    for i in range(40):
        status, out = await post_frame(client, session["session_token"], still_jpeg(), i / 15, path=AUTH_FRAME)
        assert status == 200
        if out["status"] != "processing":
            break
    assert out["result"]["authenticated"] is False and out["result"]["reason"] == "liveness_failed"
    assert out["liveness_verified"] is False


async def batch(client: TestClient, headers: dict[str, str], frames: list[bytes], options: dict[str, Any] | None = None
                ) -> tuple[int, dict[str, Any]]:
    fd = aiohttp.FormData()
    for i, data in enumerate(frames):
        fd.add_field("frames", io.BytesIO(data), filename=f"f{i}.jpg", content_type="image/jpeg")
    if options is not None:
        fd.add_field("options", json.dumps(options))
    resp = await client.post("/api/auth/authentication/batch-process/", data=fd, headers=headers)
    return resp.status, await resp.json()


async def test_batch_process_decides_from_several_frames(face_client: FaceClient) -> None:
    client, auth = await face_client()
    await make_user(client, auth, "vid-user")
    status, _ = await direct_enroll(client, auth, "vid-user", still_jpeg())
    assert status == 201
    frames = [data for t, data in video_jpegs() if t <= 3.0]
    status, out = await batch(client, auth, frames, {"mode": "verification", "user_id": "vid-user", "fps": 15})
    assert status == 200, out
    assert out["result"]["authenticated"] is True and out["result"]["liveness_verified"] is True
    assert out["frames_received"] == len(frames) and out["frames_processed"] <= len(frames)
    # One still photo in a batch is answered (forced decision), never authenticated.
    status, out = await batch(client, auth, [still_jpeg()] * 4, {"mode": "identification"})
    assert status == 200 and out["result"]["authenticated"] is False
    status, out = await batch(client, auth, [], {"mode": "identification"})
    assert status == 400 and out["error"]["code"] == "VALIDATION_ERROR"


async def test_lockout_after_repeated_failures(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"sessions.max_failures": 3, "sessions.lockout_s": 60.0})
    await make_user(client, auth, "vid-user")
    status, _ = await direct_enroll(client, auth, "vid-user", still_jpeg())
    assert status == 201
    # Frames 0.25 s apart (4 fps) give the 3 samples a decided mismatch needs: only decided
    # mismatches and failed challenge sequences count toward a lockout.
    impostor = [read(OTHER)] * 4
    _, session = await create_auth(client, auth, user_id="vid-user")
    headers = {**auth, "X-Session-Token": session["session_token"]}
    for attempt in range(1, 4):
        status, out = await batch(client, headers, impostor, {"fps": 4})
        assert status == 200 and out["result"]["authenticated"] is False, out
        assert out["result"]["reason"] == "face_mismatch" and out["counts_toward_lockout"] is True
        assert out["attempts"]["failed"] == attempt
    assert out["session_status"] == "locked"
    status, out = await batch(client, headers, impostor)
    assert status == 429 and out["error"]["code"] == "ACCOUNT_LOCKED"
    # The user is locked across sessions too, with Retry-After.
    resp = await client.post("/api/auth/authentication/create/", json={"user_id": "vid-user"}, headers=auth)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
    assert (await resp.json())["error"]["details"]["scope"] == "user"
    # Identification sessions are not affected by one user's lockout.
    status, _ = await create_auth(client, auth, mode="identification")
    assert status == 201


async def test_session_errors(face_client: FaceClient) -> None:
    client, auth = await face_client()
    status, out = await create_auth(client, auth, user_id="nobody")
    assert status == 404 and out["error"]["code"] == "USER_NOT_FOUND"
    await make_user(client, auth, "new-user")
    status, out = await create_auth(client, auth, user_id="new-user")
    assert status == 404 and out["error"]["code"] == "USER_NOT_ENROLLED"
    status, out = await create_auth(client, auth, mode="verification")
    assert status == 400 and out["error"]["code"] == "VALIDATION_ERROR"
    status, session = await create_auth(client, auth, mode="identification", timeout=1)
    assert status == 201
    # An authentication token on the enrollment endpoint is the wrong kind of session.
    status, out = await post_frame(client, session["session_token"], still_jpeg())
    assert status == 409 and out["error"]["code"] == "INVALID_SESSION_STATE"
    other = await client.app[STORE].create_client("other")
    status, out = await post_frame(client, session["session_token"], still_jpeg(), path=AUTH_FRAME,
                                   headers={"Authorization": f"ApiKey {other.client.api_key}:{other.api_secret}"})
    assert status == 404 and out["error"]["code"] == "SESSION_NOT_FOUND"
