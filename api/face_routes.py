"""The root-level face API of seed `face_api_docs.md`: multipart in, JSON out, `{"detail"}` errors.

Tenants here are the integer `tenant_id`s of one authenticated client: client A's tenant 1 and
client B's tenant 1 are different galleries and never see each other.
"""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from api.face_auth import face_api_client
from api.forms import read_form
from api.inference import run_inference
from api.keys import CONFIG, ENGINE, GALLERIES, STORE
from events.audit import AuditEntry, record
from engine.face_engine import FaceEngine
from engine.matching import distance, parse_embedding
from engine.types import Face
from facestream import __version__

routes = web.RouteTableDef()


def _largest_face(engine: FaceEngine, data: bytes) -> tuple[Face, int]:
    return engine.embed_largest(engine.decode(data))


def _user_id_out(stored: str) -> int | str:
    """Integer user ids as the seed's integers; platform users' UUIDs as strings."""
    return int(stored) if stored.lstrip("-").isdigit() else stored


def _face_note(count: int) -> dict[str, object]:
    if count > 1:
        return {"faces_detected": count, "note": f"{count} faces found; the largest one was used"}
    return {"faces_detected": count}


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "version": __version__})


@routes.post("/encode")
async def encode(request: web.Request) -> web.Response:
    await face_api_client(request)
    form = await read_form(request)
    face, count = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
    return web.json_response({"encoding": [round(float(v), 7) for v in face.embedding], **_face_note(count)})


@routes.post("/compare")
async def compare(request: web.Request) -> web.Response:
    await face_api_client(request)
    form = await read_form(request)
    reference = parse_embedding(form.json("encoding"))
    threshold = form.threshold(request.app[CONFIG].matching.threshold)
    face, _ = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
    dist = distance(face.embedding, reference)
    return web.json_response({"match": dist <= threshold, "distance": round(dist, 6), "threshold": threshold})


@routes.post("/detect")
async def detect(request: web.Request) -> web.Response:
    await face_api_client(request)
    form = await read_form(request)
    engine = request.app[ENGINE]

    def work(data: bytes) -> list[list[float]]:
        return [d.box.as_list() for d in engine.detect(engine.decode(data))]

    boxes = await run_inference(request, work, form.file())
    return web.json_response({"faces": boxes})


@routes.post("/enroll")
async def enroll(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    form = await read_form(request)
    tenant_id = form.int("tenant_id")
    user_id = form.user_id()
    name = form.text("name")
    assert tenant_id is not None
    face, count = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
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
async def identify(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    form = await read_form(request)
    tenant_id = form.int("tenant_id")
    assert tenant_id is not None
    threshold = form.threshold(request.app[CONFIG].matching.threshold)
    await _tenant_or_404(request, client.id, tenant_id)
    face, count = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
    gallery = await request.app[GALLERIES].gallery(client.id, tenant_id)
    matches = gallery.search(face.embedding, k=request.app[CONFIG].matching.top_k)
    best = matches[0] if matches else None
    matched = best is not None and best.distance <= threshold
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
        }
    )


@routes.post("/verify")
async def verify(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    form = await read_form(request)
    tenant_id = form.int("tenant_id")
    user_id = form.user_id()
    assert tenant_id is not None
    threshold = form.threshold(request.app[CONFIG].matching.threshold)
    await _tenant_or_404(request, client.id, tenant_id)
    gallery = await request.app[GALLERIES].gallery(client.id, tenant_id)
    if not gallery.for_user(user_id):
        raise ApiError(404, f"User {user_id} is not enrolled in tenant {tenant_id}")
    face, count = await run_inference(request, _largest_face, request.app[ENGINE], form.file())
    best = gallery.best_for_user(user_id, face.embedding)
    assert best is not None
    verified = best.distance <= threshold
    return web.json_response(
        {
            "success": True,
            "verified": verified,
            "message": "Verification successful, face matches" if verified else "Verification failed, face does not match",
            "user_id": _user_id_out(user_id),
            "distance": round(best.distance, 6),
            "threshold": threshold,
            "box": face.box.as_list(),
            **_face_note(count),
        }
    )


def _path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        return int(raw)
    except ValueError:
        raise ApiError(422, f"'{name}' must be an integer, got {raw[:40]!r}") from None


@routes.get("/enrollments/{tenant_id}")
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
async def delete_by_name(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    name = request.match_info["name"]
    deleted = await request.app[STORE].delete_enrollments_by_name(client.id, tenant_id, name)
    if not deleted:
        raise ApiError(404, f"No enrollment named {name!r} in tenant {tenant_id}")
    await record(request.app[STORE].engine, client.id, AuditEntry(
        "enrollment", "enrollment.deleted", "success", None, {"tenant_id": tenant_id, "deleted": deleted},
        request.remote))
    return web.json_response({"deleted": deleted, "tenant_id": tenant_id, "name": name})


@routes.delete("/enrollments/{tenant_id}/{enrollment_id}")
async def delete_enrollment(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    enrollment_id = _path_int(request, "enrollment_id")
    if not await request.app[STORE].delete_enrollment(client.id, tenant_id, enrollment_id):
        raise ApiError(404, f"Enrollment {enrollment_id} not found in tenant {tenant_id}")
    await record(request.app[STORE].engine, client.id, AuditEntry(
        "enrollment", "enrollment.deleted", "success", None, {"tenant_id": tenant_id, "enrollment_id": enrollment_id},
        request.remote))
    return web.json_response({"deleted": 1, "tenant_id": tenant_id, "enrollment_id": enrollment_id})


@routes.post("/cache/{tenant_id}/invalidate")
async def cache_invalidate(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    ok = await request.app[GALLERIES].invalidate(client.id, tenant_id)
    if not ok:
        # The database version was bumped anyway: every worker reloads; only the old blob lingers.
        raise ApiError(503, "Cache backend unreachable; every worker still reloads the tenant from the database")
    return web.json_response({"invalidated": True, "tenant_id": tenant_id})


@routes.post("/cache/{tenant_id}/refresh-enrollments")
async def cache_refresh(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = _path_int(request, "tenant_id")
    await _tenant_or_404(request, client.id, tenant_id)
    count = await request.app[GALLERIES].refresh(client.id, tenant_id)
    return web.json_response({"cache_refreshed": True, "tenant_id": tenant_id, "enrollment_count": count})


@routes.get("/cache/{tenant_id}/status")
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
