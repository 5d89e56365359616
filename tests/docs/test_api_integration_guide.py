"""api_integration_guide.md's curl and HTTP examples, run as written (tests/docs/README.md lists
them); only the host, credentials, file paths and earlier answers are substituted (conftest)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from tests.docs.conftest import FACE, Reader, bash, curl_steps, http_message
from tests.docs.seeds import block
from tests.session_helpers import video_jpegs

DOC = "api_integration_guide.md"
START = datetime(2024, 1, 1, 12, 0, 1, tzinfo=timezone.utc)  # the documented first frame's time


def _pseudo_to_http(text: str) -> str:
    """Deviation (the documents' "```python" blocks of §Core Workflows): they are HTTP requests
    written as pseudo-Python — `# comments` inside JSON, `Headers:` prefixes, a `# Response` part.
    Mechanically: drop `# ...` comments, drop the `Headers: ` prefix, keep the request part only."""
    request = re.split(r"^# Response.*$", text, flags=re.MULTILINE)[0]
    request = re.sub(r"\s+#.*$", "", request, flags=re.MULTILINE)
    request = re.sub(r"^#.*\n", "", request, flags=re.MULTILINE)
    return request.replace("Headers: ", "").strip() + "\n"


def _request_part(block_text: str, step: str) -> str:
    """The part of a multi-request pseudo block that starts at `# Step ...` heading `step`."""
    parts = re.split(r"^(?=# Step \d+:)", block_text, flags=re.MULTILINE)
    return next(p for p in parts if p.startswith(step))


def _http_with_json(reader: Reader, text: str) -> requests.Response:
    """A pseudo block with a JSON body and no headers: the reader adds their credentials and the
    JSON content type (credentials are part of the substitution; the type is what the block is)."""
    head, _, body = _pseudo_to_http(text).partition("\n")
    return http_message(reader, f"{head}\nAuthorization: ApiKey YOUR_API_KEY:YOUR_SECRET_KEY\n"
                                f"Content-Type: application/json\n\n{body}")


def _enroll_user123(reader: Reader) -> dict[str, Any]:
    """The Quick Start's enrollment of user123 with `session_type: "upload"` (see test below)."""
    resp = requests.post(f"{reader.base}/api/auth/enrollment/direct/", headers=reader.auth,
                         data={"user_id": "user123"}, files={"image": FACE.read_bytes()}, timeout=60)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_quick_start_2_basic_authentication_test(reader: Reader) -> None:
    out = bash(reader.subst.apply(block(DOC, "### 2. Basic Authentication Test")))
    assert out["status"] in ("healthy", "ok") and "version" in out


def test_quick_start_3_first_face_enrollment(reader: Reader) -> None:
    """As written: a `webcam` session, one photo, complete. A webcam session needs a face proven
    live (blinks over several frames) and 5 samples, which one still photo cannot give: complete
    answers LIVENESS_CHECK_FAILED / INSUFFICIENT_... with what to change. Deviation recorded in
    tests/docs/README.md: with `"session_type": "upload"` (one photo) the same three steps enroll."""
    steps = curl_steps(reader.subst.apply(block(DOC, "### 3. First Face Enrollment")))
    assert len(steps) == 3
    created = bash(steps[0])
    assert created["status"] == "pending" and created["session_token"]
    frame = bash(steps[1].replace("SESSION_TOKEN_FROM_STEP1", created["session_token"]))
    assert frame["face_detected"] is True and frame["frame_accepted"] is True
    done = bash(steps[2].replace("SESSION_TOKEN_FROM_STEP1", created["session_token"]))
    error = done["error"]
    assert error["code"] == "INSUFFICIENT_QUALITY", done
    # The answer says what is missing and how to ask for a one-photo enrollment, in words and fields.
    assert error["details"]["missing"] == ["samples", "liveness"] and error["details"]["completed_samples"] == 1
    assert error["details"]["one_photo_enrollment"]["session_type"] == "upload"
    assert '"session_type": "upload"' in error["message"] and "5 good-quality frames (have 1)" in error["message"]
    # The documented flow with the one-image session type the error names: the same commands, one word changed.
    upload = [s.replace('"session_type": "webcam"', '"session_type": "upload"') for s in steps]
    created = bash(upload[0])
    assert created["target_samples"] == 1
    frame = bash(upload[1].replace("SESSION_TOKEN_FROM_STEP1", created["session_token"]))
    assert frame["status"] == "ready_to_complete" and frame["session_status"] == "ready", frame  # step 3 completes
    done = bash(upload[2].replace("SESSION_TOKEN_FROM_STEP1", created["session_token"]))
    assert done["status"] == "completed" and done["user_id"] and done["enrollment_id"]
    assert reader.get("/api/clients/users/user123/")[1]["external_id"] == "user123"
    # §Core Workflows "Create User" next, as written: it fills in the user123 the enrollment created
    # (name, email, metadata; same user, face kept), once; a second create is USER_ALREADY_EXISTS.
    made = bash(reader.subst.apply(block(DOC, "#### Create User")))
    assert (made["external_id"], made["name"], made["email"]) == ("user123", "John Doe", "john@example.com")
    assert made["metadata"] == {"department": "engineering", "employee_id": "EMP001"} and made["has_enrollment"]
    assert made["id"] == done["user_id"]
    again = bash(reader.subst.apply(block(DOC, "#### Create User")))
    assert again["error"]["code"] == "USER_ALREADY_EXISTS"


def test_quick_start_4_first_authentication(reader: Reader) -> None:
    """One still photo with `require_liveness: true`: a decision needs liveness, which frames of a
    live face prove; one photo leaves the session `processing` with `liveness_verified: false`
    (the liveness window's verdict is issue 10's)."""
    _enroll_user123(reader)
    steps = curl_steps(reader.subst.apply(block(DOC, "### 4. First Authentication")))
    created = bash(steps[0])
    assert created["status"] == "active" and created["session_type"] == "verification"
    out = bash(steps[1].replace("SESSION_TOKEN_FROM_STEP1", created["session_token"]))
    assert out["status"] == "processing" and out["liveness_verified"] is False and out["face_detected"] is True
    # The answer says what the decision waits for and the explicit choice that decides on one photo.
    assert out["waiting_for"] == ["liveness", "samples"] and '"require_liveness": false' in out["hint"], out
    # Without liveness the same two steps decide on the one frame.
    no_live = [s.replace('"require_liveness": true', '"require_liveness": false') for s in steps]
    created = bash(no_live[0])
    out = bash(no_live[1].replace("SESSION_TOKEN_FROM_STEP1", created["session_token"]))
    assert out["status"] == "completed" and out["result"]["authenticated"] is True


def test_getting_jwt_token(reader: Reader) -> None:
    out = bash(reader.subst.apply(block(DOC, "#### 2. JWT Authentication", index=1)))
    assert out["access"] and out["refresh"] and out["token_type"] == "Bearer"


def test_user_management_create_list_get(reader: Reader) -> None:
    created = bash(reader.subst.apply(block(DOC, "#### Create User")))
    assert created["external_id"] == "user123" and created["metadata"]["employee_id"] == "EMP001"
    listing = bash(reader.subst.apply(block(DOC, "#### List Users")))
    assert listing["count"] == 1 and listing["page"] == 1 and listing["results"][0]["id"] == created["id"]
    got = bash(reader.subst.apply(block(DOC, "#### Get User Details")).replace("USER_UUID", created["id"]))
    assert got["id"] == created["id"] and got["name"] == "John Doe"


def test_session_based_enrollment_three_steps(reader: Reader) -> None:
    """§Session-based Enrollment (pseudo-Python HTTP, see _pseudo_to_http) with the blink video's
    frames. Deviation: the example asks `require_multiple_angles: true`, and the shared video never
    turns the head, so the left and right angles never come: the frames answer `processing` with
    feedback asking for the turn, and complete names the missing angles (INSUFFICIENT_QUALITY)."""
    resp = _http_with_json(reader, block(DOC, "#### Session-based Enrollment", index=0))
    assert resp.status_code == 201, resp.text
    session = resp.json()
    assert session["session_token"] and session["session_id"] and session["expires_at"]
    assert set(session["instructions"]) == {"message", "requirements"}
    assert "multiple_angles" in session["instructions"]["requirements"]
    step2 = _pseudo_to_http(block(DOC, "#### Session-based Enrollment", index=1))
    step2 = step2.replace("sess_abc123", session["session_token"])
    frames = []
    for t, jpeg in video_jpegs():
        if t > 1.5:
            break
        captured = (START + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
        text = step2.replace("2024-01-01T12:00:01Z", captured)  # each frame's capture time
        resp = _multipart_pseudo(reader, text, jpeg)
        assert resp.status_code == 200, resp.text
        frames.append(resp.json())
    last = frames[-1]
    assert {f["status"] for f in frames} == {"processing"}
    assert last["progress"]["current"] >= 1 and last["progress"]["required"] == 5 and last["quality_score"] > 0.5
    assert {"message", "suggestions"} <= set(last["feedback"])
    assert any(s.startswith("turn_") for f in frames for s in f["feedback"]["suggestions"]), last["feedback"]
    step3 = _pseudo_to_http(block(DOC, "#### Session-based Enrollment", index=2)).replace(
        "sess_abc123", session["session_token"])
    head, _, _ = step3.partition("\n\n")
    done = http_message(reader, head.replace("POST /api/auth/enrollment/complete/",
                                             "POST /api/auth/enrollment/complete/\nAuthorization: ApiKey "
                                             "YOUR_API_KEY:YOUR_SECRET_KEY"))
    body = done.json()
    assert done.status_code == 400 and body["error"]["code"] == "INSUFFICIENT_QUALITY", body
    assert set(body["error"]["details"]["angles_missing"]) == {"left", "right"}


def _multipart_pseudo(reader: Reader, text: str, jpeg: bytes) -> requests.Response:
    """Step 2's block: request line, `X-Session-Token` and `Content-Type` lines, then fields."""
    lines = text.splitlines()
    method, path = lines[0].split()[:2]
    headers = {**reader.auth, "X-Session-Token": lines[1].split(": ", 1)[1]}
    body = "\n".join(lines[3:])
    meta = body.split("frame_metadata: ", 1)[1]
    return requests.request(method, reader.base + path, headers=headers, timeout=60,
                            data={"frame_metadata": meta}, files={"frame": ("frame.jpg", jpeg, "image/jpeg")})


def test_direct_upload_enrollment(reader: Reader) -> None:
    out = bash(reader.subst.apply(block(DOC, "#### Direct Upload Enrollment")))
    assert out["status"] == "completed" and out["liveness_verified"] is False and out["quality_score"] > 0.8


def test_verification_1_1(reader: Reader) -> None:
    """§Verification (1:1): create with liveness, frames of a live face until the decision."""
    _enroll_user123(reader)
    text = block(DOC, "#### Verification (1:1)")
    resp = _http_with_json(reader, _request_part(text, "# Step 1"))
    assert resp.status_code == 201, resp.text
    token = resp.json()["session_token"]
    out = _frames_until_decided(reader, "/api/auth/authentication/process-frame/", token)
    assert out["status"] == "completed", out
    result = out["result"]
    assert result["authenticated"] is True and result["confidence"] > 0.5 and result["liveness_score"] > 0
    assert out["processing_time"] > 0


def test_identification_1_n(reader: Reader) -> None:
    _enroll_user123(reader)
    resp = _http_with_json(reader, block(DOC, "#### Identification (1:N)"))
    assert resp.status_code == 201, resp.text
    out = _frames_until_decided(reader, "/api/auth/authentication/process-frame/", resp.json()["session_token"])
    assert out["status"] == "completed", out
    assert out["result"]["matches"][0]["confidence"] > 0.5 and out["result"]["liveness_score"] > 0


def _frames_until_decided(reader: Reader, path: str, token: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t, jpeg in video_jpegs():
        resp = requests.post(reader.base + path, headers={**reader.auth, "X-Session-Token": token}, timeout=60,
                             data={"frame_metadata": json.dumps({"timestamp": t})},
                             files={"frame": ("frame.jpg", jpeg, "image/jpeg")})
        assert resp.status_code == 200, resp.text
        out = resp.json()
        if out["status"] != "processing":
            break
    return out
