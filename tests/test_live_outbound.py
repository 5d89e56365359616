"""The one outbound adapter (api.live_outbound): a live session's typed events become one §5
envelope each, the same for its wire listeners and the bus; a door camera's session adds its
camera's copy (tagged `camera_id`) for the viewers and the camera topic, overlay kinds only."""

from __future__ import annotations

import asyncio
from typing import Any

from api.keys import BUS, SESSION_SERVICES, STORE
from events.bus import Subscription
from events.topics import camera_topic, session_topic
from sessions.live import open_live
from sessions.live_events import SessionFault
from tests.conftest import FaceClient


async def _until(sub: Subscription, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while (message := await sub.get())["type"] != kind:
            pass
    return message


async def test_one_envelope_per_event_for_listeners_and_bus(face_client: FaceClient) -> None:
    http, auth = await face_client()
    svc = http.app[SESSION_SERVICES]
    client = await http.app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0])
    assert client is not None
    screen = await open_live(svc, client.id, mode="identification", user_ref=None, require_liveness=False,
                             challenges=(), timeout_s=30, transport="websocket", continuous=False)
    door = await open_live(svc, client.id, mode="identification", user_ref=None, require_liveness=False,
                           challenges=(), timeout_s=30, transport="rtsp", continuous=True, camera_id="cam1")
    seen: dict[str, list[dict[str, Any]]] = {"screen": [], "door": []}
    screen.add_listener(seen["screen"].append)
    door.add_listener(seen["door"].append)
    sub = http.app[BUS].subscription()
    for topic in (session_topic(client.id, screen.session_id), session_topic(client.id, door.session_id),
                  camera_topic(client.id, "cam1")):
        await sub.add(topic)
    try:
        screen.publish(SessionFault(screen.session_id, "INVALID_FRAME", "not an image"))
        screen.publish(SessionFault(screen.session_id, "INSUFFICIENT_QUALITY", "more frames", None, with_details=True))
        assert [(m["type"], m["session_id"], m["payload"]) for m in seen["screen"]] == [
            ("error", screen.session_id, {"code": "INVALID_FRAME", "message": "not an image"}),
            ("error", screen.session_id, {"code": "INSUFFICIENT_QUALITY", "message": "more frames", "details": None})]
        assert all(set(m) == {"type", "session_id", "ts", "payload"} and isinstance(m["ts"], float)
                   for m in seen["screen"])
        on_bus = await _until(sub, "error")
        assert on_bus == seen["screen"][0]  # built once: the same envelope, ts included
        door.report_status()
        door.publish(SessionFault(door.session_id, "INVALID_FRAME", "not an image"))
        status = seen["door"]
        assert [m["type"] for m in status] == ["session_status"]  # viewers see overlay kinds only
        assert status[0]["camera_id"] == "cam1" and status[0]["payload"]["session_id"] == door.session_id
        assert set(status[0]["payload"]) == {"session_id", "status", "expires_in", "frame_count", "processed_frames",
                                             "processed_fps", "dropped_frames", "close_reason", "result"}
        first = await _until(sub, "session_status")
        second = await _until(sub, "session_status")
        tagged = [m for m in (first, second) if "camera_id" in m]
        assert len(tagged) == 1 and tagged[0] == status[0]  # the camera topic's copy; the session topic's is plain
        plain = first if first is not tagged[0] else second
        assert {k: v for k, v in tagged[0].items() if k != "camera_id"} == plain
    finally:
        await sub.close()
        await screen.close("closed_by_client")
        await door.close("closed_by_client")
