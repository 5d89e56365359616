"""user_guide.md's curl and HTTP examples, run as written (tests/docs/README.md lists them): the
`http` blocks go through the HTTP-message runner (conftest.http_message) with the host,
credentials, files and earlier answers ({user_id}, SESSION_TOKEN) substituted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

from tests.docs.conftest import FACE, Reader, bash, http_message
from tests.docs.seeds import block
from tests.session_helpers import video_jpegs

DOC = "user_guide.md"
START = datetime(2024, 1, 1, 12, 0, 1, tzinfo=timezone.utc)


def _ok(resp: requests.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def _create_emp001(reader: Reader) -> dict[str, Any]:
    return _ok(http_message(reader, block(DOC, "#### API Request:")), 201)


def _enroll_emp001(reader: Reader) -> None:
    """§2 Upload Enrollment (also its own test below), so verification has someone to match."""
    _ok(http_message(reader, block(DOC, "### 2. Upload Enrollment"), files={"image": [FACE]}), 201)


def _frames(reader: Reader, path: str, token: str, seconds: float = 8.0) -> list[dict[str, Any]]:
    """`frame: <binary_image_data>` posted once per frame of the blink video, until a decision."""
    out = []
    for t, jpeg in video_jpegs():
        if t > seconds:
            break
        resp = requests.post(reader.base + path, headers={**reader.auth, "X-Session-Token": token}, timeout=60,
                             data={"frame_metadata": json.dumps({"timestamp": t})},
                             files={"frame": ("frame.jpg", jpeg, "image/jpeg")})
        out.append(_ok(resp))
        if out[-1]["status"] not in ("processing",):
            break
    return out


def test_test_connectivity(reader: Reader) -> None:
    out = bash(reader.subst.apply(block(DOC, "### 3. Test Connectivity")))
    expected = json.loads(block(DOC, "### 3. Test Connectivity", index=1))
    assert out["status"] == expected["status"] == "healthy"
    assert set(expected["services"]) <= set(out["services"]), out
    assert {"version", "timestamp"} <= set(out)


def test_create_user(reader: Reader) -> None:
    user = _create_emp001(reader)
    expected = json.loads(block(DOC, "#### Response:"))
    assert set(expected) <= set(user), set(expected) - set(user)
    assert user["external_id"] == "EMP001" and user["enrollments_count"] == 0 and user["last_authentication"] is None


def test_list_users_search(reader: Reader) -> None:
    _create_emp001(reader)
    listing = _ok(http_message(reader, block(DOC, "### 2. Melihat Daftar User")))
    assert listing["count"] == 1 and listing["results"][0]["name"] == "John Doe"


def test_update_user_by_external_id(reader: Reader) -> None:
    """`{user_id}` is the reader's own id (external_id), as the guide uses it; the UUID works too."""
    _create_emp001(reader)
    user = _ok(http_message(reader, block(DOC, "### 3. Update User").replace("{user_id}", "EMP001")))
    assert user["name"] == "John Smith" and user["metadata"]["role"] == "Senior Developer"


def test_deactivate_user(reader: Reader) -> None:
    created = _create_emp001(reader)
    user = _ok(http_message(reader, block(DOC, "### 4. Deactivate User").replace("{user_id}", created["id"])))
    assert user["is_active"] is False


def test_webcam_enrollment_three_steps(reader: Reader, tmp_path: Path) -> None:
    """Deviation (as api_integration_guide.md §Session-based Enrollment): `require_multiple_angles`
    needs left and right turns the shared video does not have; the frames answer as documented
    (`processing`, feedback, progress with `angles_captured`), complete names the missing angles."""
    _create_emp001(reader)
    session = _ok(http_message(reader, block(DOC, "#### Step 1: Create Enrollment Session")), 201)
    step2 = block(DOC, "#### Step 2: Process Frames")
    last: dict[str, Any] = {}
    for t, jpeg in video_jpegs():
        if t > 2.0:
            break
        captured = (START + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
        text = step2.replace("2024-01-01T12:00:01Z", captured)
        tmp = frame_file(tmp_path, t, jpeg)
        last = _ok(http_message(reader, text, files={"frame": [tmp]}, session_token=session["session_token"]))
    expected = json.loads(block(DOC, "#### Response dari Process Frame:"))
    assert set(expected) <= set(last) and set(expected["progress"]) <= set(last["progress"])
    assert last["status"] == "processing" and last["face_detected"] is True and "front" in last["progress"]["angles_captured"]
    done = http_message(reader, block(DOC, "#### Step 3: Complete Enrollment"), session_token=session["session_token"])
    assert done.status_code == 400 and done.json()["error"]["code"] == "INSUFFICIENT_QUALITY"
    details = done.json()["error"]["details"]
    assert "angles" in details["missing"] and set(details["angles_missing"]) == {"left", "right"}, details


def frame_file(folder: Path, t: float, jpeg: bytes) -> Path:
    """A video frame as the file the block's `<binary_image_data>` stands for."""
    path = folder / f"frame-{t:07.3f}.jpg"
    path.write_bytes(jpeg)
    return path


def test_upload_enrollment(reader: Reader) -> None:
    _create_emp001(reader)
    out = _ok(http_message(reader, block(DOC, "### 2. Upload Enrollment"), files={"image": [FACE]}), 201)
    assert out["status"] == "completed" and out["quality_score"] >= 0.8


def test_mobile_enrollment_auto_capture(reader: Reader) -> None:
    """`auto_capture`: the session completes by itself on the frame that meets every requirement."""
    session = _ok(http_message(reader, block(DOC, "### 3. Mobile Enrollment")), 201)
    frames = _frames(reader, "/api/auth/enrollment/process-frame/", session["session_token"], seconds=12.0)
    assert frames[-1]["session_status"] == "completed" and frames[-1]["liveness_verified"] is True, frames[-1]
    # `guidance_enabled: true`: the frames carry the real-time guidance (message + suggestion codes).
    assert session["guidance_enabled"] is True and all(f["guidance_enabled"] for f in frames)
    assert any(f["feedback"]["suggestions"] for f in frames[:-1]) and all(f["feedback"]["message"] for f in frames)


def test_verification_1_1(reader: Reader) -> None:
    _create_emp001(reader)
    _enroll_emp001(reader)
    session = _ok(http_message(reader, block(DOC, "#### Create Verification Session:")), 201)
    # The frame block is the same request as `frame: <binary_image_data>`, once per video frame.
    first = _ok(http_message(reader, block(DOC, "#### Process Authentication Frame:"), files={"frame": [FACE]},
                             session_token=session["session_token"]))
    assert first["status"] == "processing"
    out = _frames(reader, "/api/auth/authentication/process-frame/", session["session_token"])[-1]
    expected = json.loads(block(DOC, "#### Authentication Response:"))
    assert out["status"] == "completed" and set(expected["result"]) <= set(out["result"]), out
    assert out["result"]["authenticated"] is True and out["result"]["user_name"] == "John Doe"


def test_identification_1_n(reader: Reader) -> None:
    _create_emp001(reader)
    _enroll_emp001(reader)
    session = _ok(http_message(reader, block(DOC, "#### Create Identification Session:")), 201)
    out = _frames(reader, "/api/auth/authentication/process-frame/", session["session_token"])[-1]
    assert out["status"] == "completed", out
    best = out["result"]["matches"][0]
    assert best["name"] == "John Doe" and best["confidence"] > 0.5 and out["result"]["liveness_score"] > 0
    documented = json.loads(block(DOC, "#### Identification Response:"))["result"]["matches"][0]
    assert set(documented) <= set(best), best  # user_id, confidence, name, metadata
    assert best["metadata"]["department"] == "IT" and best["external_id"] == "EMP001"


def test_enable_liveness_fragment(reader: Reader) -> None:
    """The fragment is the liveness part of a create body: sent as an identification session."""
    body = json.loads(block(DOC, "#### Enable Liveness:"))
    resp = requests.post(reader.base + "/api/auth/authentication/create/", json={"mode": "identification", **body},
                         headers=reader.auth, timeout=60)
    session = _ok(resp, 201)
    assert session["require_liveness"] is True and session["liveness_threshold"] == 0.7
    # Frames carry the challenge prompts, as `liveness_update.challenge` does.
    frames = _frames(reader, "/api/auth/authentication/process-frame/", session["session_token"], seconds=1.5)
    prompts = {f["challenge"] for f in frames} - {None}
    assert prompts and prompts <= {f"please_{c}" for c in body["liveness_challenges"]}, prompts


def test_batch_processing_with_three_photos(reader: Reader, tmp_path: Path) -> None:
    """The block as written with three photos (`<multiple_binary_images>`): identification with
    liveness (the default) cannot be proven by still photos, so the answer is a failure that says
    how to succeed; the option it names (`require_liveness: false`) then identifies John Doe."""
    _create_emp001(reader)
    _enroll_emp001(reader)
    photos = [FACE, FACE, FACE]
    out = _ok(http_message(reader, block(DOC, "### 3. Batch Processing"), files={"frames": photos}))
    assert out["status"] == "failed" and out["frames_received"] == 3, out
    assert any("options.require_liveness: false" in s for s in out["suggestions"]), out["suggestions"]
    chosen = block(DOC, "### 3. Batch Processing").replace('"parallel_processing": true',
                                                            '"parallel_processing": true,\n  "require_liveness": false')
    out = _ok(http_message(reader, chosen, files={"frames": photos}))
    assert out["status"] == "completed" and out["result"]["matches"][0]["name"] == "John Doe", out


def test_batch_processing(reader: Reader, tmp_path: Path) -> None:
    _create_emp001(reader)
    _enroll_emp001(reader)
    frames = [frame_file(tmp_path, t, jpeg) for t, jpeg in video_jpegs() if t <= 4.0][::2]
    out = _ok(http_message(reader, block(DOC, "### 3. Batch Processing"), files={"frames": frames}))
    assert out["frames_received"] == len(frames) and out["status"] in ("completed", "failed")
    assert out["result"]["matches"][0]["name"] == "John Doe"
