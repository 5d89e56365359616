"""REST authentication frames: decide per attempt, settle it (sessions.outcomes, shared with
live sessions), lock the session out after repeated failures (users: sessions.lockout)."""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.face_engine import FaceEngine
from engine.matching import Gallery
from recognition.authentication import AuthFrame, AuthState
from recognition.decision import LOCKOUT_REASONS, Decision
from recognition.feedback import NO_FACE, Feedback, liveness_prompt
from recognition.payloads import challenge_fields
from events.audit import record_security_event
from sessions import views
from sessions.announce import DeviceInfo
from sessions.frame_checks import frame_problems, poor_image
from sessions.attack_throttle import ensure_address_unthrottled
from sessions.lockout import ensure_unlocked
from sessions.outcomes import settle
from sessions.service import TENANT_ID, SessionServices
from storage.session_store import SessionRecord, now_utc
from storage.timestamps import iso_seconds

log = logging.getLogger(__name__)


def _step(engine: FaceEngine, state: AuthState, data: bytes, t: float, gallery: Gallery,
          final: bool) -> tuple[AuthFrame, tuple[str, ...]]:
    started = time.perf_counter()
    pixels = engine.decode(data).pixels
    decoded = time.perf_counter()
    frame = state.process(pixels, t, gallery, final)
    frame.timings.update(decode=round((decoded - started) * 1000, 3),
                         total=round((time.perf_counter() - started) * 1000, 3))
    return frame, frame_problems(engine, pixels, frame.faces)


async def process_frames(svc: SessionServices, row: SessionRecord, state: AuthState,
                         frames: list[tuple[bytes, float | None]], final_at_end: bool = False,
                         one_attempt: bool = False) -> dict[str, Any]:
    """Feed frames in order until a decision; `final_at_end` forces one on the last frame (batch).
    `one_attempt` (process-image, API_INTEGRATION_GUIDE §3.2): the first decision ends the session,
    failures included, instead of leaving it open for another try."""
    started = time.perf_counter()
    p = state.params
    async with svc.live.lock(row.id):
        await svc.still_open(row)
        await ensure_address_unthrottled(svc.store, svc.settings, row.client_id, DeviceInfo.from_params(row.params))
        if p.mode == "verification" and p.user_id:
            await ensure_unlocked(svc.store, svc.settings, row.client_id, p.user_id)
        gallery = await svc.galleries.gallery(row.client_id, TENANT_ID)
        frame: AuthFrame | None = None
        used = 0
        for i, (data, ts) in enumerate(frames):
            t = state.clock.next(ts)
            final = final_at_end and i == len(frames) - 1
            step, problems = await svc.run(_step, svc.engine, state, data, t, gallery, final)
            frame = step
            used += 1
            if problems and len(frames) == 1 and step.decision is None:
                await svc.store.update(row.id, frames_processed=state.frames)
                raise poor_image(svc.engine, problems)
            if step.decision is not None:
                break
        assert frame is not None
        await svc.still_open(row)
        took = time.perf_counter() - started
        if frame.decision is None:
            await svc.store.update(row.id, frames_processed=state.frames)
            return _pending(row, state, frame, took, used)
        return await _decided(svc, row, state, frame, frame.decision, took, used, one_attempt, final_at_end)


def _pending(row: SessionRecord, state: AuthState, frame: AuthFrame, took: float, used: int) -> dict[str, Any]:
    live = frame.track.liveness if frame.track else None
    prompt = liveness_prompt(live) if frame.track is not None and state.params.require_liveness else None
    feedback = NO_FACE if frame.track is None else prompt if prompt is not None else Feedback(
        "Keep looking at the camera." if state.params.require_liveness and not (live and live.passed)
        else "Hold still, matching...")
    message = feedback.message
    return {
        "success": False, "session_id": row.id, "session_status": "active", "status": "processing",
        "requires_more_frames": True, "face_detected": frame.track is not None, "faces_detected": frame.faces,
        "frames_processed": used, "result": None,
        "liveness_data": views.liveness_data(live), **challenge_fields(live),
        "liveness_verified": bool(live and live.passed),
        "quality_score": frame.track.quality.score if frame.track else 0.0,
        "processing_time": round(took, 4), "timestamp": iso_seconds(time.time()), "message": message,
        # the same words as enrollment answers' `feedback` (what the documents' clients display)
        "feedback": feedback.as_dict(),
        "timings": frame.timings,  # ms per stage of the last frame (engine/timings.py)
        # api_integration_guide.md's Quick Start posts one photo to a liveness session: say what a
        # decision is waiting for, and the explicit choice that decides on one photo.
        "waiting_for": (waiting := _waiting_for(state, frame, live)),
        "hint": LIVENESS_HINT if "liveness" in waiting else None,
    }


LIVENESS_HINT = ("Liveness needs more frames of a live face (a blink): keep posting frames; to decide on one "
                 "photo whose origin you vouch for, create the session with \"require_liveness\": false.")


def _waiting_for(state: AuthState, frame: AuthFrame, live: Any) -> list[str]:
    if frame.track is None:
        return ["face"]
    out = ["liveness"] if state.params.require_liveness and not (live and live.passed) else []
    return out + ["samples"]


async def _decided(svc: SessionServices, row: SessionRecord, state: AuthState, frame: AuthFrame, decision: Decision,
                   took: float, used: int, one_attempt: bool = False, batch: bool = False) -> dict[str, Any]:
    p = state.params
    live = frame.track.liveness if frame.track else None
    fresh = await svc.store.by_id(row.client_id, row.id)
    before = fresh.failed_attempts if fresh else 0
    settled = await settle(svc, row.client_id, row.id, p.mode, p.user_id, decision,
                           live.liveness_score if live else 0.0, processing_time=took, failures_before=before,
                           liveness=live, device=DeviceInfo.from_params(row.params))
    decision, name, attempt_user = settled.decision, settled.name, settled.attempt_user
    result = views.decision_result(state, frame, decision, name)
    result["matches"] = await _described(svc, row.client_id, result["matches"])
    success = result["authenticated"]
    # Only decided mismatches count; a liveness failure (a presentation attack) never locks the user.
    counted = not success and decision.reason in LOCKOUT_REASONS
    failures = before + (1 if counted else 0)
    if success:
        status = "completed"
    elif failures >= svc.settings.max_failures:
        status = "locked"
    elif one_attempt:
        status = "completed"  # decided: the result says failure, the session is over
    else:
        status = "active"
    body: dict[str, Any] = {
        "success": success, "session_id": row.id, "session_status": status,
        "status": "completed" if success else "failed",
        "requires_more_frames": status == "active", "frames_processed": used,
        "result": result,
        "matched_user": {"user_id": decision.user_id, "name": name} if success else None,
        "similarity_score": None if decision.distance is None else round(1.0 - decision.distance, 4),
        "liveness_verified": result["liveness_verified"], "liveness_data": views.liveness_data(live),
        **challenge_fields(live),
        "attempts": {"failed": failures, "remaining": max(svc.settings.max_failures - failures, 0)},
        "processing_time": round(took, 4), "timestamp": iso_seconds(time.time()),
        "message": "Authentication successful." if success else "Authentication failed.",
        "timings": frame.timings,  # ms per stage of the deciding frame (engine/timings.py)
    }
    if not success:
        body["error"] = _failure_text(decision.reason)
        body["error_code"] = _failure_code(decision.reason)
        body["counts_toward_lockout"] = counted  # liveness failures never do: sessions/attack_throttle.py
        body["suggestions"] = _how_to_succeed(svc, decision.reason, p.require_liveness, bool(live and live.passed), batch)
    await svc.store.update(row.id, status=status, failed_attempts=failures, frames_processed=state.frames,
                           result=body, completed_at=now_utc() if status == "completed" else None)
    if status == "locked":
        await record_security_event(svc.store.engine, row.client_id, "lockout.session", subject=row.id,
                                    details={"failed_attempts": failures, "user_id": p.user_id})
    if status == "active":
        state.reset_attempt()
    else:
        svc.live.discard(row.id)
    event = "authentication.success" if success else "authentication.failed"
    svc.emit(row.client_id, row.id, event, {
        "session_id": row.id, "user_id": attempt_user, "confidence": decision.confidence,
        "liveness_score": result["liveness_score"], "failure_reason": None if success else decision.reason.upper(),
        "attempts": failures,
    })
    log.info("authentication session %s: %s (%s), %d failures", row.id, decision.status, decision.reason, failures)
    return body


async def _described(svc: SessionServices, client_id: int, matches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """user_guide.md's identification matches carry each user's `metadata` (and the client's
    own `external_id`, which the guide shows as `user_id`): looked up once per listed match."""
    out = []
    for match in matches:
        user = await svc.find_user(client_id, match["user_id"])
        out.append({**match, "external_id": user.external_id if user else None,
                    "metadata": user.metadata if user else {}})
    return out


def _how_to_succeed(svc: SessionServices, reason: str, require_liveness: bool, live: bool, batch: bool) -> list[str]:
    """What the caller can change, for the failures that are about the frames rather than the
    face: a batch of still photos (user_guide.md "Batch Processing") never proves liveness, and
    separate sightings never add up to the samples a decision needs."""
    out: list[str] = []
    if require_liveness and not live and reason in ("not_enough_samples", "liveness_failed", "challenge_failed"):
        where = "options.require_liveness: false" if batch else "require_liveness: false when creating the session"
        out.append("Liveness is judged across consecutive frames of a live face (a blink): send a video's frames "
                   "in order" + (" (options.fps or options.timestamps give their times)" if batch else "")
                   + f"; for still photos whose origin you vouch for, set {where}")
    if reason == "not_enough_samples":
        out.append(f"A decision needs {svc.recognition.decide_samples} good-quality frames of the same face in view")
    if reason == "no_face":
        out.append("Keep one face in view, facing the camera, in good light")
    return out


def _failure_code(reason: str) -> str:
    """The seeds' error codes (api_integration_guide.md "Error Codes") for a failed attempt."""
    return {
        "liveness_failed": "LIVENESS_CHECK_FAILED",
        "challenge_failed": "LIVENESS_CHECK_FAILED",
        "no_face": "NO_FACE_DETECTED",
        "not_enough_samples": "INVALID_FACE_QUALITY",
        "user_not_enrolled": "USER_NOT_ENROLLED",
    }.get(reason, "RECOGNITION_FAILED")


def _failure_text(reason: str) -> str:
    return {
        "face_mismatch": "Face does not match the user.",
        "liveness_failed": "Liveness not proven in time; try again.",
        "challenge_failed": "Not live: the liveness prompts were not followed. Start again and follow each prompt.",
        "no_match": "User not recognized.",
        "uncertain_match": "Match too uncertain.",
        "low_confidence": "Match confidence below the required threshold.",
        "user_not_enrolled": "User has no enrolled face.",
        "user_inactive": "User is deactivated.",
        "no_face": "No face detected.",
        "not_enough_samples": "Not enough good-quality frames.",
    }.get(reason, "User not recognized or liveness check failed.")
