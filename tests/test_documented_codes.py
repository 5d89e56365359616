"""The documents' error codes the server used never to send, in the situations they name:
POOR_IMAGE_QUALITY (a frame too poor to use, user_guide.md), SESSION_TIMEOUT (the session's time
ran out while its frame waited or ran) and EXTERNAL_SERVICE_ERROR (Redis down where nothing falls
back; api_integration_guide.md "Common Error Codes"). The WebSocket event-bus case is
tests/test_hardening_inputs.py::test_websocket_subscribe_while_redis_is_down_is_an_error_message."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import cv2
import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from api.dependency_errors import dependency_error
from api.keys import SESSION_SERVICES
from tests.conftest import FaceClient
from tests.path_clients import AUTH_FRAME
from tests.session_helpers import create_enrollment, make_user, post_frame, still_jpeg


def _jpeg(pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", pixels)
    assert ok
    return buf.tobytes()


DARK = _jpeg(np.full((480, 640, 3), 4, np.uint8))
TINY = _jpeg(np.full((40, 40, 3), 128, np.uint8))
EMPTY_ROOM = _jpeg(np.full((480, 640, 3), 128, np.uint8))  # usable, nobody in it


async def test_a_frame_too_poor_to_use_is_poor_image_quality_and_the_session_goes_on(face_client: FaceClient) -> None:
    http, auth = await face_client()
    await make_user(http, auth, "EMP030")
    session = await create_enrollment(http, auth, "EMP030")
    status, body = await post_frame(http, session["session_token"], DARK, 0.0)
    assert status == 400, body
    error = body["error"]
    assert error["code"] == "POOR_IMAGE_QUALITY" and error["details"]["problems"] == ["too_dark"]
    assert error["details"]["suggestions"][0].startswith("Improve the lighting")
    status, body = await post_frame(http, session["session_token"], TINY, 0.1)
    assert status == 400 and body["error"]["details"]["problems"] == ["image_too_small"], body
    # A usable frame without a face is feedback, not an error; a face is then accepted as before.
    status, body = await post_frame(http, session["session_token"], EMPTY_ROOM, 0.2)
    assert status == 200 and body["face_detected"] is False, body
    status, body = await post_frame(http, session["session_token"], still_jpeg(), 0.3)
    assert status == 200 and body["frame_accepted"] is True, body

    resp = await http.post("/api/auth/authentication/create/", headers=auth, json={"mode": "identification"})
    token = (await resp.json())["session_token"]
    for path in (AUTH_FRAME, "/api/auth/process-image/"):
        status, body = await post_frame(http, token, DARK, None, path=path)
        assert status == 400 and body["error"]["code"] == "POOR_IMAGE_QUALITY", (path, body)


async def test_a_frame_whose_session_times_out_while_it_waits_is_session_timeout(face_client: FaceClient) -> None:
    """The frame is accepted while the session is open and waits behind the session's frame lock
    (held here, as a long earlier frame would) past the expiry: SESSION_TIMEOUT, and the session
    is expired; a frame that arrives after the expiry stays SESSION_EXPIRED."""
    http, auth = await face_client()
    resp = await http.post("/api/auth/authentication/create/", headers=auth,
                           json={"mode": "identification", "timeout": 2})
    session = await resp.json()
    svc = http.app[SESSION_SERVICES]
    lock = svc.live.lock(session["session_id"])
    await lock.acquire()
    try:
        waiting = asyncio.ensure_future(post_frame(http, session["session_token"], still_jpeg(), 0.0, path=AUTH_FRAME))
        loop = asyncio.get_running_loop()
        until = loop.time() + 60
        while not getattr(lock, "_waiters", None) and not waiting.done() and loop.time() < until:
            await asyncio.sleep(0.01)  # until the request waits on the lock
        assert not waiting.done(), waiting.result()
        row = await svc.store.by_token(session["session_token"])
        assert row is not None
        expires = row.expires_at
        while datetime.now(timezone.utc) <= expires and loop.time() < until:
            await asyncio.sleep(0.05)  # until the session's time has run out
    finally:
        lock.release()
    status, body = await waiting
    assert status == 410 and body["error"]["code"] == "SESSION_TIMEOUT", body
    assert body["error"]["details"]["session_id"] == session["session_id"]
    got = await (await http.get(f"/api/auth/authentication/{session['session_id']}/", headers=auth)).json()
    assert got["status"] == "expired"
    status, body = await post_frame(http, session["session_token"], still_jpeg(), 1.0, path=AUTH_FRAME)
    assert status == 410 and body["error"]["code"] == "SESSION_EXPIRED", body


async def test_redis_down_maps_to_external_service_error() -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/15", socket_connect_timeout=1.0)
    try:
        await client.ping()
    except RedisError as exc:
        mapped = dependency_error(exc)
    else:
        raise AssertionError("nothing listens on port 1")
    finally:
        await client.aclose()
    assert mapped is not None and mapped.status == 503 and mapped.code == "EXTERNAL_SERVICE_ERROR"
    assert "Redis" in mapped.message and "127.0.0.1" not in mapped.message
