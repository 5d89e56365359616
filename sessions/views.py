"""Response bodies of the session endpoints, in the seeds' shapes.

Where the seeds disagree on a field's form (API_INTEGRATION_GUIDE.md's `result: "success"` vs
api_integration_guide.md's `result: {authenticated, ...}`), the more complete document wins
(`result` is the object) and the other's fields that can coexist (`success`, `session_status`,
`matched_user`, `similarity_score`, `liveness_verified`, `message`) are served beside it.
`/api/auth/process-image/`, the path only API_INTEGRATION_GUIDE.md uses, reshapes these bodies
into that guide's form at the edge (api.auth_session_routes.image_answer).
"""

from __future__ import annotations

from typing import Any

from engine.liveness import LivenessState
from recognition.authentication import AuthFrame, AuthState
from recognition.enrollment import EnrollFrame, EnrollmentState
from storage.session_store import ACTIVE, SessionRecord, now_utc
from recognition.decision import Decision, confidence_of
from recognition.payloads import challenge_fields
from storage.timestamps import iso_seconds


def liveness_data(state: LivenessState | None) -> dict[str, Any]:
    if state is None:
        return {"blinks_detected": 0, "blink_detected": False, "head_movement": 0.0, "nonrigid_events": 0,
                "static_detection": True, "liveness_score": 0.0, "passed": False, **challenge_fields(None)}
    return {"blinks_detected": state.blink_count, "blink_detected": state.blink_detected,
            "head_movement": state.head_movement, "nonrigid_events": state.nonrigid_events,
            "static_detection": state.static, "liveness_score": state.liveness_score, "passed": state.passed,
            **challenge_fields(state)}


def enrollment_frame(row: SessionRecord, state: EnrollmentState, frame: EnrollFrame, status: str) -> dict[str, Any]:
    target = state.params.target_samples
    done = min(len(state.samples), target)
    completed = status == "completed"
    # `guidance_enabled: false` (user_guide.md's mobile option): the app draws its own guides, so
    # the frame says only what happened (feedback.code), never what to do.
    guided = row.params.get("guidance_enabled", True) is not False
    feedback = frame.feedback.as_dict() if guided else {"code": frame.feedback.code, "message": None,
                                                         "suggestions": []}
    return {
        "success": True,
        "session_id": row.id,
        "session_status": status,
        # The documents' clients wait for these: `ready_to_complete` (React example) when every
        # requirement is met and the session waits for complete/ (auto_complete off).
        "status": "completed" if completed else ("ready_to_complete" if state.ready else "processing"),
        "frame_accepted": frame.accepted,
        "face_detected": frame.faces > 0,
        "faces_detected": frame.faces,
        "quality_score": frame.quality.score if frame.quality else 0.0,
        "obstacles": list(frame.quality.obstacles) if frame.quality else ["no_face"],
        "feedback": feedback,
        "guidance_enabled": guided,
        "completed_samples": done,
        "target_samples": target,
        "enrollment_progress": round(100.0 * done / target, 1),
        "progress": {"current": done, "required": target, "angles_captured": state.angles},
        "angles_captured": state.angles,
        "angles_required": list(state.params.required_angles),
        "requires_more_frames": not (completed or state.ready),
        "ready_to_complete": state.ready,
        "liveness_data": liveness_data(state.liveness),
        **challenge_fields(state.liveness),
        "liveness_verified": state.liveness_verified,
        "enrollment_complete": completed,
        "message": "Enrollment completed successfully." if completed else
        frame.feedback.message if guided else "Frame processed.",
    }


def status_of(row: SessionRecord) -> str:
    """Expired rows read as expired even before the cleanup task has marked them."""
    if row.status in ACTIVE and row.expires_at <= now_utc():
        return "expired"
    return row.status


def enrollment_session(row: SessionRecord) -> dict[str, Any]:
    p = row.params
    return {
        "session_id": row.id,
        "enrollment_id": row.id,
        "user_id": row.user_id,
        "session_type": row.session_type,
        "status": status_of(row),
        "target_samples": p.get("target_samples"),
        "quality_threshold": p.get("quality_threshold"),
        "require_multiple_angles": p.get("require_multiple_angles"),
        "require_liveness": p.get("require_liveness"),
        "guidance_enabled": p.get("guidance_enabled", True) is not False,
        "metadata": p.get("metadata") or {},
        "frames_processed": row.frames_processed,
        "created_at": iso_seconds(row.created_at),
        "expires_at": iso_seconds(row.expires_at),
        "completed_at": iso_seconds(row.completed_at) if row.completed_at else None,
        "result": row.result,
    }


def decision_result(state: AuthState, frame: AuthFrame, decision: Decision, name: str | None) -> dict[str, Any]:
    p = state.params
    track = frame.track
    live = track.liveness if track else None
    authenticated = decision.status == "success"
    # A failed or unknown decision lists no candidates (recognition.payloads: failures name nobody).
    kept = [m for m in decision.matches
            if confidence_of(m.distance, state.threshold) >= p.search_threshold][: p.max_results] if authenticated else []
    matches = [
        {"user_id": m.user_id, "name": m.name, "confidence": confidence_of(m.distance, state.threshold),
         "similarity": round(m.similarity, 4)}
        for m in kept
    ]
    return {
        "authenticated": authenticated,
        "status": decision.status,
        "reason": decision.reason,
        "confidence": decision.confidence,
        "distance": None if decision.distance is None else round(decision.distance, 4),
        "user_id": decision.user_id if authenticated or p.mode == "verification" else None,
        "user_name": name if authenticated else None,
        "liveness_score": live.liveness_score if live else 0.0,
        "liveness_verified": bool(live and live.passed),
        "quality_score": track.quality.score if track else 0.0,
        "matches": matches,
    }


def auth_session(row: SessionRecord) -> dict[str, Any]:
    p = row.params
    return {
        "session_id": row.id,
        "session_type": row.mode,
        "capture_type": row.session_type,
        "mode": row.mode,
        "user_id": row.user_id,
        "status": status_of(row),
        "require_liveness": p.get("require_liveness"),
        "liveness_threshold": p.get("liveness_threshold"),
        "confidence_threshold": p.get("confidence_threshold"),
        "search_threshold": p.get("search_threshold"),
        "max_results": p.get("max_results"),
        "metadata": p.get("metadata") or {},
        "frames_processed": row.frames_processed,
        "failed_attempts": row.failed_attempts,
        "created_at": iso_seconds(row.created_at),
        "expires_at": iso_seconds(row.expires_at),
        "completed_at": iso_seconds(row.completed_at) if row.completed_at else None,
        "result": row.result,
    }
