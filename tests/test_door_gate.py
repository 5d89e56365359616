"""The door's rules over a camera session's events (doors.gate.DoorGate): who may enter,
when, one at a time, how often, and what a face that never proves liveness gets. Real users in
a real database; the events are the typed values sessions.live publishes, and every decision is
settled by the real sessions.outcomes.settle (which refuses inactive users before the door)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from api.keys import EVENT_SINK, SESSION_SERVICES, STORE
from doors.camera_config import CameraConfig
from doors.gate import AccessDecision, DoorGate, record_decision
from doors.schedules import Schedule, ScheduleError
from engine.liveness import LivenessState
from engine.types import Box, Pose, Quality
from recognition.decision import Decision
from recognition.processor import TrackObservation
from sessions.live_events import FacesSeen, LiveEvent, LivenessChanged, TrackSettled
from sessions.outcomes import settle
from sessions.service import SessionServices
from storage.camera_store import CameraStore
from storage.events_schema import audit_logs, webhook_deliveries, webhook_events
from tests.conftest import FaceClient
from tests.session_helpers import make_user

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def liveness(track: int, passed: bool = False, t: float = 0.0) -> LivenessState:
    return LivenessState(track_id=track, frames=1, ear=0.3, baseline_ear=0.3, eye_closure=None, smile=None,
                         blink_detected=False, blink_count=0, head_movement=0.0, pose=Pose(0.0, 0.0, 0.0),
                         nonrigid_residual=0.0, nonrigid_events=0, challenge=None, challenges_completed=(),
                         challenges_failed=0, liveness_score=0.0, passed=passed, policy="passive", t=t)


def observed(track: int, t: float = 0.0) -> TrackObservation:
    return TrackObservation(track, Box(0, 0, 10, 10), Quality(0.9, 1.0, 0.5, 1.0, Pose(0.0, 0.0, 0.0)),
                            liveness(track, t=t), 1, None, 0.9, ())


class Door:
    """What a camera's live session publishes to its gate: frames at the clock's time (the
    session's frame clock) and tracks settled by the real `settle` in a real session row."""

    def __init__(self, svc: SessionServices, client_id: int, gate: DoorGate, clock: Clock) -> None:
        self.svc, self.client_id, self.gate, self.clock = svc, client_id, gate, clock
        self.session = ""

    async def open(self) -> "Door":
        row, _ = await self.svc.create_row(client_id=self.client_id, kind="authentication", user_id=None,
                                           session_type="rtsp", mode="identification", timeout_s=60, params={},
                                           status="active")
        self.session = row.id
        return self

    async def handle(self, event: LiveEvent) -> AccessDecision | None:
        return self.gate.handle(event)

    async def faces(self, *ids: int, session: str | None = None) -> AccessDecision | None:
        tracks = tuple(observed(i, self.clock.t) for i in ids)
        return await self.handle(FacesSeen(session or self.session, self.clock.t, None, (640, 480), tracks, {}, (),
                                           1, 0))

    async def liveness(self, track: int, passed: bool) -> AccessDecision | None:
        return await self.handle(LivenessChanged(self.session, liveness(track, passed, self.clock.t)))

    async def result(self, track: int, user_id: str | None, status: str = "success",
                     reason: str = "match") -> AccessDecision | None:
        decision = Decision(status, reason, user_id, None, 0.2 if user_id else None, 0.9, ())
        settled = await settle(self.svc, self.client_id, self.session, "identification", None, decision, 0.9)
        return await self.handle(TrackSettled(self.session, observed(track, self.clock.t), settled, 0.01))


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
    gate = DoorGate(cam, liveness_timeout_s=3.0, clock=clock)
    door = await Door(svc, client.id, gate, clock).open()
    await door.faces(1)
    d = await door.result(1, staff)
    assert d is not None and (d.decision, d.reason, d.user_id, d.name, d.door_id) == (
        "granted", "granted", staff, "Staff Member", "D1")
    assert d.payload()["camera_id"] == "c"
    assert await door.result(1, staff) is None  # one decision per track
    await door.faces(2)
    assert await door.result(2, staff) is None  # same person within the cooldown
    clock.t += 11
    await door.faces(3, 4)
    d = await door.result(3, staff)
    assert d is not None and (d.decision, d.reason) == ("denied", "several_faces")
    await door.faces(5)
    d = await door.result(5, guest)
    assert d is not None and (d.decision, d.reason, d.user_id) == ("denied", "not_allowed", guest)
    d = await door.result(6, None, "unknown", "no_match")
    assert d is not None and (d.decision, d.reason, d.user_id) == ("denied", "unknown", None)
    d = await door.result(7, None, "failure", "liveness_failed")
    assert d is not None and d.reason == "liveness_failed"
    # a deactivated user is refused at the door even if the recognition said success
    await svc.users.update(client.id, guest, is_active=False)
    clock.t += 11
    d = await door.result(8, guest)
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
    gate = DoorGate(cam, liveness_timeout_s=3.0, clock=clock)
    door = await Door(svc, client.id, gate, clock).open()
    await door.faces(1)
    d = await door.result(1, user)
    assert d is not None and (d.decision, d.reason) == ("denied", "outside_schedule")
    # a face in view that never proves liveness: denied once after the timeout, reason kept in `pending`
    await door.faces(2)
    await door.liveness(2, False)
    clock.t += 2
    assert await door.faces(2) is None and gate.pending is not None
    assert gate.pending["reason"] == "liveness_pending"
    clock.t += 2
    d = await door.faces(2)
    assert d is not None and (d.decision, d.reason, d.track_id) == ("denied", "liveness_failed", 2)
    assert await door.faces(2) is None and gate.pending["reason"] == "liveness_failed"
    # a new live session (reconnect): its track ids start afresh
    await door.faces(2, session="s2")
    assert gate.pending is not None and gate.pending["reason"] == "liveness_pending"


class _Emitted:
    """Collects what a live session would publish (the door's decisions)."""

    session_id = "s-door"

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, event: AccessDecision) -> None:
        self.events.append((event.kind, event.payload()))


async def test_decisions_are_access_webhook_events_and_audited(face_client: FaceClient) -> None:
    """access.granted / access.denied: outbox rows in the decision's own transaction, one delivery
    per subscribed endpoint, an `access` audit entry, and the live `access_decision` event."""
    http, auth = await face_client(**{"webhooks.worker_enabled": False, "webhooks.allow_private_targets": True})
    client = await http.app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0])
    assert client is not None
    resp = await http.post("/api/webhooks/endpoints/", headers=auth,
                           json={"url": "http://127.0.0.1:9/door", "events": ["access.granted"]})
    assert resp.status == 201, await resp.text()
    staff = await make_user(http, auth, "EMP001", "Staff Member")
    store = CameraStore(http.app[STORE].engine)
    session = _Emitted()
    granted = AccessDecision("c", "D1", "granted", "granted", staff, "Staff Member", 1, "s-door", 0.93, 1_700_000_000.0)
    denied = AccessDecision("c", "D1", "denied", "unknown", None, None, 2, "s-door", None, 1_700_000_001.0)
    for decision in (granted, denied):
        await record_decision(store, client.id, session, decision, http.app[EVENT_SINK])
    assert [(k, p["decision"], p["reason"]) for k, p in session.events] == [
        ("access_decision", "granted", "granted"), ("access_decision", "denied", "unknown")]
    assert [(r.decision, r.reason, r.user_id) for r in await store.decisions(client.id, "c")] == [
        ("denied", "unknown", None), ("granted", "granted", staff)]
    async with http.app[STORE].engine.connect() as conn:
        events = (await conn.execute(sa.select(webhook_events.c.id, webhook_events.c.event_type, webhook_events.c.data)
                                     .where(webhook_events.c.client_id == client.id,
                                            webhook_events.c.event_type.like("access.%"))
                                     .order_by(webhook_events.c.created_at))).all()
        deliveries = (await conn.execute(sa.select(webhook_deliveries.c.event_id)
                                         .where(webhook_deliveries.c.client_id == client.id))).scalars().all()
        audit = (await conn.execute(sa.select(audit_logs.c.event_type, audit_logs.c.outcome)
                                    .where(audit_logs.c.client_id == client.id, audit_logs.c.category == "access")
                                    .order_by(audit_logs.c.id))).all()
    assert sorted(e.event_type for e in events) == ["access.denied", "access.granted"]
    sent = next(e for e in events if e.event_type == "access.granted")
    assert (sent.data["user_id"], sent.data["door_id"], sent.data["session_id"]) == (staff, "D1", "s-door")
    assert deliveries == [sent.id]  # only the subscribed event is queued for the endpoint
    assert [tuple(a) for a in audit] == [("access.granted", "success"), ("access.denied", "failure")]
