"""Helpers for the REST session tests: real frames as JPEG bytes and small request wrappers."""

from __future__ import annotations

import io
import json
from functools import cache
from typing import Any

import aiohttp
import cv2
import numpy as np
from aiohttp.test_utils import TestClient

from testkit.media import still_image, video_frames


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


@cache
def video_jpegs(seconds: float = 14.0, fps: float = 15.0) -> tuple[tuple[float, bytes], ...]:
    """The blink video decoded with PyAV and re-encoded as JPEG frames, with their media times."""
    return tuple((t, jpeg(img)) for t, img in video_frames(fps, seconds))


@cache
def still_jpeg() -> bytes:
    return jpeg(still_image())


def frame_form(data: bytes, t: float | None = None, field: str = "frame", token: str | None = None) -> aiohttp.FormData:
    fd = aiohttp.FormData()
    fd.add_field(field, io.BytesIO(data), filename="frame.jpg", content_type="image/jpeg")
    if t is not None:
        fd.add_field("frame_metadata", json.dumps({"timestamp": t, "device_orientation": "portrait"}))
    if token is not None:
        fd.add_field("session_token", token)
    return fd


async def post_frame(client: TestClient, token: str, data: bytes, t: float | None = None,
                     path: str = "/api/auth/enrollment/process-frame/", headers: dict[str, str] | None = None
                     ) -> tuple[int, dict[str, Any]]:
    resp = await client.post(path, data=frame_form(data, t), headers={"X-Session-Token": token, **(headers or {})})
    return resp.status, await resp.json()


async def create_enrollment(client: TestClient, auth: dict[str, str], user_id: str, **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/auth/enrollment/create/", json={"user_id": user_id, **body}, headers=auth)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def enroll_video(client: TestClient, auth: dict[str, str], user_id: str, **body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Drive a self-completing enrollment (`auto_complete: true`, unless the caller says otherwise) with
    the blink video until it completes; returns (session, responses). Tests of the documented flow that
    waits for complete/ (the default on /api/auth/enrollment/create/) use create_enrollment directly."""
    session = await create_enrollment(client, auth, user_id, **{"auto_complete": True, **body})
    responses = []
    for t, data in video_jpegs():
        status, out = await post_frame(client, session["session_token"], data, t)
        assert status == 200, out
        responses.append(out)
        if out["session_status"] == "completed":
            break
    return session, responses


async def direct_enroll(client: TestClient, auth: dict[str, str], user_id: str, data: bytes) -> tuple[int, dict[str, Any]]:
    fd = aiohttp.FormData()
    fd.add_field("user_id", user_id)
    fd.add_field("image", io.BytesIO(data), filename="face.jpg", content_type="image/jpeg")
    resp = await client.post("/api/auth/enrollment/direct/", data=fd, headers=auth)
    return resp.status, await resp.json()


async def make_user(client: TestClient, auth: dict[str, str], external_id: str, name: str | None = None) -> str:
    """A platform user through the users API; returns its id (what the gallery stores)."""
    resp = await client.post("/api/clients/users/", json={"external_id": external_id, "name": name or external_id},
                             headers=auth)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])
