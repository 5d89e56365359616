"""What a session's result does, written once for every transport: an enrollment template goes
into the gallery under the platform user's id, and a decision is settled (user state checked,
attempt recorded).

Why the duplicate check: a face enrolled under two user ids of one client makes every later
identification ambiguous and lets one person act as another; it is refused by default
(`sessions.reject_duplicate_faces`) whether the face came over REST, WebRTC or a camera.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from engine.liveness import LivenessState
from engine.gallery_index import GalleryUnion
from engine.types import Sample
from recognition.decision import LIVENESS_REASONS, Decision, refused
from recognition.enrollment import EnrollmentState
from sessions import announce, views
from sessions.announce import DeviceInfo
from events.audit import record_security_event
from sessions.attack_throttle import record_attack
from sessions.errors import SessionError
from sessions.replacement import NO_REPLACE, ReplaceRequest, check_same_person
from sessions.service import TENANT_ID, SessionServices, UserInfo
from sessions.settled import USER_INACTIVE, Settled
from storage.records import User
from storage.session_store import now_utc
from storage.timestamps import iso_seconds

log = logging.getLogger(__name__)


async def check_duplicate(svc: SessionServices, client_id: int, user_id: str, template: Sample,
                          gallery: GalleryUnion | None = None) -> None:
    """Against every stored face of the client, deactivated users' included (the matching gallery
    leaves them out): a face parked on a deactivated account still belongs to that account.
    `gallery`: that set, fetched once by a caller checking many faces (a bulk import)."""
    if not svc.settings.reject_duplicate_faces:
        return
    if gallery is None:
        gallery = await svc.galleries.every_face(client_id, TENANT_ID)
    for match in gallery.search(template.embedding, svc.top_k + 1):
        if match.user_id != user_id and match.distance < svc.threshold:
            raise SessionError("FACE_ALREADY_ENROLLED", "This face is already enrolled to another user", {
                "existing_user_id": match.user_id, "distance": round(match.distance, 4),
                "threshold": svc.threshold,
            })


async def store_template(svc: SessionServices, client_id: int, session_id: str, user_ref: str, template: Sample,
                         samples: list[Sample], started: float | None = None,
                         replace: bool | None = None,
                         takeover: ReplaceRequest = NO_REPLACE) -> tuple[int, UserInfo]:
    """The one way a face enters a platform user's gallery: active user, the same person as the
    user's stored faces (sessions.replacement), no duplicate, UUID key; the enrollment.completed
    event commits with the template. `replace`: whether the user's earlier faces of the same
    person go (default `sessions.replace_existing`; the root /enroll always adds one).
    `takeover`: the caller's explicit request to replace them with a different face."""
    started = time.perf_counter() if started is None else started
    user = await svc.active_user(client_id, user_ref)
    gallery = await svc.galleries.gallery(client_id, TENANT_ID, every_addition=True)
    try:
        same = check_same_person(gallery, user.user_id, user_ref, template.embedding, svc.threshold, takeover)
    except SessionError:
        await record_security_event(svc.store.engine, client_id, "enrollment.face_mismatch", subject=user.user_id,
                                    details={"session_id": session_id, "replace_requested": takeover.requested,
                                             "actor": takeover.actor})
        raise
    await check_duplicate(svc, client_id, user.user_id, template)
    event = announce.enrollment_completed(session_id, user.user_id, user.external_id, user.name, samples or [template],
                                          template, announce.since(started))
    events = [("enrollment.completed", event)]
    if same.replacing:
        events.append(("enrollment.replaced", announce.enrollment_replaced(
            session_id, user.user_id, user.external_id, takeover.actor, same.distance)))
        log.warning("client %d: faces of user %s replaced by a different face (session %s, by %s)", client_id,
                    user.user_id, session_id, takeover.actor)
    entry_id = await svc.store.store_enrollment(
        client_id=client_id, tenant_id=TENANT_ID, user_id=user.user_id, name=user.name, session_id=session_id,
        samples=samples, template=template,
        replace=True if same.replacing else svc.settings.replace_existing if replace is None else replace,
        after=announce.hooks(svc.events, client_id, events),
    )  # the write bumps the tenant's gallery version: every worker reloads on its next search
    svc.announced()
    return entry_id, user


async def enrollment_failed(svc: SessionServices, client_id: int, session_id: str, user_ref: str | None,
                            exc: SessionError, attempts: int, live: LivenessState | None = None,
                            device: DeviceInfo = DeviceInfo()) -> None:
    """enrollment.failed (and liveness.failed when that was why) for the integrator and the audit
    log; a user this enrollment's request created goes again (nothing half-done stays)."""
    await svc.announce(client_id, "enrollment.failed",
                       announce.enrollment_failed(session_id, user_ref, exc.code, exc.message, attempts))
    if exc.code == "LIVENESS_CHECK_FAILED":
        await svc.announce(client_id, "liveness.failed", announce.liveness_failed(session_id, user_ref, live, device))
    if user_ref:
        await svc.discard_placeholder(client_id, user_ref)  # once no enrollment of it is open


# Refusals about whose face it is (not about the frames): they end the enrollment session.
IDENTITY_REFUSALS = frozenset({"FACE_ALREADY_ENROLLED", "FACE_MISMATCH", "USER_INACTIVE", "USER_NOT_FOUND"})


async def complete_enrollment(svc: SessionServices, client_id: int, session_id: str, state: EnrollmentState,
                              device: DeviceInfo = DeviceInfo(), takeover: ReplaceRequest = NO_REPLACE
                              ) -> dict[str, Any]:
    """Check the requirements, store the template, record and announce the enrollment (or its failure)."""
    try:
        return await _complete_enrollment(svc, client_id, session_id, state, takeover)
    except SessionError as exc:
        if exc.code in IDENTITY_REFUSALS:  # another frame cannot change whose face it is: the session ends
            await svc.store.update(session_id, status="failed", result={"error_code": exc.code, "message": exc.message},
                                   frames_processed=state.frames)
            svc.live.discard(session_id)
        await enrollment_failed(svc, client_id, session_id, state.params.user_id, exc, state.frames, state.liveness,
                                device)
        raise


async def _complete_enrollment(svc: SessionServices, client_id: int, session_id: str,
                               state: EnrollmentState, takeover: ReplaceRequest) -> dict[str, Any]:
    started = time.perf_counter()
    p = state.params
    if not state.samples_done or state.missing_angles:
        raise insufficient(state)
    if p.require_liveness and not state.liveness_verified:
        svc.emit(client_id, session_id, "liveness.failed", {"session_id": session_id, "user_id": p.user_id})
        raise SessionError("LIVENESS_CHECK_FAILED", "Liveness was not verified for this face",
                           {"liveness": views.liveness_data(state.liveness)})
    entry_id, user = await store_template(svc, client_id, session_id, p.user_id, state.template(),
                                          list(state.samples), started, takeover=takeover)
    result = completion_body(session_id, user.user_id, user.name, state.samples, entry_id, state.liveness_verified,
                             state.liveness.liveness_score if state.liveness else 0.0)
    await svc.store.update(session_id, status="completed", completed_at=now_utc(), result=result,
                           frames_processed=state.frames)
    svc.live.discard(session_id)
    svc.emit(client_id, session_id, "enrollment.completed", result)
    log.info("enrollment %s completed for user %s (%d samples)", session_id, user.user_id, len(state.samples))
    return result


# What a one-photo enrollment asks for, offered in the error of a camera session completed too
# early (api_integration_guide.md's Quick Start posts one photo to a `webcam` session): the
# client's own explicit choice, never the server quietly lowering a camera session's bar.
ONE_PHOTO = {"session_type": "upload", "require_liveness": False, "target_samples": 1,
             "or": "POST /api/auth/enrollment/direct/ (multipart user_id + image)"}


def insufficient(state: EnrollmentState) -> SessionError:
    """INSUFFICIENT_QUALITY that says exactly what is missing (`missing`: samples, angles,
    liveness) and how a one-photo enrollment is asked for (`one_photo_enrollment`)."""
    p = state.params
    missing: list[str] = []
    needs: list[str] = []
    if not state.samples_done:
        missing.append("samples")
        needs.append(f"{p.target_samples} good-quality frames (have {len(state.samples)})")
    if state.missing_angles:
        missing.append("angles")
        needs.append("the head turned " + ", ".join(state.missing_angles))
    if p.require_liveness and not state.liveness_verified:
        missing.append("liveness")
        needs.append("liveness proven over several frames of a live face (blink)")
    message = ("Enrollment cannot complete yet: it needs " + "; ".join(needs) + ". Keep sending camera frames, "
               "or for a one-photo enrollment create the session with \"session_type\": \"upload\" "
               "(one sample, no liveness) or use POST /api/auth/enrollment/direct/.")
    return SessionError("INSUFFICIENT_QUALITY", message, {
        "completed_samples": len(state.samples), "target_samples": p.target_samples,
        "angles_captured": state.angles, "angles_missing": state.missing_angles,
        "liveness_required": p.require_liveness, "liveness_verified": state.liveness_verified,
        "missing": missing, "one_photo_enrollment": dict(ONE_PHOTO),
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
        "created_at": iso_seconds(now_utc()),
        "message": "Enrollment completed successfully.",
    }


async def settle(svc: SessionServices, client_id: int, session_id: str, mode: str, claimed_user: str | None,
                 decision: Decision, liveness_score: float, *, processing_time: float = 0.0, failures_before: int = 0,
                 liveness: LivenessState | None = None, device: DeviceInfo = DeviceInfo()) -> Settled:
    """A gallery decision made final: an inactive (or deleted) user never authenticates, every
    attempt is recorded (lockouts count them across transports) together with its
    authentication.success / .failed (and liveness.failed) event, a success touches the user."""
    name = decision.name
    user: User | None = None
    if decision.status == "success" and decision.user_id is not None:
        user = await svc.find_user_row(client_id, decision.user_id)
        if user is None or not user.is_active:
            decision = refused(decision, USER_INACTIVE)
        else:
            name = user.name
    success = decision.status == "success"
    attempt_user = claimed_user if mode == "verification" else decision.user_id if success else None
    outcome = announce.AuthOutcome(
        session_id, mode, success, attempt_user, name if success else None, decision.confidence, liveness_score,
        None if success else decision.reason.upper(), svc.threshold, failures_before + (0 if success else 1),
        processing_time, device)
    events = [announce.authentication(outcome)]
    if not success and decision.reason in LIVENESS_REASONS:
        events.append(("liveness.failed", announce.liveness_failed(session_id, attempt_user, liveness, device)))
    await svc.store.record_attempt(
        session_id=session_id, client_id=client_id, user_id=attempt_user, mode=mode,
        result="success" if success else "failure", reason=decision.reason, confidence=decision.confidence,
        liveness_score=liveness_score, after=announce.hooks(svc.events, client_id, events),
    )
    svc.announced()
    if not success and decision.reason in LIVENESS_REASONS:  # throttles the device, never locks the user
        await record_attack(svc.store, client_id, session_id, attempt_user, decision.reason, device)
    if success and attempt_user is not None:
        await svc.users.touch_authentication(client_id, attempt_user)
    return Settled(decision, name if success else None, attempt_user, user)
