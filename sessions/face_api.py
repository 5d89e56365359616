"""Tenant 0 of the root face API (`/enroll`, `/verify`, `/identify`, `/enrollments/0/...`): the
platform's users, so the platform's rules.

Why here and not in the root handlers: tenant 0 is where every session (REST, WebRTC, WebSocket,
cameras) stores and matches platform users. A root call that wrote or matched there by its own
rules was a fourth way in that skipped them: a second user could take a face already enrolled,
a failed verification counted for no lockout and told nobody. Every rule below is the session
service's (sessions.outcomes, sessions.lockout); the root handlers keep only their wire format.
Tenants other than 0 are plain galleries of the client and never come here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from engine.matching import Gallery
from engine.types import Match, Sample
from recognition.decision import Decision, confidence_of
from sessions import announce
from sessions.announce import DeviceInfo
from sessions.errors import SessionError
from sessions.lockout import ensure_unlocked
from sessions.replacement import check_same_person
from sessions.outcomes import check_duplicate, completion_body, enrollment_failed, settle, store_template
from sessions.service import TENANT_ID, SessionServices, UserInfo
from sessions.settled import Settled
from storage.records import NewFace
from storage.session_store import now_utc
from storage.tx_hooks import TxHook

# Writes faces into tenant 0 with a hook committed in the same transaction; returns (ids, count).
FaceWriter = Callable[[list[NewFace], TxHook | None], Awaitable[tuple[list[int], int]]]

SESSION_TYPE = "face_api"  # the session rows of root calls, beside "upload", "webrtc", ...
_ROW_TTL_S = 60.0  # the rows are written already settled; the expiry only bounds a crash mid-call


@dataclass(frozen=True)
class FaceEnrolled:
    enrollment_id: int  # the template's face_enrollments id
    user: UserInfo
    session_id: str


@dataclass(frozen=True)
class FaceDecided:
    settled: Settled
    session_id: str

    @property
    def success(self) -> bool:
        return self.settled.decision.status == "success"


async def _row(svc: SessionServices, client_id: int, kind: str, user_id: str | None, mode: str | None,
               device: DeviceInfo, extra: dict[str, Any] | None = None) -> str:
    """The session record an attempt or an enrollment hangs off (attempts and enrollment
    samples reference a session), so root calls show in the platform's analytics like the rest."""
    sid = str(uuid.uuid4())
    await svc.store.create_session(
        session_id=sid, token=uuid.uuid4().hex, client_id=client_id, kind=kind, user_id=user_id,
        session_type=SESSION_TYPE, mode=mode, status="in_progress" if kind == "enrollment" else "active",
        params={"require_liveness": False, "device_info": device.as_dict(), **(extra or {})},
        expires_at=now_utc() + timedelta(seconds=_ROW_TTL_S),
    )
    return sid


async def enroll(svc: SessionServices, client_id: int, user_ref: str, name: str, template: Sample,
                 device: DeviceInfo = DeviceInfo()) -> FaceEnrolled:
    """A root /enroll into tenant 0: the direct upload's rules (the user is resolved, created
    from an external id when `sessions.auto_create_users`, refused when inactive; a face of
    another user is FACE_ALREADY_ENROLLED), stored under the user's UUID with its
    enrollment.completed event, or enrollment.failed. It adds a face, as /enroll does in every
    tenant (several photos of one person), rather than replacing the user's template."""
    started = time.perf_counter()
    user = await svc.enrolling_user(client_id, user_ref, name)
    sid = await _row(svc, client_id, "enrollment", user.user_id, None, device, {"target_samples": 1, "direct": True})
    try:
        entry_id, user = await store_template(svc, client_id, sid, user.user_id, template, [], started, replace=False)
    except SessionError as exc:
        await svc.store.update(sid, status="failed", result={"error_code": exc.code, "message": exc.message})
        await enrollment_failed(svc, client_id, sid, user.user_id, exc, 1)
        raise
    body = completion_body(sid, user.user_id, user.name, [template], entry_id, False, 0.0)
    await svc.store.update(sid, status="completed", completed_at=now_utc(), result=body, frames_processed=1)
    svc.emit(client_id, sid, "enrollment.completed", body)
    return FaceEnrolled(entry_id, user, sid)


def _not_enrolled(ref: str) -> SessionError:
    """One answer for unknown, deactivated and face-less users: a verification reveals nothing more."""
    return SessionError("USER_NOT_ENROLLED", f"User {ref!r} has no face enrollment", {"user_id": ref})


async def verification_target(svc: SessionServices, client_id: int, user_ref: str) -> tuple[UserInfo, Gallery]:
    """The claimed user and the gallery to compare with, before any model runs: an inactive or
    unknown user is USER_NOT_ENROLLED, a locked one ACCOUNT_LOCKED (sessions.lockout, the
    failures of every transport together)."""
    user = await svc.find_user(client_id, user_ref)
    if user is None or not user.is_active:
        raise _not_enrolled(user_ref)
    await ensure_unlocked(svc.store, svc.settings, client_id, user.user_id)
    gallery = await svc.galleries.gallery(client_id, TENANT_ID)
    if not gallery.for_user(user.user_id):
        raise _not_enrolled(user_ref)
    return user, gallery


async def settle_verification(svc: SessionServices, client_id: int, user: UserInfo, best: Match, threshold: float,
                              processing_time: float = 0.0, device: DeviceInfo = DeviceInfo()) -> FaceDecided:
    """A root /verify made final like a session's attempt: recorded (lockouts and the user's
    failure counts see it), authentication.success / .failed sent, the user touched on success."""
    conf = confidence_of(best.distance, threshold)
    if best.distance <= threshold:
        decision = Decision("success", "match", user.user_id, user.name, best.distance, conf, (best,))
    else:
        decision = Decision("failure", "face_mismatch", user.user_id, None, best.distance, conf, (best,))
    return await _settled(svc, client_id, "verification", user.user_id, decision, processing_time, device)


async def settle_identification(svc: SessionServices, client_id: int, matches: list[Match], threshold: float,
                                processing_time: float = 0.0, device: DeviceInfo = DeviceInfo()) -> FaceDecided:
    """A root /identify made final: a match of an inactive (or meanwhile deleted) user is refused,
    and the attempt is recorded and announced as an identification session's would be."""
    best = matches[0] if matches else None
    if best is not None and best.distance <= threshold:
        decision = Decision("success", "match", best.user_id, best.name, best.distance,
                            confidence_of(best.distance, threshold), tuple(matches))
    else:
        decision = Decision("unknown", "no_match", None, None, best.distance if best else None, 0.0, tuple(matches))
    return await _settled(svc, client_id, "identification", None, decision, processing_time, device)


async def _settled(svc: SessionServices, client_id: int, mode: str, claimed: str | None, decision: Decision,
                   processing_time: float, device: DeviceInfo) -> FaceDecided:
    sid = await _row(svc, client_id, "authentication", claimed, mode, device)
    settled = await settle(svc, client_id, sid, mode, claimed, decision, 0.0, processing_time=processing_time,
                           device=device)
    success = settled.decision.status == "success"
    await svc.store.update(sid, status="completed" if success else "failed", completed_at=now_utc(),
                           failed_attempts=0 if success else 1, frames_processed=1,
                           result={"authenticated": success, "reason": settled.decision.reason,
                                   "user_id": settled.attempt_user})
    return FaceDecided(settled, sid)


def _item(index: int, exc: SessionError) -> SessionError:
    return SessionError(exc.code, f"item {index}: {exc.message}", {**exc.details, "item": index})


async def import_faces(svc: SessionServices, client_id: int, faces: list[NewFace], write: FaceWriter,
                       device: DeviceInfo = DeviceInfo()) -> tuple[list[int], int]:
    """A bulk import into tenant 0, all or nothing, by the enrollment rules: each item's user is
    resolved (created from an external id when `sessions.auto_create_users`), must be active, and
    no face may belong to another user, whether stored already or elsewhere in the batch. The
    faces go in under the users' UUIDs with one enrollment.completed per user (same transaction)."""
    users: dict[str, UserInfo] = {}
    try:
        return await _import_faces(svc, client_id, faces, write, device, users)
    except BaseException:
        for user in users.values():  # users this refused import created go again
            await svc.discard_placeholder(client_id, user.user_id)
        raise


async def _import_faces(svc: SessionServices, client_id: int, faces: list[NewFace], write: FaceWriter,
                        device: DeviceInfo, users: dict[str, UserInfo]) -> tuple[list[int], int]:
    started = time.perf_counter()
    placed: list[NewFace] = []
    for index, face in enumerate(faces):
        try:
            user = users.get(face.user_id) or await svc.enrolling_user(client_id, face.user_id, face.name)
        except SessionError as exc:
            raise _item(index, exc) from None
        users[face.user_id] = user
        placed.append(NewFace(user.user_id, user.name, face.embedding, face.quality))
    if svc.settings.reject_duplicate_faces:
        stored = await svc.galleries.every_face(client_id, TENANT_ID)
        for index, face in enumerate(placed):
            try:
                await check_duplicate(svc, client_id, face.user_id, Sample(face.embedding, face.quality, None), stored)
            except SessionError as exc:
                raise _item(index, exc) from None
        _no_duplicate_within(svc.threshold, placed)
    current = await svc.galleries.gallery(client_id, TENANT_ID, every_addition=True)
    for index, face in enumerate(placed):  # a re-enrollment is the same person (sessions.replacement)
        try:
            check_same_person(current, face.user_id, face.user_id, face.embedding, svc.threshold)
        except SessionError as exc:
            raise _item(index, exc) from None
    sid = await _row(svc, client_id, "enrollment", None, None, device, {"import": len(placed)})
    by_user: dict[str, list[Sample]] = {}
    for face in placed:
        by_user.setdefault(face.user_id, []).append(Sample(face.embedding, face.quality, None))
    people = {u.user_id: u for u in users.values()}
    events = [("enrollment.completed", announce.enrollment_completed(
        sid, uid, people[uid].external_id, people[uid].name, samples, samples[-1], announce.since(started)))
        for uid, samples in by_user.items()]
    try:
        ids, total = await write(placed, announce.hooks(svc.events, client_id, events))
    except Exception:
        await svc.store.update(sid, status="failed")
        raise
    svc.announced()
    await svc.store.update(sid, status="completed", completed_at=now_utc(), frames_processed=len(placed),
                           result={"imported": len(ids), "users": sorted(by_user)})
    return ids, total


def _no_duplicate_within(threshold: float, faces: list[NewFace]) -> None:
    """Two faces of one batch closer than the threshold must belong to one user."""
    if len(faces) < 2:
        return
    vectors = np.stack([f.embedding for f in faces]).astype(np.float32)
    distances = 1.0 - vectors @ vectors.T
    owners = np.array([f.user_id for f in faces], dtype=object)
    clash = (distances < threshold) & (owners[:, None] != owners[None, :])
    if clash.any():
        a, b = (int(i) for i in np.argwhere(clash)[0])
        raise SessionError("FACE_ALREADY_ENROLLED", f"item {b}: the same face as item {a}, under another user",
                           {"item": b, "same_as_item": a, "distance": round(float(distances[a, b]), 4)})


async def faces_removed(svc: SessionServices, client_id: int, owners: list[str]) -> TxHook | None:
    """user.updated for each platform user a root delete in tenant 0 takes faces from, to commit
    with the delete: the integrator learns that a user lost their enrollment, as it would from
    any other change of the user."""
    counts: dict[str, int] = {}
    for owner in owners:
        counts[owner] = counts.get(owner, 0) + 1
    events = []
    for user_id, removed in counts.items():
        user = await svc.users.get(client_id, user_id)
        if user is None:
            continue
        events.append(("user.updated", {
            "user_id": user.id, "external_id": user.external_id, "is_active": user.is_active,
            "changed_fields": ["enrollments"], "enrollments_removed": removed,
            "enrollments_count": max(user.enrollments_count - removed, 0),
            "updated_at": now_utc().isoformat().replace("+00:00", "Z"),
        }))
    return announce.hooks(svc.events, client_id, events)
