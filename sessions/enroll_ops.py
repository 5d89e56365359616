"""REST enrollment frames, completion and single-image enrollment; the template rules themselves
(active user, duplicate check, UUID key) live in sessions.outcomes, shared with live sessions."""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.face_engine import FaceEngine
from engine.types import Sample
from recognition.enrollment import EnrollmentState
from recognition.feedback import quality_feedback
from recognition.payloads import enrollment_payload
from sessions import views
from sessions.errors import SessionError
from sessions.announce import DeviceInfo
from sessions.frame_checks import frame_problems, poor_image
from sessions.outcomes import complete_enrollment, completion_body, enrollment_failed, store_template
from sessions.replacement import NO_REPLACE, ReplaceRequest
from sessions.service import SessionServices
from storage.session_store import SessionRecord, now_utc

log = logging.getLogger(__name__)


def _step(engine: FaceEngine, state: EnrollmentState, data: bytes, t: float) -> tuple[Any, tuple[str, ...]]:
    pixels = engine.decode(data).pixels
    frame = state.process(pixels, t)
    return frame, frame_problems(engine, pixels, frame.faces)


async def process_frame(svc: SessionServices, row: SessionRecord, state: EnrollmentState, data: bytes,
                        client_ts: float | None) -> dict[str, Any]:
    async with svc.live.lock(row.id):
        await svc.still_open(row)
        t = state.clock.next(client_ts)
        frame, problems = await svc.run(_step, svc.engine, state, data, t)  # decode errors propagate: the session survives
        await svc.still_open(row)
        if problems:
            await svc.store.update(row.id, frames_processed=state.frames)
            raise poor_image(svc.engine, problems)
        await svc.store.update(row.id, status="in_progress", frames_processed=state.frames)
        status = "ready" if state.ready else "in_progress"
        body = views.enrollment_frame(row, state, frame, status)
        svc.emit(row.client_id, row.id, "enrollment_progress", enrollment_payload(state, frame))
        if state.ready and state.params.auto_complete:
            device = DeviceInfo.from_params(row.params)
            completion = await complete_enrollment(svc, row.client_id, row.id, state, device,
                                                   ReplaceRequest.from_params(row.params))
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
    async with svc.live.lock(row.id):
        fresh = await svc.store.by_id(row.client_id, row.id)
        if fresh is not None and fresh.status == "completed" and fresh.result is not None:
            return dict(fresh.result)
        return await complete_enrollment(svc, row.client_id, row.id, state, DeviceInfo.from_params(row.params),
                                         ReplaceRequest.from_params(row.params))


def _direct(engine: FaceEngine, data: bytes) -> Any:
    return engine.embed_largest(engine.decode(data))


async def direct(svc: SessionServices, client_id: int, user_id: str, data: bytes, quality_threshold: float,
                 session_id: str, takeover: ReplaceRequest = NO_REPLACE) -> dict[str, Any]:
    """Single-image enrollment (no liveness: the caller vouches for the photo's origin)."""
    try:
        return await _direct_enroll(svc, client_id, user_id, data, quality_threshold, session_id, takeover)
    except SessionError as exc:
        await svc.store.update(session_id, status="failed", result={"error_code": exc.code, "message": exc.message})
        await enrollment_failed(svc, client_id, session_id, user_id, exc, 1)
        raise
    except Exception:  # an engine refusal (no face, undecodable image): the same cleanup
        await svc.store.update(session_id, status="failed")
        await svc.discard_placeholder(client_id, user_id)
        raise


async def _direct_enroll(svc: SessionServices, client_id: int, user_id: str, data: bytes, quality_threshold: float,
                         session_id: str, takeover: ReplaceRequest) -> dict[str, Any]:
    started = time.perf_counter()
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
    entry_id, user = await store_template(svc, client_id, session_id, user_id, sample, [], started,
                                          takeover=takeover)
    body = completion_body(session_id, user.user_id, user.name, [sample], entry_id, False, 0.0)
    await svc.store.update(session_id, status="completed", completed_at=now_utc(), result=body, frames_processed=1)
    svc.emit(client_id, session_id, "enrollment.completed", body)
    return {**body, "quality_score": face.quality.score, "obstacles": list(face.quality.obstacles),
            "box": face.box.as_list()}
