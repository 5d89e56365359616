"""The one outbound adapter: a live session's typed events (sessions.live_events) become DESIGN §5
envelopes here, once each, and the same envelope goes to every wire consumer: the session's
data channel (or socket) listeners, the bus (the session's and the client's topics: WebSocket
subscribers), and for a door camera's session the camera's viewers and topic.

Why at the edge (api/ wires it into the session service): below it everything is typed; the
wire format is written in one place (recognition.payloads) and applied in one place (here), so
no layer builds an envelope twice or reads one back.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from events.bus import EventBus
from events.topics import camera_topic, for_session_event
from recognition import payloads
from sessions.live_events import (
    AccessDecision, EnrollmentProgressed, FacesSeen, Listener, LiveEvent, LivenessChanged, SessionFault,
    SessionStatus, TrackSettled,
)

# What a door camera's viewers and its topic carry (no enrollment steps or frame errors).
CAMERA_EVENTS = frozenset({"faces", "liveness_update", "recognition_result", "access_decision", "session_status"})


def live_payload(event: LiveEvent) -> dict[str, Any]:
    """The §5 payload of a typed live event."""
    if isinstance(event, FacesSeen):
        faces = payloads.faces_payload(event.frame_pts, event.size, event.tracks, dict(event.labels), event.left)
        faces.update(processed_frames=event.processed_frames, dropped_frames=event.dropped_frames)
        return faces
    if isinstance(event, LivenessChanged):
        return payloads.liveness_payload(event.liveness)
    if isinstance(event, TrackSettled):
        track, settled = event.track, event.settled
        return payloads.recognition_payload(track.track_id, settled.decision, track.liveness.passed,
                                            track.box.as_list(), event.processing_time, settled.name, event.timings,
                                            settled.attempt_user)
    if isinstance(event, EnrollmentProgressed):
        return payloads.enrollment_payload(event.state, event.step, event.message)
    if isinstance(event, SessionStatus):
        return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    if isinstance(event, SessionFault):
        fault: dict[str, Any] = {"code": event.code, "message": event.message}
        if event.with_details:
            fault["details"] = event.details
        return fault
    if isinstance(event, AccessDecision):
        return event.payload()
    raise TypeError(f"not a live event: {type(event).__name__}")


class EnvelopeOutbound:
    """sessions.live_events.Outbound over the event bus; one per app."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus

    def envelope(self, event: LiveEvent) -> dict[str, Any]:
        return payloads.envelope(event.kind, event.session_id, live_payload(event))

    def live(self, client_id: int, event: LiveEvent, listeners: Sequence[Listener],
             camera_id: str | None = None) -> None:
        message = self.envelope(event)
        if camera_id is None:
            for fn in listeners:
                fn(message)
        elif event.kind in CAMERA_EVENTS:  # a door camera: its viewers and topic get the camera's copy
            tagged = {**message, "camera_id": camera_id}
            for fn in listeners:
                fn(tagged)
            self._bus.publish_nowait([camera_topic(client_id, camera_id)], tagged)
        self._bus.publish_nowait(for_session_event(client_id, event.session_id), message)

    def session_event(self, client_id: int, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        """A REST session's event (enrollment progress, completion): the same envelope, to the bus."""
        self._bus.publish_nowait(for_session_event(client_id, session_id), payloads.envelope(kind, session_id, payload))

    def camera_status(self, client_id: int, camera_id: str, status: dict[str, Any]) -> None:
        """A camera's own status (no live session behind it while it is offline)."""
        self._bus.publish_nowait([camera_topic(client_id, camera_id)],
                                 {"type": "camera_status", "session_id": None, "ts": time.time(), "payload": status})
