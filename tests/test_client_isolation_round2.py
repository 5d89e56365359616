"""Issue 24 item 6: a user token acts for its own user's sessions only."""

from __future__ import annotations

import base64
import io
import json

from aiohttp.test_utils import TestClient

from tests.conftest import FaceClient
from tests.data import read
from tests.session_helpers import create_enrollment

ANGIE = "faces/angelina_jolie/img1.jpg"


async def _user_bearer(http: TestClient, auth: dict[str, str], user_id: str) -> dict[str, str]:
    resp = await http.post("/api/auth/user-token/", json={"user_id": user_id}, headers=auth)
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['access']}"}


async def _post_frame(http: TestClient, token: str, headers: dict[str, str]) -> tuple[int, str]:
    body = {"session_token": token, "frame_data": "data:image/jpeg;base64," + base64.b64encode(read(ANGIE)).decode()}
    resp = await http.post("/api/enrollment/process-frame/", data=io.BytesIO(json.dumps(body).encode()),
                           headers={**headers, "Content-Type": "application/json"})
    return resp.status, await resp.text()


async def test_a_user_token_cannot_post_another_users_session_frames(face_client: FaceClient) -> None:
    http, auth = await face_client()
    mallory = await _user_bearer(http, auth, "mallory")
    victim = await create_enrollment(http, auth, "victim", session_type="upload")
    # The repro: mallory's own user token beside the victim's session token.
    status, text = await _post_frame(http, victim["session_token"], mallory)
    assert status == 404 and json.loads(text)["error"]["code"] == "SESSION_NOT_FOUND", text
    resp = await http.post("/api/auth/enrollment/complete/", json={"session_token": victim["session_token"]},
                           headers=mallory)
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "SESSION_NOT_FOUND"
    # Mallory's own session, the client's credentials and the token alone still work.
    own = await (await http.post("/api/enrollment/create/", json={"session_type": "upload"}, headers=mallory)).json()
    status, text = await _post_frame(http, own["session_token"], mallory)
    assert status == 200, text
    status, text = await _post_frame(http, victim["session_token"], auth)
    assert status == 200, text
