"""Plumbing shared by the session routes: the services' lifecycle, frame input, errors.

Frames arrive as multipart (`frame` or `image` file part, or a data URL in that field) or as
JSON (`frame_data` / `image` data URL or base64). The session token comes from `X-Session-Token`
or the body. A caller that also sends `Authorization` must own the session (else 404, so a
token of another client reveals nothing).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from api.body_reader import loads, read_post
from api.client_auth import require_client
from api.errors import ApiError
from api.keys import CONFIG, SESSION_SERVICES, SESSIONS
from api.rate_limit import check_session_capacity
from storage.records import Client
from api.openapi import json_body, validation_error
from api.session_schemas import FrameJson
from sessions.errors import SessionError
from sessions.service import SessionServices
from storage.session_store import SessionRecord

async def optional_client(request: web.Request) -> int | None:
    return (await require_client(request)).id if "Authorization" in request.headers else None


@dataclass(frozen=True)
class FrameInput:
    token: str | None
    data: bytes
    timestamp: float | None


def decode_data_url(value: str) -> bytes:
    raw = value.partition(",")[2] if value.startswith("data:") else value
    try:
        data = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "Could not decode image data (expected a base64 data URL)", "INVALID_IMAGE") from None
    if not data:
        raise ApiError(400, "Image data is empty", "INVALID_IMAGE")
    return data


def parse_timestamp(meta: Any) -> float | None:
    """`frame_metadata.timestamp`: unix seconds (or milliseconds) or an ISO 8601 time."""
    if isinstance(meta, str):
        try:
            meta = loads(meta)
        except ValueError:  # body_reader.BodyError included
            raise ApiError(400, "frame_metadata must be a JSON object", "VALIDATION_ERROR") from None
    if not isinstance(meta, dict) or meta.get("timestamp") is None:
        return None
    ts = meta["timestamp"]
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return float(ts) / 1000.0 if ts > 1e11 else float(ts)
    if isinstance(ts, str):
        try:
            return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise ApiError(400, "frame_metadata.timestamp must be unix seconds or an ISO 8601 time", "VALIDATION_ERROR")


async def read_multipart(request: web.Request) -> tuple[dict[str, str], dict[str, list[bytes]]]:
    data = await read_post(request)
    fields: dict[str, str] = {}
    files: dict[str, list[bytes]] = {}
    for key, value in data.items():
        if isinstance(value, web.FileField):
            files.setdefault(key, []).append(value.file.read())
            value.file.close()
        else:
            fields[key] = str(value)
    return fields, files


async def read_frame(request: web.Request) -> FrameInput:
    header_token = request.headers.get("X-Session-Token")
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        fields, files = await read_multipart(request)
        for name in ("frame", "image"):
            if files.get(name):
                data = files[name][0]
                break
        else:
            text = next((fields[n] for n in ("frame", "image", "frame_data") if fields.get(n)), None)
            if text is None:
                raise ApiError(400, "frame: upload the image as 'frame' or 'image'", "VALIDATION_ERROR",
                               {"frame": ["is required"]})
            data = decode_data_url(text)
        if not data:
            raise ApiError(400, "The uploaded frame is empty", "INVALID_IMAGE")
        return FrameInput(header_token or fields.get("session_token"), data,
                          parse_timestamp(fields.get("frame_metadata")))
    if request.content_type != "application/json" and request.can_read_body:
        raise ApiError(415, f"Content-Type must be multipart/form-data or application/json (got {request.content_type})",
                       "UNSUPPORTED_MEDIA_TYPE")
    body = await json_body(request, FrameJson)
    text = body.frame_data or body.image
    if not text:
        raise ApiError(400, "frame_data: is required (a base64 data URL)", "VALIDATION_ERROR",
                       {"frame_data": ["is required"]})
    return FrameInput(header_token or body.session_token, decode_data_url(text), parse_timestamp(body.frame_metadata))


def model_from_fields(model: Any, fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def check_capacity(request: web.Request, client: Client) -> None:
    """The tier's concurrent-session limit counts REST and WebRTC sessions together."""
    active = services(request).live.count(client.id) + len(request.app[SESSIONS].sessions_of(client.id))
    check_session_capacity(request.app[CONFIG], client, active)


def services(request: web.Request) -> SessionServices:
    return request.app[SESSION_SERVICES]



async def owned_session(request: web.Request, kind: str) -> SessionRecord:
    """The caller's `kind` session named in the path; another client's id is simply not found."""
    client = await require_client(request)
    row = await services(request).store.by_id(client.id, request.match_info["session_id"], kind)
    if row is None:
        raise SessionError("SESSION_NOT_FOUND", "Session not found")
    return row
