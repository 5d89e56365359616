"""A door that falls behind drops overlay data, never a decision (issue 23): thousands of `faces`
and `liveness_update` events published on a camera's live session around one settled track; the
access decision still comes out of the camera's decision task, once, and is recorded."""

from __future__ import annotations

import asyncio
from typing import Any

from api.keys import BUS, CAMERAS, CONFIG, SESSION_SERVICES, STORE
from doors.camera_config import CameraConfig
from events.topics import camera_topic
from recognition.decision import Decision
from sessions.live import open_live
from sessions.live_events import FacesSeen, LivenessChanged, TrackSettled
from sessions.outcomes import settle
from storage.camera_store import CameraStore
from streaming.camera import CameraRunner
from tests.conftest import FaceClient
from tests.session_helpers import make_user
from tests.test_door_gate import liveness, observed

FLOOD = 3000  # overlay events before the settled track, and as many after: six times the inbox's room


async def test_overlay_flood_cannot_drop_a_decision(face_client: FaceClient) -> None:
    http, auth = await face_client()
    app = http.app
    svc = app[SESSION_SERVICES]
    client = await app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0])
    assert client is not None
    staff = await make_user(http, auth, "EMP001", "Staff Member")
    camera = CameraConfig(id="flood", client_id=client.id, door_id="D1", require_liveness=False)
    runner = CameraRunner(camera, svc, app[CONFIG].ingest, app[CAMERAS].store, lambda *_: None)  # never started
    live = await open_live(svc, client.id, mode="identification", user_ref=None, require_liveness=False,
                           challenges=(), timeout_s=60, transport="rtsp", continuous=True, camera_id="flood")
    viewer: list[dict[str, Any]] = []
    runner.listeners.append(viewer.append)  # what a viewer's data channel gets
    sub = app[BUS].subscription()
    await sub.add(camera_topic(client.id, "flood"))
    runner.attach(live)
    try:
        def overlay(n: int) -> None:  # a frame loop far ahead of the door: nothing yields in between
            for i in range(n):
                tracks = (observed(1, i / 10), observed(2, i / 10))
                live.publish(FacesSeen(live.session_id, i / 10, i, (640, 480), tracks, {}, (), i, 0))
                live.publish(LivenessChanged(live.session_id, liveness(1, False, i / 10)))

        decision = Decision("success", "match", staff, None, 0.2, 0.9, ())
        settled = await settle(svc, client.id, live.session_id, "identification", None, decision, 0.9)
        overlay(FLOOD)
        live.publish(TrackSettled(live.session_id, observed(1), settled, 0.01))
        overlay(FLOOD)
        assert runner.inbox.dropped >= 4 * FLOOD - runner.inbox.max_overlay  # the door did fall behind
        async with asyncio.timeout(60):
            while not runner.decisions:
                await runner.decide_next()
        assert [(d["decision"], d["reason"], d["user_id"], d["track_id"]) for d in runner.decisions] == [
            ("granted", "granted", staff, 1)]
        records = await CameraStore(app[STORE].engine).decisions(client.id, "flood")
        assert [(r.decision, r.reason, r.user_id, r.session_id) for r in records] == [
            ("granted", "granted", staff, live.session_id)]
        sent = [m for m in viewer if m["type"] == "access_decision"]
        assert len(sent) == 1 and sent[0]["camera_id"] == "flood" and sent[0]["payload"]["user_id"] == staff
        assert sum(m["type"] == "faces" for m in viewer) == 2 * FLOOD  # viewers got every overlay event
        async with asyncio.timeout(30):  # the camera's topic (WebSocket subscribers): the same envelope
            while (message := await sub.get())["type"] != "access_decision":
                pass
        assert message["camera_id"] == "flood" and message["payload"]["decision"] == "granted"
    finally:
        runner.detach(live)
        await sub.close()
        await live.close("closed_by_client")
        await runner.close()
