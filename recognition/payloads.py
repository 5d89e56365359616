"""Event envelopes and payloads of DESIGN §5, built from typed results in one place so the data
channel, the WebSocket and webhooks carry identical data."""

from __future__ import annotations

import time
from typing import Any

from engine.liveness import LivenessState
from recognition.decision import Decision
from recognition.enrollment import EnrollFrame, EnrollmentState
from recognition.processor import TrackObservation


def envelope(kind: str, session_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "session_id": session_id, "ts": time.time(), "payload": payload}


def faces_payload(
    frame_pts: int | None, size: tuple[int, int], tracks: tuple[TrackObservation, ...], labels: dict[int, str],
    left: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Boxes are in the pixels of the frame the server decoded; its size lets an overlay scale
    them onto a video element of any size. `left` names the tracks that ended on this frame (the
    face left, or another person took its place), so a client forgets their boxes and names."""
    return {
        "frame_pts": frame_pts,
        "frame_width": size[0],
        "frame_height": size[1],
        "faces": [
            {
                "track_id": tr.track_id,
                "box": tr.box.as_list(),
                "quality": round(tr.quality.score, 3),
                "label": labels.get(tr.track_id, ""),
            }
            for tr in tracks
        ],
        "left": list(left),
    }


def challenge_fields(state: LivenessState | None) -> dict[str, Any]:
    """The current challenge prompt: the same fields in `liveness_update` and in REST frame
    responses, so every client can show and answer it. `challenge` is the seeds' code
    ("please_blink"), `challenge_text` what to show the person, `challenge_deadline_s` the seconds
    left to answer (from this frame), `challenge_expires_at` the deadline in the session's media
    time (the frames' timestamps)."""
    ch = state.challenge if state else None
    return {"challenge": ch.prompt if ch else None,
            "challenge_kind": ch.kind if ch else None,
            "challenge_text": ch.text if ch else None,
            "challenge_expires_at": round(ch.expires_at, 3) if ch else None,
            "challenge_deadline_s": state.challenge_time_left if state else None,
            "challenges_completed": list(state.challenges_completed) if state else [],
            "challenges_required": state.challenges_required if state else 0,
            "challenges_failed": state.challenges_failed if state else 0,
            "challenge_sequence_failed": state.sequence_failed if state else False}


def liveness_payload(state: LivenessState) -> dict[str, Any]:
    return {
        "track_id": state.track_id,
        "blink_detected": state.blink_detected,
        "blink_count": state.blink_count,
        "head_movement": state.head_movement,
        "nonrigid_motion": state.nonrigid_residual,
        "static_detection": state.static,
        "liveness_score": state.liveness_score,
        "liveness_policy": state.policy,
        # each signal's evidence (0..1) behind liveness_score: blink, nonrigid, challenges, pad
        "signals": dict(state.signals),
        "nonrigid_events": state.nonrigid_events,
        "eye_closure": state.eye_closure,
        "smile": state.smile,
        "pad_score": state.pad_real,
        **challenge_fields(state),
        "passed": state.passed,
    }


def recognition_payload(
    track_id: int, decision: Decision, live: bool, box: list[float] | None, processing_time: float,
    name: str | None = None, timings: dict[str, float | None] | None = None, claimed: str | None = None,
) -> dict[str, Any]:
    """`name` is the user's current name when the decision was settled as a success; `timings`
    the milliseconds per stage of the deciding frame (engine/timings.py); `claimed` the user a
    verification named (its failure still says whom it was about: the caller's own claim).

    Why a failure or an unknown face names nobody (no user_id, name or matches): the nearest
    enrolled person of an unknown face, or the person a spoof resembled, is exactly what an
    attacker probing the gallery wants; candidates are shown only for a success."""
    extra = {} if timings is None else {"timings": timings}
    success = decision.status == "success"
    return {
        "track_id": track_id,
        "status": decision.status,
        "reason": decision.reason,
        "user_id": decision.user_id if success else claimed,
        "name": name if success else None,
        "confidence": decision.confidence,
        "distance": None if decision.distance is None else round(decision.distance, 4),
        "matches": [
            {"user_id": m.user_id, "name": m.name, "confidence": round(max(0.0, m.similarity), 4)}
            for m in decision.matches
        ] if success else [],
        "liveness_verified": live,
        "box": box,
        "processing_time": round(processing_time, 4),
        **extra,
    }


def enrollment_payload(state: EnrollmentState, frame: EnrollFrame | None, message: str | None = None) -> dict[str, Any]:
    """`enrollment_progress`: the same payload whether frames came over REST, WebRTC or a socket."""
    target = state.params.target_samples
    feedback = frame.feedback.as_dict() if frame else {"code": None, "message": "", "suggestions": []}
    if message is not None:
        feedback = {**feedback, "message": message}
    return {
        "track_id": state.track_id,
        "completed_samples": min(len(state.samples), target),
        "target_samples": target,
        "angles_captured": state.angles,
        "quality_score": round(frame.quality.score, 3) if frame and frame.quality else 0.0,
        "liveness_verified": state.liveness_verified,
        "feedback": feedback,
    }
