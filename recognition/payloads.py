"""Event envelopes and payloads of DESIGN §5, built from typed results in one place so the data
channel, the WebSocket and webhooks carry identical data."""

from __future__ import annotations

import time
from typing import Any

from engine.liveness import LivenessState
from recognition.decision import Decision
from recognition.processor import TrackObservation


def envelope(kind: str, session_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "session_id": session_id, "ts": time.time(), "payload": payload}


def faces_payload(
    frame_pts: int | None, size: tuple[int, int], tracks: tuple[TrackObservation, ...], labels: dict[int, str]
) -> dict[str, Any]:
    """Boxes are in the pixels of the frame the server decoded; its size lets an overlay scale
    them onto a video element of any size."""
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
    }


def liveness_payload(state: LivenessState) -> dict[str, Any]:
    ch = state.challenge
    return {
        "track_id": state.track_id,
        "blink_detected": state.blink_detected,
        "blink_count": state.blink_count,
        "head_movement": state.head_movement,
        "nonrigid_motion": state.nonrigid_residual,
        "static_detection": state.static,
        "liveness_score": state.liveness_score,
        "challenge": ch.prompt if ch else None,
        "challenge_expires_at": ch.expires_at if ch else None,
        "challenges_completed": list(state.challenges_completed),
        "passed": state.passed,
    }


def recognition_payload(
    track_id: int, decision: Decision, live: bool, box: list[float] | None, processing_time: float
) -> dict[str, Any]:
    return {
        "track_id": track_id,
        "status": decision.status,
        "reason": decision.reason,
        "user_id": decision.user_id,
        "name": decision.name,
        "confidence": decision.confidence,
        "distance": None if decision.distance is None else round(decision.distance, 4),
        "matches": [
            {"user_id": m.user_id, "name": m.name, "confidence": round(max(0.0, m.similarity), 4)}
            for m in decision.matches
        ],
        "liveness_verified": live,
        "box": box,
        "processing_time": round(processing_time, 4),
    }


ENROLLMENT_HINTS = {
    "face_too_small": "Move closer to the camera",
    "too_dark": "Find better lighting",
    "too_bright": "Avoid strong light behind or on your face",
    "blurry": "Hold still",
    "extreme_pose": "Face the camera",
    "multiple_faces": "Only one person should be in view",
}


def enrollment_payload(obs: TrackObservation | None, target: int, message: str) -> dict[str, Any]:
    obstacles = obs.quality.obstacles if obs else ("no_face",)
    return {
        "track_id": obs.track_id if obs else None,
        "completed_samples": min(obs.samples, target) if obs else 0,
        "target_samples": target,
        "angles_captured": list(obs.angles) if obs else [],
        "quality_score": round(obs.mean_quality, 3) if obs else 0.0,
        "feedback": {
            "message": message,
            "suggestions": [ENROLLMENT_HINTS.get(o, "Look at the camera") for o in obstacles],
        },
    }
