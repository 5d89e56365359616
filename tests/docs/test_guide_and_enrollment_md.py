"""API_INTEGRATION_GUIDE.md (JWT via /api/core/auth/client/, sessions through
/api/auth/process-image/, Swagger UI) and enrollment.md (the user's own Bearer token, base64
frames, legacy listings), run as written with the mechanical substitution (conftest)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import requests

from tests.docs.conftest import FACE, OTHER, Reader
from tests.docs.seeds import block
from tests.session_helpers import video_jpegs

GUIDE = "API_INTEGRATION_GUIDE.md"
ENROLL = "enrollment.md"


def _json(text: str) -> Any:
    """A documented body read by the test itself (to compare fields): its `// comments` removed.
    What is sent is the text as written (_verbatim): the server ignores `//` line comments."""
    return json.loads(re.sub(r"\s*//.*$", "", _body(text), flags=re.MULTILINE))


def _post_json_text(url: str, text: str, headers: dict[str, str]) -> requests.Response:
    """A documented JSON body sent exactly as written, `// comments` included."""
    return requests.post(url, data=_body(text).encode(), timeout=60,
                         headers={**headers, "Content-Type": "application/json"})


def _body(text: str) -> str:
    """A block written as `POST /path` + JSON: the JSON part (the path is what the test calls)."""
    return text[text.index("{"):]


def _jwt(reader: Reader) -> dict[str, str]:
    body = json.loads(reader.subst.apply(block(GUIDE, "### Client Authentication Workflow"))
                      .replace("your_api_secret", reader.secret))
    resp = requests.post(reader.base + "/api/core/auth/client/", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access']}"}


def test_client_authentication_workflow(reader: Reader) -> None:
    """`api_key` / `api_secret` in the body (the substitution also maps `your_api_secret`)."""
    body = json.loads(reader.subst.apply(block(GUIDE, "### Client Authentication Workflow"))
                      .replace("your_api_secret", reader.secret))
    resp = requests.post(reader.base + "/api/core/auth/client/", json=body, timeout=60)
    expected = json.loads(block(GUIDE, "### Client Authentication Workflow", index=1))
    assert resp.status_code == 200 and set(expected) <= set(resp.json())
    users = requests.get(reader.base + "/api/clients/users/", headers=_jwt(reader), timeout=60)
    assert users.status_code == 200


def test_face_enrollment_3_1_through_process_image(reader: Reader) -> None:
    """§3.1: create at /api/auth/enrollment/ (user_id is the reader's own id: created), then
    multipart `session_token` + `image` to /api/auth/process-image/ until `completed`."""
    bearer = _jwt(reader)
    # As written, `// or "mobile", "api"` comment included.
    resp = _post_json_text(reader.base + "/api/auth/enrollment/", block(GUIDE, "### 3.1. Face Enrollment"), bearer)
    assert resp.status_code == 201, resp.text
    assert resp.json()["session_type"] == "webcam" and resp.json()["metadata"] == {"device_info": "Chrome on macOS"}
    created = resp.json()
    expected = _json(block(GUIDE, "### 3.1. Face Enrollment", index=1))
    assert set(expected) <= set(created) and created["status"] == "pending"
    frames = []
    for t, jpeg in video_jpegs():
        resp = requests.post(reader.base + "/api/auth/process-image/", headers=bearer, timeout=60,
                             data={"session_token": created["session_token"],
                                   "frame_metadata": json.dumps({"timestamp": t})},
                             files={"image": ("frame.jpg", jpeg, "image/jpeg")})
        assert resp.status_code == 200, resp.text
        frames.append(resp.json())
        if frames[-1]["session_status"] == "completed":
            break
    processing = json.loads(block(GUIDE, "### 3.1. Face Enrollment", index=2))
    assert set(processing) <= set(frames[0]) and frames[0]["requires_more_frames"] is True
    assert frames[0]["session_status"] == processing["session_status"] == "processing"
    done = frames[-1]
    assert set(json.loads(block(GUIDE, "### 3.1. Face Enrollment", index=3))) <= set(done)
    assert done["session_status"] == "completed" and done["enrollment_complete"] is True, done


def test_face_authentication_3_2_verification_and_identification(reader: Reader) -> None:
    bearer = _jwt(reader)
    requests.post(f"{reader.base}/api/auth/enrollment/direct/", headers=reader.auth, timeout=60,
                  data={"user_id": "unique_user_identifier_to_verify"},
                  files={"image": FACE.read_bytes()}).raise_for_status()
    for index, mode in ((0, "verification"), (1, "identification")):
        resp = _post_json_text(reader.base + "/api/auth/authentication/",
                               block(GUIDE, "### 3.2. Face Authentication", index=index), bearer)
        assert resp.status_code == 201, resp.text
        created = resp.json()
        assert set(_json(block(GUIDE, "### 3.2. Face Authentication", index=2))) <= set(created)
        assert created["session_type"] == mode and created["status"] == "active"
        out: dict[str, Any] = {}
        for t, jpeg in video_jpegs():
            resp = requests.post(reader.base + "/api/auth/process-image/", headers=bearer, timeout=60,
                                 data={"session_token": created["session_token"],
                                       "frame_metadata": json.dumps({"timestamp": t})},
                                 files={"image": ("frame.jpg", jpeg, "image/jpeg")})
            out = resp.json()
            if out["session_status"] != "processing":
                break
        expected = json.loads(block(GUIDE, "### 3.2. Face Authentication", index=3))
        assert set(expected) <= set(out), out
        assert {k: out[k] for k in ("success", "session_status", "result", "liveness_verified", "message")} == {
            k: expected[k] for k in ("success", "session_status", "result", "liveness_verified", "message")}
        assert out["matched_user"]["user_id"] and out["result_details"]["authenticated"] is True
    # Response (Authentication Failed): someone else's face ends the session with `failure`.
    resp = _post_json_text(reader.base + "/api/auth/authentication/", block(GUIDE, "### 3.2. Face Authentication"),
                           bearer)
    token = resp.json()["session_token"]
    for i in range(40):
        out = requests.post(reader.base + "/api/auth/process-image/", headers=bearer, timeout=60,
                            data={"session_token": token, "frame_metadata": json.dumps({"timestamp": i * 0.25})},
                            files={"image": ("frame.jpg", OTHER.read_bytes(), "image/jpeg")}).json()
        if out["session_status"] != "processing":
            break
    failed = json.loads(block(GUIDE, "### 3.2. Face Authentication", index=4))
    assert set(failed) <= set(out), out
    assert {k: out[k] for k in ("success", "session_status", "result", "message")} == {
        k: failed[k] for k in ("success", "session_status", "result", "message")}
    assert out["result_details"]["reason"] == "face_mismatch"
    again = requests.post(reader.base + "/api/auth/process-image/", headers=bearer, timeout=60,
                          data={"session_token": token}, files={"image": ("f.jpg", OTHER.read_bytes(), "image/jpeg")})
    assert again.status_code == 409 and again.json()["error"]["code"] == "SESSION_ALREADY_COMPLETED"


def test_swagger_ui_location(reader: Reader) -> None:
    resp = requests.get(reader.base + "/api/schema/swagger-ui/", timeout=60)
    assert resp.status_code == 200 and "swagger" in resp.text.lower()
    tags = {t["name"] for t in requests.get(reader.base + "/api/schema/", timeout=60).json()["tags"]}
    assert {"Authentication", "Client Management", "Face Enrollment", "Face Authentication"} <= tags


def test_enrollment_md_with_the_users_own_token(reader: Reader) -> None:
    """enrollment.md: Bearer = the user's own token (issued by the backend with
    POST /api/auth/user-token/), create without user_id (`target_samples: 5 // ...` sent as written),
    base64 frames with `session_token` in the body until `completed`, then the listings."""
    # Where a reader of enrollment.md looks for the token: the create operation's OpenAPI text.
    schema = requests.get(reader.base + "/api/schema/", timeout=60).json()
    assert "POST /api/auth/user-token/" in schema["paths"]["/api/enrollment/create/"]["post"]["description"]
    issued = requests.post(reader.base + "/api/auth/user-token/", headers=reader.auth, json={"user_id": "user-7"},
                           timeout=60).json()
    bearer = {"Authorization": f"Bearer {issued['access']}"}
    resp = _post_json_text(reader.base + "/api/enrollment/create/", block(ENROLL, "## 1. Create Session"), bearer)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert set(json.loads(block(ENROLL, "## 1. Create Session", index=1))) <= set(created)
    assert created["target_samples"] == 5 and created["user_id"] == issued["user_id"]
    template = json.loads(_body(block(ENROLL, "## 2. Kirim Frame")))
    frames = []
    for t, jpeg in video_jpegs():
        body = {**template, "session_token": created["session_token"],
                "frame_data": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode(),
                "frame_metadata": {"timestamp": t}}
        resp = requests.post(reader.base + "/api/enrollment/process-frame/", headers=bearer, json=body, timeout=60)
        assert resp.status_code == 200, resp.text
        frames.append(resp.json())
        if frames[-1]["session_status"] == "completed":
            break
    assert set(json.loads(block(ENROLL, "## 2. Kirim Frame", index=1))) <= set(frames[0])
    assert set(json.loads(block(ENROLL, "## 2. Kirim Frame", index=2))) <= set(frames[-1])
    assert frames[-1]["liveness_verified"] is True and frames[-1]["completed_samples"] == 5
    # The listings of §Endpoint Ringkas, with the client's Bearer (a user token is enrollment-only).
    client_bearer = _jwt(reader)
    for path in ("/api/recognition/sessions/", f"/api/recognition/sessions/{created['session_id']}/",
                 "/api/recognition/embeddings/"):
        resp = requests.get(reader.base + path, headers=client_bearer, timeout=60)
        assert resp.status_code == 200, (path, resp.text)
    assert requests.get(reader.base + "/api/recognition/embeddings/", headers=client_bearer,
                        timeout=60).json()["count"] >= 1


def test_enrollment_md_errors(reader: Reader) -> None:
    """§5 Error Contoh: a wrong token, corrupt base64."""
    good = "data:image/jpeg;base64," + base64.b64encode(FACE.read_bytes()).decode()
    resp = requests.post(reader.base + "/api/enrollment/process-frame/", headers=reader.auth, timeout=60,
                         json={"session_token": "uuid", "frame_data": good})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "SESSION_NOT_FOUND"
    created = requests.post(reader.base + "/api/enrollment/create/", headers=reader.auth, timeout=60,
                            json={"user_id": "user-8"}).json()
    resp = requests.post(reader.base + "/api/enrollment/process-frame/", headers=reader.auth, timeout=60,
                         json={"session_token": created["session_token"], "frame_data": "data:image/jpeg;base64,/9j/..."})
    assert resp.status_code == 400 and "Could not decode image data" in resp.json()["error"]["message"]
