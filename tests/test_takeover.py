"""Issue 25 part A: nobody takes over an account.

Real models, real photos (/work/shared/data/faces: Kit Harington, Rose Leslie, Barack Obama) and
the live blink video. A face of another person put onto an enrolled user is refused on every
enrollment path (REST direct, REST sessions, WebRTC, WebSocket, root tenant 0) with FACE_MISMATCH,
stores nothing, and the user never verifies with it; an explicit `replace: true` works and is
audited (security event + the enrollment.replaced webhook event). Refused enrollments leave no
user behind (SQLite and PostgreSQL). Failed and unknown decisions name nobody on the data
channel. Liveness failures never lock the user; face mismatches still do.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import STORE
from engine.face_engine import FaceEngine
from facestream.config import Config
from storage.events_schema import audit_logs, webhook_events
from testkit.data import read
from testkit.rtc_client import FrameTrack, RtcPeer, video_source
from tests.conftest import POSTGRES_ADMIN_URL, FaceClient
from tests.path_clients import (
    create_stream, data_url, error_code, json_of, root_enroll, root_verify, rtc_enroll, ws_open, ws_receive,
)
from tests.session_helpers import direct_enroll, make_user, post_frame, still_jpeg, video_jpegs

KIT = "faces/kit_harington/john1.jpeg"
KIT_2 = "faces/kit_harington/john2.jpeg"
ROSE = "faces/rose_leslie/img1.jpg"
OBAMA = "faces/barack_obama/obama.jpg"
AUTH_FRAME = "/api/auth/authentication/process-frame/"


async def _direct(http: TestClient, auth: dict[str, str], user_id: str, photo: bytes,
                  **fields: str) -> tuple[int, Any]:
    fd = aiohttp.FormData()
    fd.add_field("user_id", user_id)
    for key, value in fields.items():
        fd.add_field(key, value)
    fd.add_field("image", io.BytesIO(photo), filename="face.jpg", content_type="image/jpeg")
    resp = await http.post("/api/auth/enrollment/direct/", data=fd, headers=auth)
    return resp.status, await json_of(resp)


async def _security_events(http: TestClient, event_type: str) -> list[Any]:
    async with http.app[STORE].engine.connect() as conn:
        rows = await conn.execute(sa.select(audit_logs).where(audit_logs.c.category == "security",
                                                              audit_logs.c.event_type == event_type))
        return list(rows)


async def _webhook_events(http: TestClient, event_type: str) -> list[dict[str, Any]]:
    async with http.app[STORE].engine.connect() as conn:
        rows = await conn.execute(sa.select(webhook_events.c.data).where(webhook_events.c.event_type == event_type))
        return [dict(r.data) for r in rows]


async def _kit_user(http: TestClient, auth: dict[str, str]) -> str:
    """EMP-200, Pat, enrolled from Kit Harington's photo."""
    uid = await make_user(http, auth, "EMP-200", "Pat")
    status, out = await _direct(http, auth, "EMP-200", read(KIT))
    assert status == 201, out
    return uid


async def test_another_face_is_refused_on_rest_direct_session_and_root(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"rate_limits.enabled": False})
    uid = await _kit_user(http, auth)

    status, out = await _direct(http, auth, "EMP-200", read(ROSE))
    assert status == 409 and error_code(out) == "FACE_MISMATCH", out
    assert "Pat" not in json.dumps(out)

    # An upload session (one photo, no liveness), self-completing on the photo.
    resp = await http.post("/api/auth/enrollment/create/", headers=auth, json={
        "user_id": "EMP-200", "session_type": "upload", "require_liveness": False, "auto_complete": True})
    created = await json_of(resp)
    assert resp.status == 201, created
    status, out = await post_frame(http, created["session_token"], read(ROSE))
    assert status == 409 and error_code(out) == "FACE_MISMATCH", out

    status, out = await root_enroll(http, auth, 0, uid, "Rose", read(ROSE))
    assert status == 409 and "detail" in out, out

    # Nothing was stored: Rose never verifies as Pat; Kit still does.
    assert (await root_verify(http, auth, uid, read(ROSE))).success is False
    assert (await root_verify(http, auth, uid, read(KIT_2))).success is True
    assert len(await _security_events(http, "enrollment.face_mismatch")) == 3
    assert await _webhook_events(http, "enrollment.replaced") == []

    # The same person again is a re-enrollment, not a takeover.
    status, out = await _direct(http, auth, "EMP-200", read(KIT_2))
    assert status == 201, out


async def test_explicit_replace_works_and_is_audited(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"rate_limits.enabled": False})
    uid = await _kit_user(http, auth)
    status, out = await _direct(http, auth, "EMP-200", read(ROSE), replace="true")
    assert status == 201, out
    replaced = await _webhook_events(http, "enrollment.replaced")
    assert len(replaced) == 1 and replaced[0]["user_id"] == uid, replaced
    assert replaced[0]["replaced_by"].startswith("client:") and replaced[0]["distance_to_previous"] > 0.72
    async with http.app[STORE].engine.connect() as conn:
        audited = (await conn.execute(sa.select(sa.func.count()).select_from(audit_logs).where(
            audit_logs.c.event_type == "enrollment.replaced"))).scalar_one()
    assert audited == 1
    assert (await root_verify(http, auth, uid, read(ROSE))).success is True
    assert (await root_verify(http, auth, uid, read(KIT_2))).success is False

    # Back to Kit through an upload session asking for the replacement (replace_existing alias).
    resp = await http.post("/api/auth/enrollment/create/", headers=auth, json={
        "user_id": "EMP-200", "session_type": "upload", "require_liveness": False, "auto_complete": True,
        "replace_existing": True})
    created = await json_of(resp)
    assert resp.status == 201, created
    status, out = await post_frame(http, created["session_token"], read(KIT))
    assert status == 200 and out["session_status"] == "completed", out
    assert len(await _webhook_events(http, "enrollment.replaced")) == 2
    assert (await root_verify(http, auth, uid, read(KIT_2))).success is True
    assert (await root_verify(http, auth, uid, read(ROSE))).success is False


async def test_live_paths_refuse_another_face(face_client: FaceClient) -> None:
    """The live person (blink video) onto a user enrolled from Obama's photo: WebRTC, WebSocket
    and a REST video session all end in FACE_MISMATCH, and the live person never verifies."""
    http, auth = await face_client(**{"rate_limits.enabled": False, "streaming.connect_timeout_s": 20.0})
    uid = await make_user(http, auth, "EMP-300", "Barack")
    status, out = await direct_enroll(http, auth, "EMP-300", read(OBAMA))
    assert status == 201, out

    status, created, events = await rtc_enroll(http, auth, "EMP-300")
    assert status == 201, created
    errors = [e["payload"] for e in events if e["type"] == "error"]
    assert [e["code"] for e in errors] == ["FACE_MISMATCH"], [e["type"] for e in events]
    assert not any(e["type"] == "session_status" and e["payload"].get("status") == "completed" for e in events)

    ws = await ws_open(http, auth)
    code = None
    try:
        for t, data in video_jpegs():
            await ws.send_json({"type": "process_frame", "frame": data_url(data), "timestamp": t,
                                "options": {"mode": "enrollment", "user_id": "EMP-300"}})
            while code is None:
                event = await ws_receive(ws, 30.0)
                if event["type"] == "error":
                    code = event["payload"]["code"]
                if event["type"] in ("faces", "error"):
                    break
            if code is not None:
                break
    finally:
        await ws.close()
    assert code == "FACE_MISMATCH"

    resp = await http.post("/api/auth/enrollment/create/", headers=auth, json={"user_id": "EMP-300",
                                                                              "auto_complete": True})
    created = await json_of(resp)
    assert resp.status == 201, created
    last: tuple[int, Any] = (0, None)
    for t, data in video_jpegs():
        last = await post_frame(http, created["session_token"], data, t)
        if last[0] != 200 or last[1]["session_status"] == "completed":
            break
    assert last[0] == 409 and error_code(last[1]) == "FACE_MISMATCH", last

    assert (await root_verify(http, auth, uid, still_jpeg())).success is False
    assert len(await _security_events(http, "enrollment.face_mismatch")) == 3


# -- nothing half-done stays ----------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db_client(request: pytest.FixtureRequest, aiohttp_client: Callable[..., Awaitable[TestClient]],
                        engine: FaceEngine, make_config: Callable[..., Config]
                        ) -> AsyncIterator[tuple[TestClient, dict[str, str]]]:
    name = None
    overrides: dict[str, Any] = {"rate_limits.enabled": False}
    if request.param == "postgresql":
        name = f"facestream_test_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        overrides["storage.database_url"] = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        http = await aiohttp_client(create_app(make_config(**overrides), engine=engine))
        made = await http.app[STORE].create_client("orphans")
        yield http, {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
        await http.close()
    finally:
        if name is not None:
            admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def test_refused_enrollments_create_no_user(any_db_client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = any_db_client
    await _kit_user(http, auth)
    # FACE_ALREADY_ENROLLED for a new external id: the user it would have created is gone.
    status, out = await _direct(http, auth, "NEW-1", read(KIT_2), name="Someone")
    assert status == 409 and error_code(out) == "FACE_ALREADY_ENROLLED", out
    resp = await http.get("/api/clients/users/NEW-1/", headers=auth)
    assert resp.status == 404, await resp.text()
    # A photo with no face: refused, no user either.
    status, out = await _direct(http, auth, "NEW-2", read("scenes/dogs.jpg"))
    assert status in (400, 422), out
    assert (await http.get("/api/clients/users/NEW-2/", headers=auth)).status == 404
    # A REST upload session for a new id, refused at its completion: the session ends, no user.
    resp = await http.post("/api/auth/enrollment/create/", headers=auth, json={
        "user_id": "NEW-3", "session_type": "upload", "require_liveness": False, "auto_complete": True})
    created = await json_of(resp)
    assert resp.status == 201, created
    assert (await http.get("/api/clients/users/NEW-3/", headers=auth)).status == 200  # in flight
    status, out = await post_frame(http, created["session_token"], read(KIT))
    assert status == 409 and error_code(out) == "FACE_ALREADY_ENROLLED", out
    assert (await http.get("/api/clients/users/NEW-3/", headers=auth)).status == 404
    # A user created on purpose stays, faceless, after a refusal.
    await make_user(http, auth, "EMP-9", "Kept")
    status, out = await _direct(http, auth, "EMP-9", read(KIT_2))
    assert status == 409
    assert (await http.get("/api/clients/users/EMP-9/", headers=auth)).status == 200
    # And a successful enrollment of a new id keeps its user.
    status, out = await _direct(http, auth, "NEW-4", read(ROSE))
    assert status == 201, out
    assert (await http.get("/api/clients/users/NEW-4/", headers=auth)).status == 200


# -- failures name nobody -------------------------------------------------------------------


async def test_unknown_and_failed_results_on_the_data_channel_name_nobody(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"rate_limits.enabled": False, "streaming.connect_timeout_s": 20.0})
    people = {}
    for ext, name, photo in (("P-1", "Rosalind Quill", ROSE), ("P-2", "Barnaby Oak", OBAMA),
                             ("P-3", "Kestrel Vane", KIT)):
        people[await make_user(http, auth, ext, name)] = name
        status, out = await direct_enroll(http, auth, ext, read(photo))
        assert status == 201, out

    for body in ({"mode": "identification"}, {"mode": "verification", "user_id": "P-2"}):
        status, created = await create_stream(http, auth, require_liveness=True, timeout=30, **body)
        assert status == 201, created
        peer = RtcPeer(http, auth)
        peer.session = created
        await peer.connect(FrameTrack(video_source()))
        try:
            await peer.wait_for(lambda evs: any(e["type"] == "recognition_result" for e in evs), 40.0)
        finally:
            await peer.close()
        results = [e["payload"] for e in peer.events if e["type"] == "recognition_result"]
        assert results and all(r["status"] in ("failure", "unknown") for r in results), results
        claimed = created["user_id"] if body["mode"] == "verification" else None
        for r in results:  # a verification's failure names only the user the caller claimed, by id
            assert r["matches"] == [] and r["user_id"] == claimed and r["name"] is None, r
        wire = json.dumps(peer.events)
        for uid, name in people.items():
            assert name not in wire, (name, wire[:400])
            assert uid not in wire or uid == claimed, (uid, wire[:400])


# -- lockouts that protect the user --------------------------------------------------------------


async def _auth_session(http: TestClient, auth: dict[str, str], user: str, require_liveness: bool) -> tuple[int, Any]:
    resp = await http.post("/api/auth/authentication/create/", headers=auth, json={
        "user_id": user, "mode": "verification", "require_liveness": require_liveness})
    return resp.status, await json_of(resp)


async def test_liveness_failures_never_lock_the_user_but_mismatches_do(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"rate_limits.enabled": False, "sessions.liveness_window_s": 2.0})
    await make_user(http, auth, "EMP-7", "Lena")
    status, out = await direct_enroll(http, auth, "EMP-7", still_jpeg())
    assert status == 201, out
    photo = still_jpeg()
    for attack in range(6):  # a printed photo of the user, held up: never proven live
        status, created = await _auth_session(http, auth, "EMP-7", True)
        assert status == 201, (attack, created)
        out = {}
        for i in range(40):
            status, out = await post_frame(http, created["session_token"], photo, i * 0.25, path=AUTH_FRAME)
            assert status == 200, (attack, out)
            if out["status"] != "processing":
                break
        assert out["status"] == "failed" and out["error_code"] == "LIVENESS_CHECK_FAILED", out
        assert out["counts_toward_lockout"] is False
    assert len(await _security_events(http, "presentation_attack")) == 6

    # The real user is not locked out.
    status, created = await _auth_session(http, auth, "EMP-7", False)
    assert status == 201, created
    status, out = await post_frame(http, created["session_token"], photo, 0.0, path=AUTH_FRAME)
    assert status == 200 and out["success"] is True, out

    # Five decided mismatches (another person claiming EMP-7) still lock the user.
    for attempt in range(5):
        status, created = await _auth_session(http, auth, "EMP-7", False)
        assert status == 201, (attempt, created)
        status, out = await post_frame(http, created["session_token"], read(ROSE), 0.0, path=AUTH_FRAME)
        assert status == 200 and out["status"] == "failed" and out["counts_toward_lockout"] is True, out
    status, out = await _auth_session(http, auth, "EMP-7", False)
    assert status == 429 and error_code(out) == "ACCOUNT_LOCKED", out


async def test_presentation_attacks_throttle_the_address(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"rate_limits.enabled": False, "sessions.liveness_window_s": 2.0,
                                      "sessions.max_attacks_per_address": 2})
    await make_user(http, auth, "EMP-8", "Lena")
    status, out = await direct_enroll(http, auth, "EMP-8", still_jpeg())
    assert status == 201, out
    photo = still_jpeg()
    for attack in range(2):
        status, created = await _auth_session(http, auth, "EMP-8", True)
        assert status == 201, created
        for i in range(40):
            status, out = await post_frame(http, created["session_token"], photo, i * 0.25, path=AUTH_FRAME)
            assert status == 200, out
            if out["status"] != "processing":
                break
        assert out["error_code"] == "LIVENESS_CHECK_FAILED", out
    status, created = await _auth_session(http, auth, "EMP-8", True)
    assert status == 201, created  # the user is not locked ...
    status, out = await post_frame(http, created["session_token"], photo, 0.0, path=AUTH_FRAME)
    assert status == 429 and error_code(out) == "RATE_LIMIT_EXCEEDED", out  # ... this address is throttled
    assert out["error"]["details"]["scope"] == "address"
