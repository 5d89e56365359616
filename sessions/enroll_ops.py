"""Enrollment frames and completion: the template goes to the client's gallery (tenant 0).

Why the duplicate check: a face enrolled under two user ids of one client makes every later
identification ambiguous and lets one person act as another; it is refused by default
(`sessions.reject_duplicate_faces`).
"""

from __future__ import annotations

import logging
from typing import Any

from engine.face_engine import FaceEngine
from sessions import views
from recognition.enrollment import EnrollmentState
from recognition.feedback import quality_feedback
from sessions.service import TENANT_ID, SessionError, SessionServices
from engine.types import Sample
from storage.session_store import SessionRecord, now_utc

log = logging.getLogger(__name__)


def _step(engine: FaceEngine, state: EnrollmentState, data: bytes, t: float) -> Any:
    return state.process(engine.decode(data).pixels, t)


async def process_frame(svc: SessionServices, row: SessionRecord, state: EnrollmentState, data: bytes,
                        client_ts: float | None) -> dict[str, Any]:
    async with state.lock:
        t = state.clock.next(client_ts)
        frame = await svc.run(_step, svc.engine, state, data, t)  # decode errors propagate: the session survives
        await svc.store.update(row.id, status="in_progress", frames_processed=state.frames)
        status = "ready" if state.ready else "in_progress"
        body = views.enrollment_frame(row, state, frame, status)
        svc.emit(row.client_id, row.id, "enrollment_progress", {
            "completed_samples": body["completed_samples"], "target_samples": body["target_samples"],
            "angles_captured": state.angles, "quality_score": body["quality_score"],
            "feedback": {"message": frame.feedback.message, "suggestions": list(frame.feedback.suggestions)},
        })
        if state.ready and state.params.auto_complete:
            completion = await _complete_locked(svc, row, state)
            body = views.enrollment_frame(row, state, frame, "completed")
            body["enrollment"] = completion
            body["enrollment_id"] = completion["enrollment_id"]
        elif state.ready:
            await svc.store.update(row.id, status="ready")
        return body


async def complete(svc: SessionServices, row: SessionRecord, state: EnrollmentState | None) -> dict[str, Any]:
    if state is None:  # already completed: completing again answers the same enrollment
        assert row.result is not None
        return dict(row.result)
    async with state.lock:
        fresh = await svc.store.by_id(row.client_id, row.id)
        if fresh is not None and fresh.status == "completed" and fresh.result is not None:
            return dict(fresh.result)
        return await _complete_locked(svc, row, state)


async def _complete_locked(svc: SessionServices, row: SessionRecord, state: EnrollmentState) -> dict[str, Any]:
    p = state.params
    if not state.samples_done or state.missing_angles:
        raise SessionError("INSUFFICIENT_QUALITY", "Not enough good-quality frames yet", {
            "completed_samples": len(state.samples), "target_samples": p.target_samples,
            "angles_captured": state.angles, "angles_missing": state.missing_angles,
        })
    if p.require_liveness and not state.liveness_verified:
        svc.emit(row.client_id, row.id, "liveness.failed", {"session_id": row.id, "user_id": p.user_id})
        raise SessionError("LIVENESS_CHECK_FAILED", "Liveness was not verified for this face",
                           {"liveness": views.liveness_data(state.liveness)})
    user = await svc.active_user(row.client_id, p.user_id)
    template = state.template()
    await check_duplicate(svc, row.client_id, p.user_id, template)
    entry_id = await svc.store.store_enrollment(
        client_id=row.client_id, tenant_id=TENANT_ID, user_id=p.user_id, name=user.name, session_id=row.id,
        samples=list(state.samples), template=template, replace=svc.settings.replace_existing,
    )
    await svc.galleries.invalidate(row.client_id, TENANT_ID)
    result = completion_body(row.id, p.user_id, user.name, state.samples, entry_id, state.liveness_verified,
                             state.liveness.liveness_score if state.liveness else 0.0)
    await svc.store.update(row.id, status="completed", completed_at=now_utc(), result=result,
                           frames_processed=state.frames)
    svc.live.discard(row.id)
    svc.emit(row.client_id, row.id, "enrollment.completed", result)
    log.info("enrollment %s completed for user %s (%d samples)", row.id, p.user_id, len(state.samples))
    return result


async def check_duplicate(svc: SessionServices, client_id: int, user_id: str, template: Sample) -> None:
    if not svc.settings.reject_duplicate_faces:
        return
    gallery = await svc.galleries.gallery(client_id, TENANT_ID)
    for match in gallery.search(template.embedding, svc.top_k + 1):
        if match.user_id != user_id and match.distance < svc.threshold:
            raise SessionError("FACE_ALREADY_ENROLLED", "This face is already enrolled to another user", {
                "existing_user_id": match.user_id, "distance": round(match.distance, 4),
                "threshold": svc.threshold,
            })


def completion_body(enrollment_id: str, user_id: str, name: str, samples: list[Sample], entry_id: int,
                    liveness_verified: bool, liveness_score: float) -> dict[str, Any]:
    qualities = [s.quality for s in samples]
    angles = sorted({s.angle for s in samples if s.angle})
    return {
        "success": True,
        "status": "completed",
        "session_status": "completed",
        "enrollment_id": enrollment_id,
        "embedding_id": entry_id,
        "user_id": user_id,
        "user_name": name,
        "completed_samples": len(samples),
        "liveness_verified": liveness_verified,
        "liveness_score": liveness_score,
        "quality_metrics": {
            "overall_quality": round(sum(qualities) / len(qualities), 4),
            "face_count": len(samples),
            "average_confidence": round(sum(qualities) / len(qualities), 4),
            "angles_captured": angles,
        },
        "created_at": views.iso(now_utc()),
        "message": "Enrollment completed successfully.",
    }


def _direct(engine: FaceEngine, data: bytes) -> Any:
    return engine.embed_largest(engine.decode(data))


async def direct(svc: SessionServices, client_id: int, user_id: str, data: bytes, quality_threshold: float,
                 session_id: str) -> dict[str, Any]:
    """Single-image enrollment (no liveness: the caller vouches for the photo's origin)."""
    user = await svc.active_user(client_id, user_id)
    user_id = user.user_id
    face, count = await svc.run(_direct, svc.engine, data)
    if count > 1:
        raise SessionError("MULTIPLE_FACES_DETECTED", f"{count} faces found; upload a photo of one person",
                           {"faces_detected": count})
    if face.quality.score < quality_threshold:
        hint = quality_feedback(face.quality, quality_threshold)
        raise SessionError("INVALID_FACE_QUALITY", "Face quality is below minimum threshold", {
            "quality_score": face.quality.score, "minimum_required": quality_threshold,
            "suggestions": list(hint.suggestions) if hint else [],
        })
    sample = Sample(face.embedding, face.quality.score, None)
    await check_duplicate(svc, client_id, user_id, sample)
    entry_id = await svc.store.store_enrollment(
        client_id=client_id, tenant_id=TENANT_ID, user_id=user_id, name=user.name, session_id=session_id,
        samples=[], template=sample, replace=svc.settings.replace_existing,
    )
    await svc.galleries.invalidate(client_id, TENANT_ID)
    body = completion_body(session_id, user_id, user.name, [sample], entry_id, False, 0.0)
    await svc.store.update(session_id, status="completed", completed_at=now_utc(), result=body, frames_processed=1)
    svc.emit(client_id, session_id, "enrollment.completed", body)
    return {**body, "quality_score": face.quality.score, "obstacles": list(face.quality.obstacles),
            "box": face.box.as_list()}

