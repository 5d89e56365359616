"""Door decisions: a camera's live session says who a track is (recognition_result, the same
rule as every transport); the door adds who may enter, when, one person at a time, and how often.

Why a separate gate over the session's events rather than inside the recognizer: the recognition
decision is transport-neutral (sessions.live); the door rules (allowed lists, schedule, cooldown)
are the camera's, and the gate never needs to know which liveness policy the session runs.

`record_decision` is the one place a decision leaves the door: the audit row, then the
`access_decision` event (data channel viewers, WebSocket, bus). Webhook outbox rows
(`access.granted` / `access.denied`) belong there too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from events.outbox import EventSink
from sessions.camera_config import CameraConfig
from sessions.door_schedule import Schedule
from sessions.service import SessionServices
from storage.camera_store import AccessRecord, CameraStore
from storage.records import User

log = logging.getLogger(__name__)

GRANTED, DENIED = "granted", "denied"
REASONS = ("granted", "unknown", "not_allowed", "outside_schedule", "liveness_failed", "inactive_user",
           "several_faces")


@dataclass(frozen=True)
class AccessDecision:
    camera_id: str
    door_id: str
    decision: str  # granted | denied
    reason: str  # granted, or why not (REASONS)
    user_id: str | None
    name: str | None
    track_id: int | None
    session_id: str
    confidence: float | None
    ts: float

    def payload(self) -> dict[str, Any]:
        return {"camera_id": self.camera_id, "door_id": self.door_id, "decision": self.decision,
                "reason": self.reason, "user_id": self.user_id, "name": self.name, "track_id": self.track_id,
                "confidence": self.confidence, "ts": self.ts}


class Emitter(Protocol):
    session_id: str

    def emit(self, kind: str, payload: dict[str, Any]) -> None: ...


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
    """One camera's door rules over its live session's events, consumed one at a time by the
    camera's decision task. Cooldown: one decision per person (per track for faces without a
    name) within `cooldown_s`; a track is decided at most once per live session."""

    def __init__(self, svc: SessionServices, camera: CameraConfig, liveness_timeout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.svc = svc
        self.camera = camera
        self.schedule = Schedule.parse(camera.schedule, camera.timezone)
        self.liveness_timeout_s = liveness_timeout_s
        self.pending: dict[str, Any] | None = None  # what the door waits for (status)
        self._clock = clock
        self._last: dict[str, float] = {}
        self._session: str | None = None
        self._first_seen: dict[int, float] = {}
        self._live: dict[int, bool] = {}
        self._decided: set[int] = set()  # tracks with a recognition decision
        self._timed_out: set[int] = set()  # tracks denied for not proving liveness in time (may still pass later)
        self._faces = 0

    async def handle(self, message: dict[str, Any]) -> AccessDecision | None:
        kind, payload, sid = message.get("type"), message.get("payload") or {}, str(message.get("session_id"))
        if sid != self._session:  # a new live session (reconnect, rollover): its track ids start afresh
            self._session, self._first_seen, self._live, self._decided, self._timed_out = sid, {}, {}, set(), set()
        now = self._clock()
        if kind == "faces":
            ids = [f["track_id"] for f in payload.get("faces", [])]
            self._faces = len(ids)
            for tid in ids:
                self._first_seen.setdefault(tid, now)
            return self._liveness_timeout(sid, ids, now)
        if kind == "liveness_update":
            self._live[payload["track_id"]] = bool(payload.get("passed"))
            return None
        if kind == "recognition_result":
            return await self._recognised(sid, payload, now)
        return None

    def _liveness_timeout(self, sid: str, ids: list[int], now: float) -> AccessDecision | None:
        if not self.camera.require_liveness:
            return None
        waiting = [t for t in ids if t not in self._decided and not self._live.get(t, False)]
        self.pending = None
        if waiting:
            tid = waiting[0]
            self.pending = {"reason": "liveness_failed" if tid in self._timed_out else "liveness_pending",
                            "track_id": tid, "waiting_s": round(now - self._first_seen[tid], 2)}
        for tid in waiting:
            if tid not in self._timed_out and now - self._first_seen[tid] >= self.liveness_timeout_s:
                self._timed_out.add(tid)
                return self._decide(sid, DENIED, "liveness_failed", None, None, tid, None, now)
        return None

    async def _recognised(self, sid: str, p: dict[str, Any], now: float) -> AccessDecision | None:
        tid = p.get("track_id")
        if tid in self._decided:
            return None
        self._decided.add(tid)
        status, reason, user_id = p.get("status"), p.get("reason"), p.get("user_id")
        conf = p.get("confidence")
        if status == "success" and user_id:
            user = await self.svc.users.get(self.svc_client, user_id)
            if user is None or not user.is_active:
                return self._decide(sid, DENIED, "inactive_user", user_id, None, tid, conf, now)
            if not is_allowed(self.camera, user):
                return self._decide(sid, DENIED, "not_allowed", user.id, user.name, tid, conf, now)
            if not self.schedule.is_open(datetime.now(timezone.utc)):
                return self._decide(sid, DENIED, "outside_schedule", user.id, user.name, tid, conf, now)
            if self.camera.one_person and self._faces > 1:
                return self._decide(sid, DENIED, "several_faces", user.id, user.name, tid, conf, now)
            return self._decide(sid, GRANTED, "granted", user.id, user.name, tid, conf, now)
        if reason == "user_inactive":
            return self._decide(sid, DENIED, "inactive_user", user_id, None, tid, conf, now)
        if reason == "liveness_failed":
            return self._decide(sid, DENIED, "liveness_failed", user_id, None, tid, conf, now)
        return self._decide(sid, DENIED, "unknown", None, None, tid, conf, now)

    @property
    def svc_client(self) -> int:
        return self.camera.client_id

    def _decide(self, sid: str, decision: str, reason: str, user_id: str | None, name: str | None,
                tid: int | None, conf: float | None, now: float) -> AccessDecision | None:
        key = user_id or f"{sid}:track:{tid}"
        last = self._last.get(key)
        if last is not None and now - last < self.camera.cooldown_s:
            return None
        self._last[key] = now
        if len(self._last) > 1000:  # forget people whose cooldown is long over
            self._last = {k: v for k, v in self._last.items() if now - v < self.camera.cooldown_s}
        return AccessDecision(self.camera.id, self.camera.door_id, decision, reason, user_id, name, tid, sid, conf,
                              time.time())


async def record_decision(store: CameraStore, client_id: int, session: Emitter, decision: AccessDecision,
                          events: EventSink | None = None) -> None:
    """The audit row with its `access.granted` / `access.denied` webhook event (one transaction),
    then the `access_decision` event; a failed write is logged and the event still goes out (the
    door must not stay shut because the audit database hiccuped)."""
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
    session.emit("access_decision", decision.payload())
    log.info("camera %s door %s: %s (%s) user %s track %s", decision.camera_id, decision.door_id,
             decision.decision, decision.reason, decision.user_id, decision.track_id)
