"""WebSocket /ws/recognition/: subscriptions to a real WebRTC session's events, tenant
isolation, and process_frame with real frames (and garbage)."""

from __future__ import annotations

import asyncio
import base64
import threading
from typing import Any

import cv2
import numpy as np
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from api.keys import EXECUTOR, STORE
from tests.conftest import FaceClient
from testkit.media import video_frames
from testkit.rtc_client import FrameTrack, RtcPeer, video_source
from tests.waiting import wait_until


def _creds(headers: dict[str, str]) -> dict[str, str]:
    key, secret = headers["Authorization"].split(" ", 1)[1].split(":", 1)
    return {"api_key": key, "api_secret": secret}


async def _recv(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == WSMsgType.TEXT, msg
    return msg.json()


async def _auth(http: TestClient, **creds: str) -> Any:
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", **creds})
    reply = await _recv(ws)
    assert reply["type"] == "authenticated", reply
    return ws


async def _collect(ws: Any, seconds: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            out.append(await _recv(ws, left))
        except TimeoutError:
            break
    return out


async def test_subscriber_gets_a_streaming_sessions_events_and_another_client_gets_none(face_client: FaceClient) -> None:
    http, headers = await face_client(**{"streaming.connect_timeout_s": 20.0})
    other = await http.app[STORE].create_client("other")
    peer = RtcPeer(http, headers)
    session = await peer.create(mode="identification", require_liveness=True, timeout=30)
    sid = session["session_id"]

    mine = await _auth(http, **_creds(headers))
    await mine.send_json({"type": "subscribe", "session_id": sid})
    assert (await _recv(mine))["type"] == "subscribed"
    by_token = await _auth(http, token=session["session_token"])
    spy = await _auth(http, api_key=other.client.api_key, api_secret=other.api_secret)
    await spy.send_json({"type": "subscribe", "session_id": sid})
    await spy.send_json({"type": "subscribe", "scope": "client"})
    replies = [await _recv(spy) for _ in range(2)]  # issue 24: another client's session is not "subscribed"
    assert [r["type"] for r in replies] == ["error", "subscribed"]
    assert replies[0]["payload"]["code"] == "SESSION_NOT_FOUND"

    await peer.connect(FrameTrack(video_source()))
    try:
        got = await _collect(mine, 6.0)
        token_got = await _collect(by_token, 0.5)
        leaked = await _collect(spy, 0.5)
    finally:
        await peer.close()
    kinds = {e["type"] for e in got}
    assert {"faces", "liveness_update", "session_status"} <= kinds, kinds
    assert all(e["session_id"] == sid for e in got)
    faces = [e["payload"] for e in got if e["type"] == "faces"]
    assert any(len(p["faces"]) == 1 for p in faces)
    assert {e["type"] for e in token_got} & {"faces", "liveness_update"}
    assert leaked == []

    # A session token may not widen its view.
    await by_token.send_json({"type": "subscribe", "scope": "client"})
    err = [e for e in await _collect(by_token, 1.0) if e["type"] == "error"]
    assert err and err[0]["payload"]["code"] == "INSUFFICIENT_PERMISSIONS"
    for ws in (mine, by_token, spy):
        await ws.close()


async def test_process_frame_answers_faces_and_rejects_garbage_without_closing(face_client: FaceClient) -> None:
    http, headers = await face_client()
    ws = await _auth(http, **_creds(headers))
    frames = [f for _, f in video_frames(15.0, 1.0)][:3]
    for frame in frames:
        jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
        await ws.send_json({"type": "process_frame", "frame": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()})
    events = await _collect(ws, 4.0)
    faces = [e["payload"] for e in events if e["type"] == "faces"]
    assert faces, events
    assert all(len(p["faces"]) == 1 for p in faces)
    assert faces[-1]["processed_frames"] + faces[-1]["dropped_frames"] == 3
    assert any(e["type"] == "liveness_update" for e in events)

    for bad in ("not a data url", "data:image/jpeg;base64,@@@@", "data:image/jpeg;base64," + base64.b64encode(b"nope").decode()):
        await ws.send_json({"type": "process_frame", "frame": bad})
        reply = await _recv(ws)
        while reply["type"] != "error":  # the live session's own events share the socket
            reply = await _recv(ws)
        assert reply["payload"]["code"] == "INVALID_FRAME", reply
    await ws.send_str("{broken json")
    assert [e for e in await _collect(ws, 1.0) if e["type"] == "error"][0]["payload"]["code"] == "INVALID_MESSAGE"
    await ws.send_json({"type": "ping"})
    assert any(e["type"] == "pong" for e in await _collect(ws, 1.0))
    assert not ws.closed
    await ws.close()


async def test_unauthenticated_and_bad_credentials_are_refused(face_client: FaceClient) -> None:
    http, headers = await face_client()
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "subscribe", "scope": "client"})
    assert (await _recv(ws))["payload"]["code"] == "AUTHENTICATION_REQUIRED"
    await ws.send_json({"type": "authenticate", "api_key": _creds(headers)["api_key"], "api_secret": "wrong"})
    assert (await _recv(ws))["payload"]["code"] == "INVALID_API_KEY"
    await ws.send_json({"type": "authenticate", "token": "no-such-token"})
    assert (await _recv(ws))["payload"]["code"] == "INVALID_SESSION_TOKEN"
    await ws.send_json({"type": "authenticate", "access_token": "eyJhbGciOiJIUzI1NiJ9.e30.forged"})
    assert (await _recv(ws))["payload"]["code"] == "INVALID_TOKEN"
    await ws.close()


async def test_a_jwt_authenticates_the_socket_for_the_whole_client(face_client: FaceClient) -> None:
    http, headers = await face_client()
    resp = await http.post("/api/auth/client-token/", headers=headers)
    assert resp.status == 200
    ws = await _auth(http, access_token=(await resp.json())["access_token"])
    await ws.send_json({"type": "subscribe", "scope": "client"})
    assert (await _recv(ws))["type"] == "subscribed"
    await ws.close()


async def test_webrtc_signaling_over_the_socket(face_client: FaceClient) -> None:
    """Offer, answer and a trickled candidate travel over the socket; the stream then runs."""
    from aiortc import RTCSessionDescription

    http, headers = await face_client()
    peer = RtcPeer(http, headers)
    session = await peer.create(mode="identification", require_liveness=False)
    ws = await _auth(http, token=session["session_token"])
    await ws.send_json({"type": "ice_candidate", "candidate": "candidate:garbage", "sdpMid": "0"})
    assert (await _recv(ws))["payload"]["code"] == "INVALID_ICE_CANDIDATE"
    await ws.send_json({"type": "offer", "sdp": "v=0\r\nthis is not sdp"})
    assert (await _recv(ws))["payload"]["code"] == "INVALID_SDP"
    await ws.send_json({"type": "offer", "sdp": "x", "session_id": "someone-else"})
    assert (await _recv(ws))["payload"]["code"] == "INSUFFICIENT_PERMISSIONS"

    channel = peer.pc.createDataChannel("events")
    channel.on("message", peer._on_message)  # noqa: SLF001
    peer.pc.addTrack(FrameTrack(video_source(seconds=2.0)))
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    await ws.send_json({"type": "offer", "sdp": peer.pc.localDescription.sdp})
    reply = await _recv(ws)
    while reply["type"] != "answer":  # session events for this session share the socket
        reply = await _recv(ws)
    assert reply["payload"]["session_id"] == session["session_id"]
    await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["payload"]["sdp"], type="answer"))
    assert await peer.wait_for(lambda evs: any(e["type"] == "faces" and e["payload"]["faces"] for e in evs), 20.0)
    await ws.send_json({"type": "offer", "sdp": peer.pc.localDescription.sdp})  # a second offer
    errors = [r for r in await _collect(ws, 2.0) if r["type"] == "error"]  # among the session's events
    assert [e["payload"]["code"] for e in errors] == ["INVALID_SESSION_STATE"], errors
    await peer.close()
    await ws.close()


async def test_a_frame_that_waited_for_a_worker_gives_way_to_the_newest(face_client: FaceClient) -> None:
    """Under load the job of the frame the loop took starts late (workers busy with other
    sessions): it then processes the newest frame instead, so what is answered is never older
    than one frame interval plus its own processing."""
    http, headers = await face_client()
    ws = await _auth(http, **_creds(headers))
    executor = http.app[EXECUTOR]
    release = threading.Event()
    running: list[int] = []

    def block() -> None:
        running.append(1)
        release.wait()

    loop = asyncio.get_running_loop()
    blockers = [loop.run_in_executor(executor, block) for _ in range(executor._max_workers)]
    face = [f for _, f in video_frames(15.0, 1.0)][0]
    empty = np.full_like(face, 127)  # no face: were it processed, a faces event with none would say so

    def data_url(image: np.ndarray) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(cv2.imencode(".jpg", image)[1].tobytes()).decode()

    before: list[dict[str, Any]] = []
    try:
        await wait_until(lambda: len(running) == executor._max_workers, message="every worker busy")
        await ws.send_json({"type": "process_frame", "frame": data_url(empty)})  # the loop takes this one ...
        # ... and its job waits for a worker (waited for, not slept on: a busy machine is slower)
        await wait_until(lambda: executor._work_queue.qsize() == 1, message="the first frame's job queued")
        for image in (empty, face):  # the first is replaced in the slot by the second
            await ws.send_json({"type": "process_frame", "frame": data_url(image)})
        # The socket handles its messages in order: the pong says both frames reached the slot.
        await ws.send_json({"type": "ping"})
        while not before or before[-1]["type"] != "pong":
            before.append(await _recv(ws, 30.0))
    finally:
        release.set()
        await asyncio.gather(*blockers)
    events = before + [await _recv(ws, 30.0)]
    while not any(e["type"] == "faces" for e in events):
        events.append(await _recv(ws, 30.0))
    faces = [e["payload"] for e in events if e["type"] == "faces"]
    assert [len(p["faces"]) for p in faces] == [1], faces  # only the newest frame, the face, was processed
    assert (faces[0]["processed_frames"], faces[0]["dropped_frames"]) == (1, 2)
    await ws.close()
