"""The core flows under both engine profiles: a REST session with liveness from the live video,
a WebRTC verification, and the still photo that never passes (one engine per profile)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from api.keys import STORE
from sessions.service import TENANT_ID
from tests.conftest import FaceClient
from testkit.helpers import form
from testkit.rtc_client import FrameTrack, RtcPeer, still_source, video_source
from tests.session_helpers import enroll_video, make_user, post_frame, still_jpeg, video_jpegs

MODEL_OF = {"research": "w600k_mbf", "permissive": "face-reidentification-retail-0095"}
AUTH_FRAME = "/api/auth/authentication/process-frame/"


async def _auth_session(client: TestClient, auth: dict[str, str], **body: Any) -> str:
    resp = await client.post("/api/auth/authentication/create/", json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["session_token"])


async def _stored_models(client: TestClient, auth: dict[str, str]) -> set[str]:
    owner = await client.app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0])
    assert owner is not None
    return {r.model_id for r in await client.app[STORE].enrollments(owner.id, TENANT_ID)}


async def test_rest_sessions_with_liveness_from_the_live_video(profile: str, profile_client: FaceClient) -> None:
    client, auth = await profile_client()
    uid = await make_user(client, auth, "blinker", "Blinking Person")
    _, responses = await enroll_video(client, auth, "blinker")
    assert responses[-1]["session_status"] == "completed" and responses[-1]["liveness_verified"] is True
    assert await _stored_models(client, auth) == {MODEL_OF[profile]}

    token = await _auth_session(client, auth, user_id="blinker", mode="verification", require_liveness=True)
    out: dict[str, Any] = {}
    for t, data in video_jpegs():
        status, out = await post_frame(client, token, data, t, path=AUTH_FRAME)
        assert status == 200, out
        if out["status"] != "processing":
            break
    result = out["result"]
    assert out["success"] is True and result["authenticated"] is True and result["user_id"] == uid
    assert result["liveness_verified"] is True and result["liveness_score"] >= 0.7

    # The same person's still photo, with the same liveness demand, never authenticates.
    token = await _auth_session(client, auth, user_id="blinker", mode="verification", require_liveness=True)
    for i in range(45):  # 3 s of the photo at 15 fps
        status, out = await post_frame(client, token, still_jpeg(), i / 15, path=AUTH_FRAME)
        assert status == 200, out
        assert out["success"] is not True and (out["result"] or {}).get("authenticated") is not True, out


async def test_webrtc_verification_and_the_still_photo(profile: str, profile_client: FaceClient) -> None:
    http, headers = await profile_client(**{"streaming.connect_timeout_s": 20.0})
    uid = await make_user(http, headers, "blinker", "Blinking Person")
    resp = await http.post("/enroll", headers=headers, data=_photo_form(uid))
    assert resp.status == 200, await resp.text()

    peer = RtcPeer(http, headers)
    await peer.create(mode="verification", user_id="blinker", require_liveness=True, timeout=60)
    await peer.connect(FrameTrack(video_source()))
    try:
        assert await peer.wait_for(lambda evs: any(e["type"] == "recognition_result" for e in evs), 60)
    finally:
        await peer.close()
    (result,) = peer.of_type("recognition_result")
    assert result["status"] == "success" and result["user_id"] == uid and result["liveness_verified"] is True, result

    still = RtcPeer(http, headers)
    await still.create(mode="verification", user_id="blinker", require_liveness=True, timeout=6)
    await still.connect(FrameTrack(still_source(False)))
    try:
        assert await still.wait_for(
            lambda evs: any(e["type"] == "session_status" and e["payload"]["close_reason"] for e in evs), 30)
    finally:
        await still.close()
    assert not any(p["passed"] for p in still.of_type("liveness_update"))
    (result,) = still.of_type("recognition_result")
    assert result["status"] == "failure" and result["reason"] == "liveness_failed", result


def _photo_form(user_id: str) -> Any:
    """The root API stores platform users' faces in tenant 0 under their UUID."""
    return form(still_jpeg(), tenant_id=TENANT_ID, user_id=user_id, name="Blinking Person")
