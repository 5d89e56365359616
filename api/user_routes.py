"""The client's users (`/api/clients/users/`, tag `Client Management`).

A user's faces live in the client's face gallery, tenant 0 (sessions.service.TENANT_ID), with
user_id = the user's id. Deleting a user deletes their rows in every tenant and bumps the client's
gallery versions in one transaction, so no worker matches them afterwards, cache or no cache (right
to deletion); the export returns the record and the embeddings (data portability).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.client_auth import require_client
from api.errors import ApiError
from api.identity_schemas import CreateUser, UpdateUser, UserDeleted, UserExport, UserOut, UserPage, UserQuery
from api.keys import ENGINE, EVENT_SINK, GALLERIES, USERS
from api.openapi import ErrorBody, json_body, operation, query_params
from sessions.service import AUTO_CREATED
from sessions.user_events import user_event
from storage.records import User
from storage.timestamps import iso_precise, iso_seconds
from storage.user_store import DuplicateExternalId, UserFilter

routes = web.RouteTableDef()
TAG = "Client Management"
BASE = "/api/clients/users/"


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id, "external_id": user.external_id, "name": user.name, "email": user.email,
        "metadata": user.metadata, "is_active": user.is_active, "has_enrollment": user.has_enrollment,
        "enrollments_count": user.enrollments_count, "last_authentication": iso_precise(user.last_authentication),
        "created_at": iso_precise(user.created_at), "updated_at": iso_precise(user.updated_at),
    }


def page_links(request: web.Request, page: int, page_size: int, count: int) -> dict[str, Any]:
    def link(n: int) -> str:
        return str(request.rel_url.update_query(page=n, page_size=page_size))

    last = max((count + page_size - 1) // page_size, 1)
    return {
        "count": count,
        "next": link(page + 1) if page < last else None,
        "previous": link(min(page - 1, last)) if page > 1 else None,
        "page": page,
        "page_size": page_size,
    }


def _duplicate(external_id: str) -> ApiError:
    return ApiError(409, f"A user with external_id {external_id!r} already exists", "USER_ALREADY_EXISTS",
                    {"external_id": [f"{external_id!r} is taken"]})


async def _user_or_404(request: web.Request, client_id: int) -> User:
    # Users are named by platform id (UUID) or by the client's external_id on every route, as
    # user_guide.md does (`PUT /api/clients/users/EMP001/`).
    ref = request.match_info["user_id"][:128]
    users = request.app[USERS]
    user = await users.get(client_id, ref[:64]) or await users.by_external_id(client_id, ref)
    if user is None:
        raise ApiError(404, "User not found", "USER_NOT_FOUND")
    return user


@routes.get(BASE)
@operation("List users (paginated; search name/email, is_active, has_enrollment)", tags=TAG, query=UserQuery,
           responses={200: UserPage})
async def list_users(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, UserQuery)
    flt = UserFilter(q.search or None, q.is_active, q.has_enrollment)
    count, users = await request.app[USERS].list(client.id, flt, (q.page - 1) * q.page_size, q.page_size)
    links = page_links(request, q.page, q.page_size, count)
    return web.json_response({**links, "results": [user_json(u) for u in users]})


@routes.post(BASE)
@operation("Create a user", tags=TAG, body=CreateUser, responses={201: UserOut, 409: ErrorBody})
async def create_user(request: web.Request) -> web.Response:
    client = await require_client(request)
    body = await json_body(request, CreateUser)
    try:
        user = await request.app[USERS].create(
            client.id, body.external_id, body.name, body.email, body.metadata,
            after=lambda made: request.app[EVENT_SINK].hook(client.id, "user.created", user_event(made)))
    except DuplicateExternalId:
        user = await _claim_auto_created(request, client.id, body)
    request.app[EVENT_SINK].wake()
    return web.json_response(user_json(user), status=201)


async def _claim_auto_created(request: web.Request, client_id: int, body: CreateUser) -> User:
    """api_integration_guide.md enrolls `user123` in its Quick Start (sessions.auto_create_users
    makes that user, named after its id, marked `created_by: enrollment`) and then creates
    `user123` with a name and email: that first explicit create fills the auto-created record
    (name, email, metadata replace the placeholders, the marker goes) instead of 409. The marker
    is gone afterwards, so any later create of the same external_id is USER_ALREADY_EXISTS."""
    users = request.app[USERS]
    existing = await users.by_external_id(client_id, body.external_id)
    if existing is None or existing.metadata != AUTO_CREATED:
        raise _duplicate(body.external_id)
    fields = {"name": body.name, "email": body.email, "metadata": body.metadata}
    event = {**user_event(existing), **fields, "updated_at": iso_seconds()}
    claimed = await users.update(client_id, existing.id, after=request.app[EVENT_SINK].hook(
        client_id, "user.created", event), **fields)
    if claimed is None:  # deleted in between
        raise _duplicate(body.external_id)
    return claimed


@routes.get(BASE + "{user_id}/")
@operation("Read a user", tags=TAG, responses={200: UserOut})
async def get_user(request: web.Request) -> web.Response:
    client = await require_client(request)
    return web.json_response(user_json(await _user_or_404(request, client.id)))


@routes.put(BASE + "{user_id}/")
@operation("Update a user (fields sent replace the stored ones)", tags=TAG, body=UpdateUser,
           responses={200: UserOut, 409: ErrorBody})
async def update_user(request: web.Request) -> web.Response:
    client = await require_client(request)
    user = await _user_or_404(request, client.id)
    changes = (await json_body(request, UpdateUser)).model_dump(exclude_unset=True)
    nulls = [k for k, v in changes.items() if v is None and k != "email"]
    if nulls:
        raise ApiError(400, f"{nulls[0]}: may not be null", "VALIDATION_ERROR", {k: ["may not be null"] for k in nulls})
    try:
        hook = _updated_hook(request, client.id, user, changes)
        updated = await request.app[USERS].update(client.id, user.id, after=hook, **changes)
    except DuplicateExternalId:
        raise _duplicate(str(changes.get("external_id"))) from None
    if updated is None:
        raise ApiError(404, "User not found", "USER_NOT_FOUND")
    return web.json_response(user_json(updated))


@routes.delete(BASE + "{user_id}/")
@operation("Delete a user and all their face data (right to deletion)", tags=TAG, responses={200: UserDeleted})
async def delete_user(request: web.Request) -> web.Response:
    client = await require_client(request)
    found = await _user_or_404(request, client.id)
    user_id = found.id
    sink = request.app[EVENT_SINK]
    removed = await request.app[USERS].delete(client.id, user_id, after=sink.user_deleted(client.id, user_id, {
        "user_id": user_id, "external_id": found.external_id,
        "embeddings_deleted": found.enrollments_count,
        "deleted_at": iso_seconds()}))
    sink.wake()
    if removed is None:
        raise ApiError(404, "User not found", "USER_NOT_FOUND")
    # The delete bumped the client's gallery versions in its own transaction, so every worker
    # already stops matching the user; this only drops the old cached copies early (best effort).
    await request.app[GALLERIES].invalidate_client(client.id)
    return web.json_response({"id": user_id, "deleted": True, "embeddings_deleted": removed})


def _updated_hook(request: web.Request, client_id: int, user: User, changes: dict[str, Any]) -> Any:
    """user.updated, committed with the update: the record as it will be, and which fields were sent."""
    after = {**user_event(user), **{k: v for k, v in changes.items() if k in ("external_id", "name", "email",
                                                                             "is_active", "metadata")},
             "updated_at": iso_seconds()}
    request.app[EVENT_SINK].wake()  # the worker's next round runs after this request's write
    return request.app[EVENT_SINK].hook(client_id, "user.updated", {**after, "changed_fields": sorted(changes)})


async def _set_active(request: web.Request, active: bool) -> web.Response:
    client = await require_client(request)
    user = await _user_or_404(request, client.id)
    updated = await request.app[USERS].update(client.id, user.id, is_active=active,
                                              after=_updated_hook(request, client.id, user, {"is_active": active}))
    if updated is None:
        raise ApiError(404, "User not found", "USER_NOT_FOUND")
    return web.json_response(user_json(updated))


@routes.post(BASE + "{user_id}/activate/")
@operation("Activate a user", tags=TAG, responses={200: UserOut})
async def activate_user(request: web.Request) -> web.Response:
    return await _set_active(request, True)


@routes.post(BASE + "{user_id}/deactivate/")
@operation("Deactivate a user (kept, but refused by authentication sessions)", tags=TAG, responses={200: UserOut})
async def deactivate_user(request: web.Request) -> web.Response:
    return await _set_active(request, False)


@routes.get(BASE + "{user_id}/export/")
@operation("Export a user's record and face embeddings (data portability)", tags=TAG, responses={200: UserExport})
async def export_user(request: web.Request) -> web.Response:
    client = await require_client(request)
    user = await _user_or_404(request, client.id)
    rows = await request.app[USERS].embeddings(user)
    body = {
        "user": user_json(user),
        "enrollments": [
            {"enrollment_id": r.id, "quality_score": r.quality, "created_at": iso_precise(r.created_at),
             "embedding": [round(float(v), 7) for v in r.embedding], "model": r.model_id}
            for r in rows
        ],
        "embedding_model": request.app[ENGINE].recognizer_id,  # the recogniser this server runs
        "exported_at": iso_seconds(),
    }
    return web.json_response(body, headers={"Content-Disposition": f'attachment; filename="user-{user.id}.json"'})
