"""Issue 9: every input that used to answer 500 (or wedge a session or a socket) now answers a
clear 4xx in its surface's error format, and the server and the socket keep working after it."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from engine.face_engine import FaceEngine
from testkit.data import read
from tests.hardening_helpers import database_url, long_thin_png, raw_request, start_app
from testkit.helpers import form
from tests.path_clients import ws_credentials
from testkit.rtc_client import FrameTrack, RtcPeer, video_source
from tests.session_helpers import create_enrollment, frame_form, make_user

OBAMA = "faces/barack_obama/obama.jpg"


async def _still_serving(http: TestClient, headers: dict[str, str]) -> None:
    resp = await http.post("/detect", data=form(read("scenes/obama_small.jpg")), headers=headers)
    assert resp.status == 200 and len((await resp.json())["faces"]) == 1
    resp = await http.get("/api/clients/users/", headers=headers)
    assert resp.status == 200 and (await resp.json())["count"] >= 0


async def _detail(resp: Any) -> str:
    body = await resp.json()
    assert set(body) == {"detail"}, body
    return str(body["detail"])


async def _error(resp: Any) -> dict[str, Any]:
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details", "timestamp", "request_id"}
    return dict(body["error"])


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_app(request: pytest.FixtureRequest, aiohttp_client: Any, engine: FaceEngine, tmp_path: Path
                 ) -> Any:
    async with database_url(request.param, tmp_path) as url:
        http, headers = await start_app(aiohttp_client, engine, url)
        yield request.param, http, headers
        await http.close()


async def test_non_utf8_byte_in_authorization_is_401_on_both_surfaces(db_app: Any) -> None:
    _, http, headers = db_app
    for path, surface in (("/enrollments/1", "root"), ("/api/clients/users/", "api")):
        head = (f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
                + b"Authorization: ApiKey fs_x:s3cretXYZ\xe9\r\n\r\n")
        status, body = await raw_request(http, head)
        assert status == 401, body
        parsed = json.loads(body)
        if surface == "root":
            assert parsed == {"detail": parsed["detail"]} and "Malformed Authorization header" in parsed["detail"]
        else:
            assert parsed["error"]["code"] == "AUTHENTICATION_REQUIRED"
            assert "Malformed Authorization header" in parsed["error"]["message"]
        assert b"s3cretXYZ" not in body  # (not a hex-like marker: the request id is random hex)
    resp = await http.get("/api/clients/users/", headers={"X-Session-Token": "t\u00e9"})
    assert resp.status == 401 and (await _error(resp))["code"] == "AUTHENTICATION_REQUIRED"
    await _still_serving(http, headers)


async def test_path_ids_beyond_their_columns_are_4xx(db_app: Any) -> None:
    kind, http, headers = db_app
    resp = await http.get("/enrollments/99999999999999999999", headers=headers)  # > 2^63
    assert resp.status == 422 and "'tenant_id' is out of range" in await _detail(resp)
    resp = await http.delete("/enrollments/9/2147483648", headers=headers)  # > 2^31 (PostgreSQL INTEGER)
    assert resp.status == 422 and "'enrollment_id' is out of range" in await _detail(resp)
    resp = await http.delete("/enrollments/99999999999999999999/name/ada", headers=headers)
    assert resp.status == 422
    resp = await http.post("/cache/99999999999999999999/invalidate", headers=headers)
    assert resp.status == 422
    for what in ("attempts", "embeddings"):
        resp = await http.get(f"/api/recognition/{what}/2147483648/", headers=headers)
        assert resp.status == 404 and (await _error(resp))["code"] == "NOT_FOUND", kind
    resp = await http.get("/api/clients/api-usage/99999999999999999999/", headers=headers)
    assert resp.status == 404
    # A valid delete of a stored enrollment still works.
    resp = await http.post("/enroll", data=form(read(OBAMA), tenant_id=9, user_id=1, name="Ada"), headers=headers)
    assert resp.status == 200, await resp.text()
    entry = (await resp.json())["enrollment_id"]
    resp = await http.delete(f"/enrollments/9/{entry}", headers=headers)
    assert resp.status == 200 and (await resp.json())["deleted"] == 1
    await _still_serving(http, headers)


async def test_nul_character_in_text_is_422_on_both_databases(db_app: Any) -> None:
    kind, http, headers = db_app
    resp = await http.get("/api/clients/users/?search=a%00b", headers=headers)
    assert resp.status == 422, kind
    err = await _error(resp)
    assert err["code"] == "VALIDATION_ERROR" and "NUL" in err["message"]
    resp = await http.post("/api/clients/users/", json={"external_id": "x\u0000y", "name": "Ada"}, headers=headers)
    assert resp.status in (201, 422), await resp.text()  # SQLite stores NUL; PostgreSQL text cannot
    if kind == "postgresql":
        assert resp.status == 422 and (await _error(resp))["code"] == "VALIDATION_ERROR"
    resp = await http.get("/api/clients/users/?search=ada", headers=headers)
    assert resp.status == 200
    await _still_serving(http, headers)


async def test_huge_or_deeply_nested_encoding_on_compare_is_422(face_client: Any) -> None:
    http, headers = await face_client()
    nested = "[" * 200_000 + "]" * 200_000
    huge = json.dumps([0.01] * 150_000)  # ~900 KB: over the 64 KiB field limit, under the 1 MB client warning
    for encoding in (nested, huge, '[[[[[[[[1]]]]]]]]'):
        fd = form(read(OBAMA))
        fd.add_field("encoding", encoding, content_type="text/plain")
        resp = await http.post("/compare", data=fd, headers=headers)
        assert resp.status == 422, resp.status
        assert "'encoding'" in await _detail(resp) or "encoding must" in await _detail(resp)
    enc = (await (await http.post("/encode", data=form(read(OBAMA)), headers=headers)).json())["encoding"]
    resp = await http.post("/compare", data=form(read(OBAMA), encoding=json.dumps(enc)), headers=headers)
    assert resp.status == 200 and (await resp.json())["match"] is True


async def test_process_frame_with_an_empty_data_url_is_400(face_client: Any) -> None:
    http, headers = await face_client()
    await make_user(http, headers, "ext-frame-data")
    session = await create_enrollment(http, headers, "ext-frame-data")
    token = session["session_token"]
    for path in ("/api/auth/enrollment/process-frame/", "/api/auth/process-image/"):
        resp = await http.post(path, json={"frame_data": "data:"}, headers={"X-Session-Token": token})
        assert resp.status == 400, await resp.text()
        err = await _error(resp)
        assert err["code"] == "INVALID_IMAGE" and err["message"] == "Image data is empty"
    resp = await http.post("/api/auth/enrollment/process-frame/", data=frame_form(read(OBAMA), 0.0),
                           headers={"X-Session-Token": token})
    assert resp.status == 200, await resp.text()
    out = await resp.json()
    assert out["face_detected"] is True and out["completed_samples"] == 1


async def test_long_thin_png_is_400_on_every_image_endpoint(face_client: Any) -> None:
    http, headers = await face_client()
    thin = long_thin_png()
    assert len(thin) < 200_000
    resp = await http.post("/enroll", data=form(read(OBAMA), tenant_id=1, user_id=7, name="Barack"), headers=headers)
    assert resp.status == 200
    expected = "Image is 10x3999999: an aspect ratio over 20:1 is not a photo of a face"
    root = {
        "/encode": {}, "/detect": {}, "/compare": {"encoding": json.dumps([0.1] * 512)},
        "/enroll": {"tenant_id": 1, "user_id": 8, "name": "Thin"}, "/identify": {"tenant_id": 1},
        "/verify": {"tenant_id": 1, "user_id": 7},
    }
    for path, fields in root.items():
        resp = await http.post(path, data=form(thin, filename="thin.png", **fields), headers=headers)
        assert resp.status == 400, (path, resp.status)
        assert await _detail(resp) == expected, path
    await make_user(http, headers, "ext-thin")
    session = await create_enrollment(http, headers, "ext-thin")
    resp = await http.post("/api/auth/enrollment/process-frame/", data=frame_form(thin, 0.0),
                           headers={"X-Session-Token": session["session_token"]})
    assert resp.status == 400 and (await _error(resp))["message"] == expected
    resp = await http.post("/api/auth/enrollment/direct/", data=_direct_form(thin), headers=headers)
    assert resp.status == 400 and (await _error(resp))["message"] == expected
    await _still_serving(http, headers)


def _direct_form(data: bytes) -> Any:
    import io

    import aiohttp

    fd = aiohttp.FormData()
    fd.add_field("user_id", "ext-thin")
    fd.add_field("image", io.BytesIO(data), filename="thin.png", content_type="image/png")
    return fd


async def _recv(ws: Any, timeout: float = 20.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == WSMsgType.TEXT, msg
    return dict(msg.json())


async def _recv_until(ws: Any, kinds: set[str], timeout: float = 30.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        msg = await _recv(ws, max(end - loop.time(), 0.01))
        if msg["type"] in kinds:
            return msg


def _data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


async def test_websocket_long_thin_png_then_real_frames_keep_processing(face_client: Any) -> None:
    http, headers = await face_client()
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", **ws_credentials(headers)})
    assert (await _recv(ws))["type"] == "authenticated"
    options = {"mode": "identification", "require_liveness": False}
    await ws.send_json({"type": "process_frame", "frame": _data_url(long_thin_png()), "timestamp": 0, "options": options})
    error = await _recv_until(ws, {"error"})
    assert error["payload"]["code"] == "INVALID_FRAME"
    assert "aspect ratio over 20:1" in error["payload"]["message"]
    face = _data_url(read(OBAMA), "jpeg")
    for i in range(1, 4):
        await ws.send_json({"type": "process_frame", "frame": face, "timestamp": i * 0.1, "options": options})
        faces = await _recv_until(ws, {"faces"})
        assert len(faces["payload"]["faces"]) == 1
    await ws.close()


async def test_bad_sdp_then_a_valid_offer_connects(face_client: Any) -> None:
    http, headers = await face_client(**{"streaming.connect_timeout_s": 20.0})
    peer = RtcPeer(http, headers)
    session = await peer.create(mode="identification", require_liveness=False, timeout=30)
    bad = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
    for _ in range(2):
        resp = await http.post("/api/streaming/webrtc/offer/",
                               json={"session_token": session["session_token"], "sdp": bad, "type": "offer"})
        assert resp.status == 400, await resp.text()
        assert (await _error(resp))["code"] == "INVALID_SDP"
    resp = await http.get(f"/api/streaming/sessions/{session['session_id']}/", headers=headers)
    assert (await resp.json())["status"] == "created"
    await peer.connect(FrameTrack(video_source(seconds=4.0)))
    try:
        assert await peer.wait_for(lambda evs: any(e["type"] == "faces" and e["payload"]["faces"] for e in evs), 30)
    finally:
        await peer.close()


async def test_websocket_hostile_messages_get_error_replies_not_a_closed_socket(face_client: Any) -> None:
    http, headers = await face_client()
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_str('{"type": "ping", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    reply = await _recv(ws)
    assert reply["type"] == "error" and reply["payload"] == {"code": "INVALID_MESSAGE", "message": "message is not JSON"}
    creds = ws_credentials(headers)
    await ws.send_str('{"type": "authenticate", "api_key": "%s", "api_secret": "\\ud800"}' % creds["api_key"])
    reply = await _recv(ws)
    assert reply["type"] == "error" and reply["payload"]["code"] == "INVALID_MESSAGE"
    assert reply["payload"]["message"].startswith("api_secret: ")  # named by the pydantic model
    await ws.send_json({"type": "authenticate", "api_key": creds["api_key"], "api_secret": "s\u00e9cret"})
    reply = await _recv(ws)
    assert reply["payload"] == {"code": "INVALID_MESSAGE",
                                "message": "'api_secret' must be printable ASCII of a sane length"}
    await ws.send_json({"type": "subscribe", "scope": "everyone"})
    reply = await _recv(ws)
    assert reply["payload"]["code"] == "INVALID_MESSAGE" and reply["payload"]["message"].startswith("scope: ")
    await ws.send_json({"type": "process_frame", "frame": 42})
    reply = await _recv(ws)
    assert reply["payload"]["code"] == "INVALID_FRAME" and reply["payload"]["message"].startswith("frame: ")
    await ws.send_json({"type": "authenticate", **creds})
    assert (await _recv(ws))["type"] == "authenticated"
    await ws.send_json({"type": "ping", "ts": 1})
    assert (await _recv(ws))["type"] == "pong"
    assert not ws.closed
    await ws.close()


async def test_websocket_subscribe_while_redis_is_down_is_an_error_message(face_client: Any) -> None:
    http, headers = await face_client(**{"events.bus_url": "redis://127.0.0.1:1/15"})
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", **ws_credentials(headers)})
    assert (await _recv(ws))["type"] == "authenticated"
    await ws.send_json({"type": "subscribe", "scope": "client"})
    reply = await _recv(ws)
    assert reply["type"] == "error", reply
    # EXTERNAL_SERVICE_ERROR: the documents' code for a service outside the server failing (issue 29).
    assert reply["payload"] == {"code": "EXTERNAL_SERVICE_ERROR",
                                "message": "The event bus is unavailable; retry later"}
    await ws.send_json({"type": "ping", "ts": 2})
    assert (await _recv(ws))["type"] == "pong"
    await ws.close()
