"""What a live session says, as typed values: faces seen, liveness changed, a track settled,
enrollment progress, session status, an error, an access decision.

Why typed and not envelopes: consumers inside the server (the door gate) need facts (the track
ids of a frame, the settled decision and the user row it was checked against), not the wire
format; reading a serialized envelope back is parsing our own output. The envelope of DESIGN §5
is built once per event, at the edge, by the one `Outbound` adapter (api/ wires it) for the data
channel, the WebSocket and the bus. Nothing here serialises.

An event may hold a reference to mutable session state (enrollment): the adapter serialises it
synchronously, inside `LiveSession.publish`, before the next frame changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from engine.liveness import LivenessState
from recognition.enrollment import EnrollFrame, EnrollmentState
from recognition.processor import TrackObservation
from sessions.settled import Settled

Listener = Callable[[dict[str, Any]], None]  # a wire consumer (data channel, socket): gets the §5 envelope


@dataclass(frozen=True)
class FacesSeen:
    """One processed frame's tracks (the overlay). `t`: the frame's media time on the session's
    frame clock, the clock liveness is judged on."""

    kind: ClassVar[str] = "faces"
    session_id: str
    t: float
    frame_pts: int | None
    size: tuple[int, int]
    tracks: tuple[TrackObservation, ...]
    labels: Mapping[int, str]  # a copy: names (or statuses) of settled tracks, for the overlay
    left: tuple[int, ...]  # tracks that ended on this frame
    processed_frames: int
    dropped_frames: int

    @property
    def track_ids(self) -> tuple[int, ...]:
        return tuple(t.track_id for t in self.tracks)


@dataclass(frozen=True)
class LivenessChanged:
    kind: ClassVar[str] = "liveness_update"
    session_id: str
    liveness: LivenessState

    @property
    def track_id(self) -> int:
        return self.liveness.track_id

    @property
    def passed(self) -> bool:
        return self.liveness.passed


@dataclass(frozen=True)
class TrackSettled:
    """A track's decision made final by sessions.outcomes.settle: `settled.user` is the user row
    it was checked against (None unless the match named an existing user)."""

    kind: ClassVar[str] = "recognition_result"
    session_id: str
    track: TrackObservation
    settled: Settled
    processing_time: float
    timings: dict[str, float | None] | None = None

    @property
    def track_id(self) -> int:
        return self.track.track_id


@dataclass(frozen=True)
class EnrollmentProgressed:
    kind: ClassVar[str] = "enrollment_progress"
    session_id: str
    state: EnrollmentState
    step: EnrollFrame | None
    message: str | None = None


@dataclass(frozen=True)
class SessionStatus:
    """`session_status`, and the live part of a session's REST view."""

    kind: ClassVar[str] = "session_status"
    session_id: str
    status: str
    expires_in: int
    frame_count: int
    processed_frames: int
    processed_fps: float
    dropped_frames: int
    close_reason: str | None
    result: dict[str, Any] | None


@dataclass(frozen=True)
class SessionFault:
    """An `error` event: the frame or the session could not be processed (the code says why)."""

    kind: ClassVar[str] = "error"
    session_id: str
    code: str
    message: str
    details: dict[str, Any] | None = None
    with_details: bool = False  # the event carries `details` (even when None)


@dataclass(frozen=True)
class AccessDecision:
    """A door's decision over one track (doors.gate): published on the camera's live session."""

    kind: ClassVar[str] = "access_decision"
    camera_id: str
    door_id: str
    decision: str  # granted | denied
    reason: str  # granted, or why not (doors.gate.REASONS)
    user_id: str | None
    name: str | None
    track_id: int | None
    session_id: str
    confidence: float | None
    ts: float
    detail: str | None = None  # what the reason rests on, e.g. liveness_failed: presentation_attack

    def payload(self) -> dict[str, Any]:
        """The decision's fields as the door reports them (event, status, webhook data)."""
        return {"camera_id": self.camera_id, "door_id": self.door_id, "decision": self.decision,
                "reason": self.reason, "detail": self.detail, "user_id": self.user_id, "name": self.name,
                "track_id": self.track_id, "confidence": self.confidence, "ts": self.ts}


LiveEvent = (FacesSeen | LivenessChanged | TrackSettled | EnrollmentProgressed | SessionStatus | SessionFault
             | AccessDecision)
Subscriber = Callable[[LiveEvent], None]


class Outbound(Protocol):
    """The edge that turns typed events into §5 envelopes, once each, and delivers them: to the
    session's wire listeners, the bus (session and client topics) and, for a camera, its topic.
    REST sessions' events (`session_event`) take the same road."""

    def live(self, client_id: int, event: LiveEvent, listeners: Sequence[Listener],
             camera_id: str | None = None) -> None:
        """`camera_id`: a door camera's session; its viewers (`listeners`) and the camera's topic
        get the camera's copy."""

    def envelope(self, event: LiveEvent) -> dict[str, Any]:
        """The §5 envelope of one event, for a transport's own channel only (not the bus)."""

    def session_event(self, client_id: int, session_id: str, kind: str, payload: dict[str, Any]) -> None: ...
