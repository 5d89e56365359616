"""The root-level face API of seed `face_api_docs.md`: multipart in, JSON out, `{"detail"}` errors.

Tenants here are the integer `tenant_id`s of one authenticated client: client A's tenant 1 and
client B's tenant 1 are different galleries and never see each other.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api.auth_guard import CREDENTIAL_GUARD, too_many
from api.errors import ApiError
from api.face_auth import face_api_client
from api.face_platform import PLATFORM_TENANT, device, platform, removal_events, verify_target
from api.forms import read_form
from api.face_schemas import (
    ERRORS, CacheStatusOut, CompareForm, CompareOut, DeletedOut, DetailError, DetectOut, EncodeOut, EnrollForm,
    EnrollmentsOut, EnrollOut, HealthOut, IdentifyForm, IdentifyOut, ImageForm, InvalidatedOut, RefreshedOut,
    VerifyForm, VerifyOut,
)
from api.inference import run_inference
from api.openapi import Security, operation
from api.input_guard import INT32, INT63, path_int
from api.keys import CONFIG, ENGINE, GALLERIES, STORE
from events.audit import AuditEntry, record
from engine.face_engine import FaceEngine
from engine.matching import distance, parse_embedding
from engine.timings import StageTimer
from engine.types import Face, Sample
from facestream import __version__
from sessions import face_api

TAG = "Face API"

routes = web.RouteTableDef()


def op(summary: str, *, form: type[BaseModel] | None = None, responses: dict[int, type[BaseModel]],
       security: tuple[Security, ...] = ("ApiKey",)) -> Any:
    """The OpenAPI declaration of a root face API handler: tag "Face API", `{"detail"}` errors."""
    return operation(summary, tags=TAG, form=form, responses={**ERRORS, **responses}, security=security)


def _largest_face(engine: FaceEngine, data: bytes) -> tuple[Face, int]:
    return engine.embed_largest(engine.decode(data))


def _timed_largest_face(engine: FaceEngine, data: bytes, timer: StageTimer) -> tuple[Face, int]:
    with timer.stage("decode"):
        decoded = engine.decode(data)
    return engine.embed_largest(decoded, timer)


async def _discard(task: asyncio.Future[object]) -> None:
    """Stop a side fetch whose request failed; its own failure is moot then."""
    task.cancel()
    with suppress(asyncio.CancelledError, Exception):
        await task


def _user_id_out(stored: str) -> int | str:
    """Integer user ids as the seed's integers; platform users' UUIDs as strings."""
    return int(stored) if stored.lstrip("-").isdigit() else stored


def _seconds(timer: StageTimer) -> float:
    return float(timer.as_dict()["total"] or 0.0) / 1000.0


def _model_note(request: web.Request) -> dict[str, object]:
    """Which recogniser made (or compared) the encoding: encodings of two models never compare."""
    engine = request.app[ENGINE]
    return {"model": engine.recognizer_id, "dimension": engine.embedding_dim}


def _face_note(count: int) -> dict[str, object]:
    if count > 1:
        return {"faces_detected": count, "note": f"{count} faces found; the largest one was used"}
    return {"faces_detected": count}


@routes.get("/health")
@op("Liveness of the server (no authentication)", responses={200: HealthOut}, security=())
async def health(request: web.Request) -> web.Response:
    """503 "loading" while the stored galleries load at start (a load balancer waits), then ok."""
    state = request.app[GALLERIES].load_state() if GALLERIES in request.app else None
    if state is not None and state.loading:
        return web.json_response({"status": "loading", "version": __version__, "galleries": {
            "tenants_loaded": state.tenants_loaded, "tenants_total": state.tenants_total,
            "faces_loaded": state.faces_loaded, "seconds": state.seconds,
        }}, status=503)
    return web.json_response({"status": "ok", "version": __version__})


@routes.post("/encode")
@op("512 floats of the largest face", form=ImageForm, responses={200: EncodeOut})
async def encode(request: web.Request) -> web.Response:
    await face_api_client(request)
    form = await read_form(request)
    face, count = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
    return web.json_response(
        {"encoding": [round(float(v), 7) for v in face.embedding], **_model_note(request), **_face_note(count)}
    )


@routes.post("/compare")
@op("Compare the largest face with a given encoding", form=CompareForm, responses={200: CompareOut})
async def compare(request: web.Request) -> web.Response:
    await face_api_client(request)
    form = await read_form(request)
    engine = request.app[ENGINE]
    reference = parse_embedding(form.json("encoding"), engine.embedding_dim, engine.recognizer_id)
    threshold = form.threshold(request.app[CONFIG].matching.threshold)
    face, _ = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
    dist = distance(face.embedding, reference)
    return web.json_response(
        {"match": dist <= threshold, "distance": round(dist, 6), "threshold": threshold, **_model_note(request)}
    )


@routes.post("/detect")
@op("Boxes of every face, largest first", form=ImageForm, responses={200: DetectOut})
async def detect(request: web.Request) -> web.Response:
    await face_api_client(request)
    form = await read_form(request)
    engine = request.app[ENGINE]

    def work(data: bytes) -> list[list[float]]:
        return [d.box.as_list() for d in engine.detect(engine.decode(data))]

    boxes = await run_inference(request, work, form.file())
    return web.json_response({"faces": boxes})


@routes.post("/enroll")
@op("Store the largest face under a user of a tenant (tenant 0: a platform user, by the session rules)",
    form=EnrollForm, responses={200: EnrollOut, 403: DetailError, 409: DetailError})
async def enroll(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    form = await read_form(request)
    tenant_id = form.int("tenant_id")
    user_id = form.user_id()
    name = form.text("name")
    assert tenant_id is not None
    face, count = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
    if tenant_id == PLATFORM_TENANT:  # the platform's users: the session service's rules (duplicates, state)
        template = Sample(face.embedding, face.quality.score, None)
        done = await face_api.enroll(platform(request), client.id, user_id, name, template, device(request))
        entry_id, total = done.enrollment_id, await request.app[STORE].enrollment_count(client.id, tenant_id)
    else:
        entry_id, total = await request.app[STORE].add_enrollment(
            client.id, tenant_id, user_id, name, face.embedding, face.quality.score
        )
        await record(request.app[STORE].engine, client.id, AuditEntry(
            "enrollment", "enrollment.face_api", "success", str(user_id),
            {"tenant_id": tenant_id, "enrollment_id": entry_id}, request.remote))
    return web.json_response(
        {
            "stored": True,
            "count": total,
            "tenant_id": tenant_id,
            "enrollment_id": entry_id,
            "quality_score": face.quality.score,
            "obstacles": list(face.quality.obstacles),
            **_face_note(count),
        }
    )


async def _tenant_or_404(request: web.Request, client_id: int, tenant_id: int) -> None:
    if not await request.app[STORE].tenant_exists(client_id, tenant_id):
        raise ApiError(404, f"Tenant {tenant_id} not found")


@routes.post("/identify")
@op("1:N search of a tenant", form=IdentifyForm, responses={200: IdentifyOut})
async def identify(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    form = await read_form(request)
    tenant_id = form.int("tenant_id")
    assert tenant_id is not None
    threshold = form.threshold(request.app[CONFIG].matching.threshold)
    if tenant_id == PLATFORM_TENANT:  # stricter than matching.threshold, never looser (see /verify)
        threshold = min(threshold, request.app[CONFIG].matching.threshold)
    await _tenant_or_404(request, client.id, tenant_id)
    timer = StageTimer()
    # The gallery (its version check, a catch-up) does not depend on the face: it is fetched while
    # the models run, so `search` is the search plus whatever of that is still left.
    fetching = asyncio.ensure_future(request.app[GALLERIES].gallery(client.id, tenant_id))
    try:
        face, count = await run_inference(request, _timed_largest_face, request.app[ENGINE], form.file(), timer)
    except BaseException:
        await _discard(fetching)
        raise
    with timer.stage("search"):
        gallery = await fetching
        matches = gallery.search(face.embedding, k=request.app[CONFIG].matching.top_k)
    best = matches[0] if matches else None
    matched = best is not None and best.distance <= threshold
    if tenant_id == PLATFORM_TENANT:  # recorded and announced; an inactive user is never named
        decided = await face_api.settle_identification(platform(request), client.id, matches, threshold,
                                                       _seconds(timer), device(request))
        if matched and not decided.success:
            assert best is not None
            matches = [m for m in matches if m.user_id != best.user_id]
            matched = False
    return web.json_response(
        {
            "match": matched,
            "name": best.name if matched and best else None,
            "user_id": _user_id_out(best.user_id) if matched and best else None,
            "distance": round(best.distance, 6) if best else None,
            "box": face.box.as_list(),
            "threshold": threshold,
            "candidates": [
                {"user_id": _user_id_out(m.user_id), "name": m.name, "distance": round(m.distance, 6)} for m in matches
            ],
            **_face_note(count),
            "timings": timer.as_dict(),
        }
    )


@routes.post("/verify")
@op("1:1 check against one enrolled user", form=VerifyForm, responses={200: VerifyOut})
async def verify(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    form = await read_form(request)
    tenant_id = form.int("tenant_id")
    user_id = form.user_id()
    assert tenant_id is not None
    threshold = form.threshold(request.app[CONFIG].matching.threshold)
    await _tenant_or_404(request, client.id, tenant_id)
    if tenant_id == PLATFORM_TENANT:
        return await _verify_platform_user(request, client.id, user_id, form.file(), threshold)
    guard, subject = request.app[CREDENTIAL_GUARD], f"{client.id}:{tenant_id}:{user_id}"
    if (block := await guard.user_locked(subject)) is not None:  # the sessions' lockout numbers (README)
        raise too_many(block, f"failed verifications of user {user_id}")
    timer = StageTimer()
    with timer.stage("search"):
        gallery = await request.app[GALLERIES].gallery(client.id, tenant_id)
    if not gallery.for_user(user_id):
        raise ApiError(404, f"User {user_id} is not enrolled in tenant {tenant_id}")
    face, count = await run_inference(request, _timed_largest_face, request.app[ENGINE], form.file(), timer)
    with timer.stage("search"):
        best = gallery.best_for_user(user_id, face.embedding)
    assert best is not None
    verified = best.distance <= threshold
    if verified:
        await guard.user_succeeded(subject)
    else:
        await guard.user_failed(subject)
    return _verified(user_id, verified, best.distance, threshold, face, count, timer)


async def _verify_platform_user(request: web.Request, client_id: int, user_id: str, image: bytes,
                                threshold: float) -> web.Response:
    """Tenant 0: the claimed platform user must be active and unlocked (sessions.lockout), and the
    answer is an attempt the platform counts (attempt row, audit, authentication.* webhook). The
    threshold may be stricter than matching.threshold, never looser: a looser one would let a
    caller authenticate a platform user with another face."""
    timer = StageTimer()
    threshold = min(threshold, request.app[CONFIG].matching.threshold)
    with timer.stage("search"):
        user, gallery = await verify_target(request, client_id, user_id)
    face, count = await run_inference(request, _timed_largest_face, request.app[ENGINE], image, timer)
    with timer.stage("search"):
        best = gallery.best_for_user(user.user_id, face.embedding)
    assert best is not None
    decided = await face_api.settle_verification(platform(request), client_id, user, best, threshold,
                                                 _seconds(timer), device(request))
    return _verified(user.user_id, decided.success, best.distance, threshold, face, count, timer)


def _verified(user_id: str, verified: bool, dist: float, threshold: float, face: Face, count: int,
              timer: StageTimer) -> web.Response:
    return web.json_response(
        {
            "success": True,
            "verified": verified,
            "message": "Verification successful, face matches" if verified else "Verification failed, face does not match",
            "user_id": _user_id_out(user_id),
            "distance": round(dist, 6),
            "threshold": threshold,
            "box": face.box.as_list(),
            **_face_note(count),
            "timings": timer.as_dict(),
        }
    )


def _path_int(request: web.Request, name: str) -> int:
    """Ids checked against their column: tenant ids are BIGINT, enrollment ids INTEGER."""
    return path_int(request, name, INT32 if name == "enrollment_id" else INT63)


@routes.get("/enrollments/{tenant_id}")
@op("Every enrollment of a tenant, with its encoding", responses={200: EnrollmentsOut})
async def list_enrollments(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    await _tenant_or_404(request, client.id, tenant_id)
    rows = await request.app[STORE].enrollments(client.id, tenant_id)
    return web.json_response(
        {
            "tenant_id": tenant_id,
            "enrollments": [
                {
                    "id": r.id,
                    "user_id": _user_id_out(r.user_id),
                    "name": r.name,
                    "encoding": [round(float(v), 7) for v in r.embedding],
                    "quality_score": r.quality,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ],
        }
    )


@routes.delete("/enrollments/{tenant_id}/name/{name}")
@op("Delete every enrollment with this name", responses={200: DeletedOut})
async def delete_by_name(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    name = request.match_info["name"]
    events, owners = await removal_events(request, client.id, tenant_id, name=name)
    deleted = await request.app[STORE].delete_enrollments_by_name(client.id, tenant_id, name, after=events)
    if not deleted:
        raise ApiError(404, f"No enrollment named {name!r} in tenant {tenant_id}")
    if owners:
        platform(request).announced()
    await record(request.app[STORE].engine, client.id, AuditEntry(
        "enrollment", "enrollment.deleted", "success", owners[0] if len(owners) == 1 else None,
        {"tenant_id": tenant_id, "deleted": deleted, **({"user_ids": owners} if owners else {})}, request.remote))
    return web.json_response({"deleted": deleted, "tenant_id": tenant_id, "name": name})


@routes.delete("/enrollments/{tenant_id}/{enrollment_id}")
@op("Delete one enrollment", responses={200: DeletedOut})
async def delete_enrollment(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    enrollment_id = _path_int(request, "enrollment_id")
    events, owners = await removal_events(request, client.id, tenant_id, enrollment_id=enrollment_id)
    if not await request.app[STORE].delete_enrollment(client.id, tenant_id, enrollment_id, after=events):
        raise ApiError(404, f"Enrollment {enrollment_id} not found in tenant {tenant_id}")
    if owners:
        platform(request).announced()
    await record(request.app[STORE].engine, client.id, AuditEntry(
        "enrollment", "enrollment.deleted", "success", owners[0] if owners else None,
        {"tenant_id": tenant_id, "enrollment_id": enrollment_id}, request.remote))
    return web.json_response({"deleted": 1, "tenant_id": tenant_id, "enrollment_id": enrollment_id})


@routes.post("/cache/{tenant_id}/invalidate")
@op("Drop the tenant's cached gallery", responses={200: InvalidatedOut, 503: DetailError})
async def cache_invalidate(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    ok = await request.app[GALLERIES].invalidate(client.id, tenant_id)
    if not ok:
        # The database version was bumped anyway: every worker reloads; only the old blob lingers.
        raise ApiError(503, "Cache backend unreachable; every worker still reloads the tenant from the database")
    return web.json_response({"invalidated": True, "tenant_id": tenant_id})


@routes.post("/cache/{tenant_id}/refresh-enrollments")
@op("Reload the tenant's gallery", responses={200: RefreshedOut})
async def cache_refresh(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    await _tenant_or_404(request, client.id, tenant_id)
    count = await request.app[GALLERIES].refresh(client.id, tenant_id)
    return web.json_response({"cache_refreshed": True, "tenant_id": tenant_id, "enrollment_count": count})


@routes.get("/cache/{tenant_id}/status")
@op("The tenant's gallery cache", responses={200: CacheStatusOut})
async def cache_status(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    status = await request.app[GALLERIES].status(client.id, tenant_id)
    return web.json_response(
        {
            "tenant_id": tenant_id,
            "cached": status.cached,
            "enrollment_count": status.enrollment_count,
            "ttl_seconds": status.ttl_seconds,
            "backend": status.backend,
            "online": status.cache_online,
        }
    )
