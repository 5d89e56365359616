"""The door's rules over a camera session's events (sessions.access.DoorGate): who may enter,
when, one at a time, how often, and what a face that never proves liveness gets. Real users in
a real database; the events are shaped exactly as sessions.live emits them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from api.keys import SESSION_SERVICES, STORE
from sessions.access import DoorGate
from sessions.camera_config import CameraConfig
from sessions.door_schedule import Schedule, ScheduleError
from tests.conftest import FaceClient
from tests.session_helpers import make_user

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def msg(kind: str, payload: dict[str, Any], session: str = "s1") -> dict[str, Any]:
    return {"type": kind, "session_id": session, "ts": 0.0, "payload": payload}


def faces(*ids: int) -> dict[str, Any]:
    return msg("faces", {"faces": [{"track_id": i, "box": [0, 0, 10, 10], "quality": 0.9, "label": ""} for i in ids]})


def result(track: int, user_id: str | None, status: str = "success", reason: str = "match") -> dict[str, Any]:
    return msg("recognition_result", {"track_id": track, "status": status, "reason": reason, "user_id": user_id,
                                      "confidence": 0.9, "liveness_verified": True})


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_schedule_rules_time_zones_and_overnight() -> None:
    paris = Schedule.parse(["mon-fri 08:00-18:00", "sun 22:00-06:00"], "Europe/Paris")
    monday = datetime(2026, 11, 30, tzinfo=timezone.utc)  # a Monday
    assert paris.is_open(monday.replace(hour=7, minute=30))  # 08:30 in Paris (UTC+1)
    assert not paris.is_open(monday.replace(hour=17, minute=30))  # 18:30 in Paris
    assert paris.is_open(monday.replace(hour=4))  # 05:00 Monday: Sunday's overnight rule
    assert not paris.is_open(monday.replace(hour=6))  # 07:00 Monday
    summer = datetime(2026, 7, 6, 6, 30, tzinfo=timezone.utc)  # a Monday, 08:30 in Paris (UTC+2)
    assert paris.is_open(summer) and not paris.is_open(summer - timedelta(minutes=60))
    assert Schedule.parse([], "UTC").is_open(monday)
    for bad in (["someday 08:00-09:00"], ["mon 8-9"], ["mon 08:00"]):
        with pytest.raises(ScheduleError):
            Schedule.parse(bad, "UTC")
    with pytest.raises(ScheduleError, match="time zone"):
        Schedule.parse([], "Mars/Olympus")


async def test_door_rules(face_client: FaceClient) -> None:
    http, auth = await face_client()
    svc = http.app[SESSION_SERVICES]
    client = await http.app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0])
    assert client is not None
    staff = await make_user(http, auth, "EMP001", "Staff Member")
    guest = await make_user(http, auth, "GUEST1", "Guest")
    await svc.users.update(client.id, staff, metadata={"groups": ["staff"]})
    clock = Clock()
    cam = CameraConfig(id="c", client_id=client.id, door_id="D1", allowed_groups=("staff",), cooldown_s=10.0,
                       one_person=True)
    gate = DoorGate(svc, cam, liveness_timeout_s=3.0, clock=clock)
    await gate.handle(faces(1))
    d = await gate.handle(result(1, staff))
    assert d is not None and (d.decision, d.reason, d.user_id, d.name, d.door_id) == (
        "granted", "granted", staff, "Staff Member", "D1")
    assert d.payload()["camera_id"] == "c"
    assert await gate.handle(result(1, staff)) is None  # one decision per track
    await gate.handle(faces(2))
    assert await gate.handle(result(2, staff)) is None  # same person within the cooldown
    clock.t += 11
    await gate.handle(faces(3, 4))
    d = await gate.handle(result(3, staff))
    assert d is not None and (d.decision, d.reason) == ("denied", "several_faces")
    await gate.handle(faces(5))
    d = await gate.handle(result(5, guest))
    assert d is not None and (d.decision, d.reason, d.user_id) == ("denied", "not_allowed", guest)
    d = await gate.handle(result(6, None, "unknown", "no_match"))
    assert d is not None and (d.decision, d.reason, d.user_id) == ("denied", "unknown", None)
    d = await gate.handle(result(7, None, "failure", "liveness_failed"))
    assert d is not None and d.reason == "liveness_failed"
    # a deactivated user is refused at the door even if the recognition said success
    await svc.users.update(client.id, guest, is_active=False)
    clock.t += 11
    d = await gate.handle(result(8, guest))
    assert d is not None and (d.decision, d.reason) == ("denied", "inactive_user")


async def test_outside_schedule_and_liveness_timeout(face_client: FaceClient) -> None:
    http, auth = await face_client()
    svc = http.app[SESSION_SERVICES]
    client = await http.app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0])
    assert client is not None
    user = await make_user(http, auth, "EMP001", "Night Owl")
    tomorrow = DAYS[(datetime.now(timezone.utc).weekday() + 1) % 7]
    clock = Clock()
    cam = CameraConfig(id="c", client_id=client.id, schedule=(f"{tomorrow} 00:00-24:00",), timezone="UTC")
    gate = DoorGate(svc, cam, liveness_timeout_s=3.0, clock=clock)
    await gate.handle(faces(1))
    d = await gate.handle(result(1, user))
    assert d is not None and (d.decision, d.reason) == ("denied", "outside_schedule")
    # a face in view that never proves liveness: denied once after the timeout, reason kept in `pending`
    await gate.handle(faces(2))
    await gate.handle(msg("liveness_update", {"track_id": 2, "passed": False}))
    clock.t += 2
    assert await gate.handle(faces(2)) is None and gate.pending is not None
    assert gate.pending["reason"] == "liveness_pending"
    clock.t += 2
    d = await gate.handle(faces(2))
    assert d is not None and (d.decision, d.reason, d.track_id) == ("denied", "liveness_failed", 2)
    assert await gate.handle(faces(2)) is None and gate.pending["reason"] == "liveness_failed"
    # a new live session (reconnect): its track ids start afresh
    await gate.handle(faces(2) | {"session_id": "s2"})
    assert gate.pending is not None and gate.pending["reason"] == "liveness_pending"
