"""Door cameras over REST (`/api/streaming/cameras/...`): CRUD, status, audit log and live view.

Client-scoped: a camera of another client answers 404, like a missing one. RTSP credentials are
never returned: every URL leaves as rtsp://***@host/... Cameras from config.yaml are listed and
viewable but not editable here (409: config.yaml is where they change).
"""

from __future__ import annotations

import dataclasses
import socket
import uuid

from aiohttp import web

from api.camera_schemas import CameraIn, CameraList, CameraOut, CameraStatus, ViewAnswer, ViewOffer
from api.client_auth import require_client
from api.errors import ApiError
from api.keys import CAMERAS, CONFIG
from api.openapi import ErrorBody, json_body, operation
from events.targets import TargetRefused, numeric_address, resolve_public_async
from doors.camera_config import CameraConfig
from doors.camera_url import CameraUrlError, check_target, parse_camera_url
from signaling.camera_view import answer_view
from doors.directory import CameraEntry, camera_spec
from streaming.errors import InvalidSignal
from streaming.rtsp import mask_url

routes = web.RouteTableDef()
BASE = "/api/streaming/cameras/"


def _out(request: web.Request, record: CameraEntry) -> dict[str, object]:
    cam = record.camera
    runner = request.app[CAMERAS].runner(cam.id)
    body = {**camera_spec(cam), "id": cam.id, "url": mask_url(cam.url, cam.url), "source": record.source,
            "status": runner.state if runner is not None else "disabled",
            "created_at": record.created_at.isoformat(), "updated_at": record.updated_at.isoformat()}
    return body


async def _record(request: web.Request, client_id: int) -> CameraEntry:
    record = await request.app[CAMERAS].store.get(request.match_info["camera_id"])
    if record is None or record.camera.client_id != client_id:
        raise ApiError(404, "Camera not found", "NOT_FOUND")
    return record


def _editable(record: CameraEntry) -> None:
    if record.source == "config":
        raise ApiError(409, "This camera is defined in config.yaml; change it there", "CAMERA_FROM_CONFIG",
                       {"camera_id": record.camera.id})


async def _check_target(request: web.Request, url: str) -> None:
    """The SSRF guard when a camera is saved (the reader checks again at every connect): no
    non-public address in any spelling, and a name that resolves now must resolve only to
    public addresses (one that does not resolve yet is judged at connect)."""
    if request.app[CONFIG].ingest.allow_private_targets:
        return
    try:
        check_target(url)
        host = parse_camera_url(url).host
        if numeric_address(host) is None:
            await resolve_public_async(host)
    except socket.gaierror:
        return
    except (CameraUrlError, TargetRefused) as exc:
        message = mask_url(str(exc), url)
        raise ApiError(400, f"url: {message}", "VALIDATION_ERROR", {"url": [message]}) from None


def _camera(body: CameraIn, camera_id: str, client_id: int) -> CameraConfig:
    fields = body.model_dump(exclude={"id"})
    for key in ("allowed_users", "allowed_groups", "schedule"):
        fields[key] = tuple(fields[key])
    return CameraConfig(id=camera_id, client_id=client_id, **fields)


@routes.get(BASE)
@operation("List the client's door cameras", tags="Streaming", responses={200: CameraList})
async def list_cameras(request: web.Request) -> web.Response:
    client = await require_client(request)
    records = await request.app[CAMERAS].store.of_client(client.id)
    results = [_out(request, r) for r in records]
    return web.json_response({"count": len(results), "results": results})


@routes.post(BASE)
@operation("Add a door camera (it starts at once)", tags="Streaming", body=CameraIn,
           responses={201: CameraOut, 409: ErrorBody})
async def create_camera(request: web.Request) -> web.Response:
    client = await require_client(request)
    body = await json_body(request, CameraIn)
    manager = request.app[CAMERAS]
    limit = request.app[CONFIG].ingest.max_cameras_per_client
    held = len(await manager.store.of_client(client.id))
    if held >= limit:  # each camera is a decoding thread and a connection: one client must not take them all
        raise ApiError(429, f"This client already has {held} cameras (ingest.max_cameras_per_client = {limit})",
                       "RATE_LIMIT_EXCEEDED", {"limit": limit, "cameras": held})
    camera_id = body.id or str(uuid.uuid4())
    if await manager.store.get(camera_id) is not None:
        raise ApiError(409, "A camera with this id already exists", "CAMERA_EXISTS", {"camera_id": camera_id})
    await _check_target(request, body.url)
    camera = _camera(body, camera_id, client.id)
    record = await manager.store.put(camera, "api")
    await manager.apply(camera)
    return web.json_response(_out(request, record), status=201)


@routes.get(BASE + "{camera_id}/")
@operation("Read a door camera", tags="Streaming", responses={200: CameraOut})
async def get_camera(request: web.Request) -> web.Response:
    client = await require_client(request)
    return web.json_response(_out(request, await _record(request, client.id)))


@routes.put(BASE + "{camera_id}/")
@operation("Replace a door camera's settings (it restarts)", tags="Streaming", body=CameraIn,
           responses={200: CameraOut, 409: ErrorBody})
async def put_camera(request: web.Request) -> web.Response:
    client = await require_client(request)
    record = await _record(request, client.id)
    _editable(record)
    body = await json_body(request, CameraIn)
    if body.id is not None and body.id != record.camera.id:
        raise ApiError(400, "id: cannot be changed", "VALIDATION_ERROR", {"id": ["cannot be changed"]})
    await _check_target(request, body.url)
    camera = _camera(body, record.camera.id, client.id)
    manager = request.app[CAMERAS]
    record = await manager.store.put(camera, "api")
    await manager.apply(camera)
    return web.json_response(_out(request, record))


@routes.delete(BASE + "{camera_id}/")
@operation("Delete a door camera (it stops; its audit rows stay)", tags="Streaming",
           responses={204: None, 409: ErrorBody})
async def delete_camera(request: web.Request) -> web.Response:
    client = await require_client(request)
    record = await _record(request, client.id)
    _editable(record)
    manager = request.app[CAMERAS]
    await manager.remove(record.camera.id)
    await manager.store.delete(record.camera.id)
    return web.Response(status=204)


@routes.get(BASE + "{camera_id}/status/")
@operation("A camera's connection status, frame counters and recent decisions", tags="Streaming",
           responses={200: CameraStatus})
async def camera_status(request: web.Request) -> web.Response:
    client = await require_client(request)
    record = await _record(request, client.id)
    runner = request.app[CAMERAS].runner(record.camera.id)
    if runner is None:
        cam = record.camera
        return web.json_response({
            "camera_id": cam.id, "door_id": cam.door_id, "status": "disabled", "last_error": None, "fps": 0.0,
            "frames_decoded": 0, "frames_processed": 0, "frames_dropped": 0, "reconnects": 0, "pending": None,
            "recent_decisions": [], "viewers": 0, "online_since": None, "session_id": None,
        })
    return web.json_response(runner.status())


@routes.get(BASE + "{camera_id}/decisions/")
@operation("The camera's access decisions, newest first (audit)", tags="Streaming")
async def camera_decisions(request: web.Request) -> web.Response:
    client = await require_client(request)
    record = await _record(request, client.id)
    try:
        limit = max(1, min(500, int(request.query.get("limit", "50"))))
    except ValueError as exc:
        raise ApiError(400, "limit: must be an integer", "VALIDATION_ERROR", {"limit": ["must be an integer"]}) from exc
    rows = await request.app[CAMERAS].store.decisions(client.id, record.camera.id, limit)
    results = [{**dataclasses.asdict(r), "created_at": r.created_at.isoformat()} for r in rows]
    for r in results:
        r.pop("client_id")
    return web.json_response({"count": len(results), "results": results})


@routes.post(BASE + "{camera_id}/view/")
@operation("Watch a camera live: SDP offer (recvonly video + `events` data channel) -> answer", tags="Streaming",
           body=ViewOffer, responses={200: ViewAnswer, 409: ErrorBody, 429: ErrorBody})
async def view_camera(request: web.Request) -> web.Response:
    client = await require_client(request)
    record = await _record(request, client.id)
    body = await json_body(request, ViewOffer)
    runner = request.app[CAMERAS].runner(record.camera.id)
    if runner is None:
        raise ApiError(409, "This camera is disabled", "INVALID_SESSION_STATE", {"camera_id": record.camera.id})
    try:
        answer = await answer_view(runner.viewers, body.model_dump(), request.app[CONFIG].streaming)
    except InvalidSignal as exc:
        raise ApiError(400, str(exc), "INVALID_SDP") from exc
    except OverflowError as exc:
        raise ApiError(429, str(exc), "RATE_LIMIT_EXCEEDED") from exc
    return web.json_response({"camera_id": record.camera.id, "type": answer.type, "sdp": answer.sdp})
