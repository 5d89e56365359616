"""Door decisions: a camera's live session settles who a track is (sessions.outcomes.settle, the
same rule as every transport: inactive users are refused there); the door adds who may enter,
when, one person at a time, and how often.

Why a gate over the session's typed events rather than inside the recognizer: the recognition
decision is transport-neutral (sessions.live); the door rules (allowed lists, schedule, cooldown)
are the camera's. The gate reads facts, never the wire format: the track ids and media time of
each frame (`FacesSeen`), each track's liveness (`LivenessChanged`) and the settled decision with
the user row it was checked against (`TrackSettled`), so it never reads the user again. A face
that never proves liveness is timed out on the session's frame clock (the tracker's media
time), the clock liveness itself is judged on; a face MiniFASNet scores as a print or a screen
(`LivenessState.presentation_attack`) is refused at once, whoever it looks like and whether or
not it blinks (a phone replaying a video of an employee blinks).

`record_decision` is the one place a decision leaves the door: the audit row with its
`access.granted` / `access.denied` webhook outbox rows, then the `access_decision` event, published
once on the camera's live session (data channel viewers, WebSocket, bus).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from doors.camera_config import CameraConfig
from doors.schedules import Schedule
from events.outbox import EventSink
from sessions.live_events import AccessDecision, FacesSeen, LiveEvent, LivenessChanged, TrackSettled
from storage.camera_store import AccessRecord, CameraStore
from storage.records import User

log = logging.getLogger(__name__)

GRANTED, DENIED = "granted", "denied"
INACTIVE_USER = "inactive_user"  # the door's reason for a match on a deactivated user (README: door reasons)
REASONS = ("granted", "unknown", "not_allowed", "outside_schedule", "liveness_failed", INACTIVE_USER,
           "several_faces")
# What a liveness_failed rests on (AccessDecision.detail): a presentation attack (MiniFASNet over
# consecutive frames) or no proof of liveness within the camera's liveness timeout.
PRESENTATION_ATTACK, LIVENESS_TIMEOUT = "presentation_attack", "liveness_timeout"
__all__ = ["LIVENESS_TIMEOUT", "PRESENTATION_ATTACK", "AccessDecision", "DoorGate", "Publisher", "REASONS",
           "is_allowed", "record_decision"]


class Publisher(Protocol):
    """Where a decision is published: the camera's live session (sessions.live.LiveSession)."""

    def publish(self, event: AccessDecision) -> None: ...


def is_allowed(camera: CameraConfig, user: User) -> bool:
    """Both lists empty: every active user of the client. Otherwise listed by id or external id,
    or a member of a listed group (user metadata `groups`, a list of names, or `group`)."""
    if not camera.allowed_users and not camera.allowed_groups:
        return True
    if user.id in camera.allowed_users or user.external_id in camera.allowed_users:
        return True
    groups = user.metadata.get("groups") or []
    if isinstance(groups, str):
        groups = [groups]
    if isinstance(user.metadata.get("group"), str):
        groups = [*groups, user.metadata["group"]]
    return any(g in camera.allowed_groups for g in groups)


class DoorGate:
    """One camera's door rules over its live sessions' events, consumed one at a time by the
    camera's decision task. Cooldown: one decision per person (per track for faces without a
    name) within `cooldown_s` of `clock` (wall time: it spans reconnects, whose media clocks
    start afresh); a track is decided at most once per live session."""

    def __init__(self, camera: CameraConfig, liveness_timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.camera = camera
        self.schedule = Schedule.parse(camera.schedule, camera.timezone)
        self.liveness_timeout_s = liveness_timeout_s
        self.pending: dict[str, Any] | None = None  # what the door waits for (status)
        self._clock = clock
        self._last: dict[str, float] = {}
        self._session: str | None = None
        self._first_seen: dict[int, float] = {}  # media time a track was first in view
        self._live: dict[int, bool] = {}
        self._decided: set[int] = set()  # tracks with a recognition decision
        self._timed_out: set[int] = set()  # tracks denied for not proving liveness in time (may still pass later)
        self._faces = 0

    def handle(self, event: LiveEvent) -> AccessDecision | None:
        """One event of the camera's live session, in order; a decision to record, or None. No I/O:
        everything the door's rules need came with the events."""
        if event.session_id != self._session:  # a new live session (reconnect, rollover): its track ids start afresh
            self._session, self._first_seen, self._live, self._decided, self._timed_out = (
                event.session_id, {}, {}, set(), set())
        if isinstance(event, FacesSeen):
            return self._seen(event)
        if isinstance(event, LivenessChanged):
            self._live[event.track_id] = event.passed
            return self._attack(event)
        if isinstance(event, TrackSettled):
            return self._settled(event)
        return None

    def _seen(self, event: FacesSeen) -> AccessDecision | None:
        ids = event.track_ids
        self._faces = len(ids)
        for tid in ids:
            self._first_seen.setdefault(tid, event.t)
        if not self.camera.require_liveness:
            return None
        waiting = [t for t in ids if t not in self._decided and not self._live.get(t, False)]
        self.pending = None
        if waiting:
            tid = waiting[0]
            self.pending = {"reason": "liveness_failed" if tid in self._timed_out else "liveness_pending",
                            "track_id": tid, "waiting_s": round(event.t - self._first_seen[tid], 2)}
        for tid in waiting:
            if tid not in self._timed_out and event.t - self._first_seen[tid] >= self.liveness_timeout_s:
                self._timed_out.add(tid)
                return self._decide(event.session_id, DENIED, "liveness_failed", None, None, tid, None,
                                    LIVENESS_TIMEOUT)
        return None

    def _attack(self, event: LivenessChanged) -> AccessDecision | None:
        """A print or a screen: refused now (a recognised face too), and the track is decided."""
        tid = event.track_id
        if not self.camera.require_liveness or not event.liveness.presentation_attack or tid in self._decided:
            return None
        self._decided.add(tid)
        if tid in self._timed_out:  # its timeout denial was this track's: the attack is the stronger reason
            self._last.pop(f"{event.session_id}:track:{tid}", None)
        return self._decide(event.session_id, DENIED, "liveness_failed", None, None, tid, None, PRESENTATION_ATTACK)

    def _settled(self, event: TrackSettled) -> AccessDecision | None:
        tid = event.track_id
        if tid in self._decided:
            return None
        self._decided.add(tid)
        sid, settled = event.session_id, event.settled
        decision, user = settled.decision, settled.user
        conf = decision.confidence
        if decision.status == "success" and user is not None:  # settle refused inactive users already
            if not is_allowed(self.camera, user):
                return self._decide(sid, DENIED, "not_allowed", user.id, user.name, tid, conf)
            if not self.schedule.is_open(datetime.now(timezone.utc)):
                return self._decide(sid, DENIED, "outside_schedule", user.id, user.name, tid, conf)
            if self.camera.one_person and self._faces > 1:
                return self._decide(sid, DENIED, "several_faces", user.id, user.name, tid, conf)
            return self._decide(sid, GRANTED, "granted", user.id, user.name, tid, conf)
        if settled.user_inactive:
            return self._decide(sid, DENIED, INACTIVE_USER, decision.user_id, None, tid, conf)
        if decision.reason == "liveness_failed":
            return self._decide(sid, DENIED, "liveness_failed", decision.user_id, None, tid, conf)
        return self._decide(sid, DENIED, "unknown", None, None, tid, conf)

    def _decide(self, sid: str, decision: str, reason: str, user_id: str | None, name: str | None,
                tid: int | None, conf: float | None, detail: str | None = None) -> AccessDecision | None:
        now = self._clock()
        key = user_id or f"{sid}:track:{tid}"
        last = self._last.get(key)
        if last is not None and now - last < self.camera.cooldown_s:
            return None
        self._last[key] = now
        if len(self._last) > 1000:  # forget people whose cooldown is long over
            self._last = {k: v for k, v in self._last.items() if now - v < self.camera.cooldown_s}
        return AccessDecision(self.camera.id, self.camera.door_id, decision, reason, user_id, name, tid, sid, conf,
                              time.time(), detail)


async def record_decision(store: CameraStore, client_id: int, session: Publisher, decision: AccessDecision,
                          events: EventSink | None = None) -> None:
    """The audit row with its `access.granted` / `access.denied` webhook event (one transaction),
    then the `access_decision` event, published once; a failed write is logged and the event still
    goes out (the door must not stay shut because the audit database hiccuped)."""
    after = None
    if events is not None:
        data = {**decision.payload(), "session_id": decision.session_id,
                "timestamp": datetime.fromtimestamp(decision.ts, timezone.utc).isoformat()}
        after = events.hook(client_id, f"access.{decision.decision}", data)
    try:
        await store.record_decision(AccessRecord(
            client_id, decision.camera_id, decision.door_id, decision.decision, decision.reason, decision.user_id,
            decision.track_id, decision.session_id, decision.confidence,
            datetime.fromtimestamp(decision.ts, timezone.utc)), after=after)
        if events is not None:
            events.wake()
    except Exception:
        log.exception("camera %s: could not record access decision", decision.camera_id)
    session.publish(decision)
    log.info("camera %s door %s: %s (%s) user %s track %s", decision.camera_id, decision.door_id,
             decision.decision, decision.reason, decision.user_id, decision.track_id)
