"""POST /enrollments/{tenant_id}/import: faces whose embeddings are already computed, without
their photos (migrating a gallery from another system; filling a benchmark gallery through the
real API). A JSON array or NDJSON (one object a line) of {user_id, name, encoding[, quality]};
each encoding is validated like /compare's; at most matching.import_batch_max faces a request,
stored in one transaction with one gallery version bump, so a request is all or nothing and
every worker adds exactly those rows to its gallery. Tenant 0 (the platform's users) imports by
the enrollment rules of sessions.face_api: known or auto-created active users, no face of
another user, enrollment.completed events.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Any

import numpy as np
from aiohttp import web

from api.body_reader import BodyError, loads, read_text
from api.errors import ApiError
from api.face_auth import face_api_client
from api.face_platform import PLATFORM_TENANT, device, platform
from api.face_schemas import ERRORS, ImportBody, ImportOut
from api.input_guard import INT63, path_int
from api.keys import CONFIG, ENGINE, STORE
from api.openapi import operation
from engine.errors import InvalidEmbeddingError
from engine.matching import parse_embedding
from sessions import face_api
from storage.records import NewFace

routes = web.RouteTableDef()

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")
_MAX_NAME = 200


def _items(body: str, content_type: str) -> list[Any]:
    if content_type in NDJSON_TYPES:
        items = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(loads(line))
            except BodyError as exc:
                raise ApiError(400, f"line {number} is {exc}" if str(exc).startswith("not valid")
                               else f"line {number}: {exc}") from None
        return items
    try:
        parsed = loads(body)
    except BodyError as exc:  # invalid, nested too deeply, a number beyond float range
        raise ApiError(400, f"Body is {exc}" if str(exc).startswith("not valid") else f"Body: {exc}") from None
    if not isinstance(parsed, list):
        raise ApiError(422, "Body must be a JSON array of {user_id, name, encoding} objects (or NDJSON)")
    return parsed


def _user_id(raw: object) -> str:
    """The same forms /enroll accepts: an integer, or a platform user's UUID."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return str(uuid.UUID(text)) if len(text) == 36 else str(int(text))
        except ValueError:
            pass
    raise ValueError(f"user_id must be an integer or a user UUID, got {str(raw)[:40]!r}")


def _face(item: object, dim: int, model_id: str) -> NewFace:
    if not isinstance(item, dict):
        raise ValueError("must be an object with user_id, name and encoding")
    missing = [k for k in ("user_id", "name", "encoding") if k not in item]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    name = item["name"].strip() if isinstance(item["name"], str) else ""
    if not name or len(name) > _MAX_NAME:
        raise ValueError(f"name must be a non-empty string of at most {_MAX_NAME} characters")
    quality = item.get("quality", 0.0)
    if not isinstance(quality, (int, float)) or isinstance(quality, bool) or not 0.0 <= quality <= 1.0:
        raise ValueError("quality must be a number between 0 and 1")
    return NewFace(_user_id(item["user_id"]), name, _embedding(item["encoding"], dim, model_id), float(quality))


def _embedding(values: object, dim: int, model_id: str) -> np.ndarray:
    """parse_embedding's checks; plain lists of numbers of an already validated length take a
    vectorised path (per-element isinstance checks cost more than the rest of an import)."""
    if isinstance(values, list) and len(values) == dim and set(map(type, values)) <= {int, float}:
        vec = np.asarray(values, dtype=np.float32)
        norm = float(np.linalg.norm(vec))
        if np.isfinite(vec).all() and norm > 0.0:
            return vec / norm
    try:
        return parse_embedding(values, dim, model_id)
    except InvalidEmbeddingError as exc:
        raise ValueError(str(exc)) from None


def _faces(items: list[Any], dim: int, model_id: str) -> list[NewFace]:
    """Every item validated against this server's recogniser (off the event loop: a thousand
    512-number lists take a while)."""
    faces: list[NewFace] = []
    for index, item in enumerate(items):
        try:
            faces.append(_face(item, dim, model_id))
        except ValueError as exc:
            raise ApiError(422, f"item {index}: {exc}") from None
    return faces


@routes.post("/enrollments/{tenant_id}/import")
@operation("Import precomputed embeddings: a JSON array or NDJSON of {user_id, name, encoding[, quality]}, "
           "all or nothing", tags="Face API", body=ImportBody, responses={**ERRORS, 200: ImportOut},
           security=("ApiKey",))
async def import_enrollments(request: web.Request) -> web.Response:
    client = await face_api_client(request)
    tenant_id = path_int(request, "tenant_id", INT63)
    limit = request.app[CONFIG].matching.import_batch_max
    loop = asyncio.get_running_loop()
    # room for every face at full float precision (~25 characters a number), whatever max_upload_bytes
    body_limit = max(request.app[CONFIG].server.max_upload_bytes, limit * (request.app[ENGINE].embedding_dim * 32 + 1024))
    items = await loop.run_in_executor(None, _items, await read_text(request, body_limit), request.content_type)
    if not items:
        raise ApiError(422, "Nothing to import: the body holds no faces")
    if len(items) > limit:
        raise ApiError(413, f"At most {limit} faces per request (got {len(items)}); send them in batches")
    engine = request.app[ENGINE]
    faces = await loop.run_in_executor(None, _faces, items, engine.embedding_dim, engine.recognizer_id)
    store = request.app[STORE]
    if tenant_id == PLATFORM_TENANT:  # the platform's users: the enrollment rules (users, duplicates, events)
        write = functools.partial(store.add_enrollments, client.id, tenant_id)
        ids, total = await face_api.import_faces(platform(request), client.id, faces, write, device(request))
    else:
        ids, total = await store.add_enrollments(client.id, tenant_id, faces)
    return web.json_response({"imported": len(ids), "tenant_id": tenant_id, "enrollment_ids": ids, "count": total})
