"""Issue 8 acceptance: the same person, the same answer, on every path.

A matrix over real models and real frames: the live person (the blink video) is enrolled
through each enrollment path and verified through each verification path, and every cell must
authenticate them; a different identity (EMP002, enrolled with another person's photo) claimed
by the live person must fail on every path, and a verification result must never name anyone
but the claimed user.

Enrollment paths: REST enrollment session (video frames), WebRTC enrollment session (video),
direct upload (`/api/auth/enrollment/direct/`, the still), root `/enroll` (tenant 0, the
user's UUID, the still). Verification paths: REST authentication session, WebRTC verification
session, WebSocket `process_frame`, root `/verify`.

One face may belong to only one user per client (duplicate check), so each enrollment path gets
its own API client with its own EMP001 (the live person) and EMP002 (the other person). The
app and the enrollments are made once for the module; each cell streams only until the first
decision. Users are addressed by external_id in some cells and by UUID in others; results
always carry the UUID.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from engine.face_engine import FaceEngine
from facestream.config import load_config
from tests.conftest import CLIP_CHALLENGES
from testkit.data import read
from tests.path_clients import (
    Outcome, data_url, new_api_client, root_enroll, root_verify, rtc_enroll, rtc_verify, rest_verify, ws_open,
    ws_receive, ws_verify,
)
from tests.session_helpers import direct_enroll, enroll_video, make_user, still_jpeg, video_jpegs

pytestmark = pytest.mark.asyncio(loop_scope="module")

OTHER_PHOTO = "faces/barack_obama/obama.jpg"
ENROLL_PATHS = ("rest_session", "webrtc", "direct", "root")
VERIFY_PATHS = ("rest", "webrtc", "websocket", "root")
CELLS = [(e, v) for e in ENROLL_PATHS for v in VERIFY_PATHS]


@dataclass
class PathClient:
    """One API client, its two users, and how the live person's enrollment went."""

    path: str
    headers: dict[str, str]
    live_uuid: str
    live_name: str
    other_uuid: str
    other_name: str
    enroll_error: str | None = None
    enroll_result: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    http: TestClient
    clients: dict[str, PathClient]


def ref(pc: PathClient, user: str, enroll_path: str, verify_path: str) -> str:
    """How a cell addresses the user: the root API takes only the UUID; elsewhere the cells
    alternate, so every other path is exercised by external_id and by UUID."""
    uuid, external = (pc.live_uuid, "EMP001") if user == "live" else (pc.other_uuid, "EMP002")
    if verify_path == "root":
        return uuid
    by_external = (ENROLL_PATHS.index(enroll_path) + VERIFY_PATHS.index(verify_path)) % 2 == 0
    return external if by_external else uuid


def live_frame() -> bytes:
    """A frame 2 s into the video: not the still the root and direct paths enrolled."""
    return next(data for t, data in video_jpegs() if t >= 2.0)


async def _enroll_live(http: TestClient, pc: PathClient) -> None:
    """Enroll EMP001 through `pc.path`; a failure is recorded, not raised, so the other paths'
    cells still run and this path's cells say why they cannot."""
    if pc.path == "rest_session":
        session, responses = await enroll_video(http, pc.headers, "EMP001")
        final = responses[-1]
        pc.enroll_result = {"session_id": session["session_id"], **final}
        if final["session_status"] != "completed":
            pc.enroll_error = f"REST enrollment session did not complete: {json.dumps(final)[:400]}"
    elif pc.path == "webrtc":
        status, created, events = await rtc_enroll(http, pc.headers, "EMP001", name=pc.live_name)
        statuses = [e["payload"] for e in events if e["type"] == "session_status"]
        done = [s for s in statuses if s.get("status") == "completed"]
        pc.enroll_result = {"create_status": status, "created": created, "completed": done[0] if done else None,
                            "errors": [e["payload"] for e in events if e["type"] == "error"]}
        if status != 201 or not done:
            pc.enroll_error = f"WebRTC enrollment did not complete: {pc.enroll_result}"
    elif pc.path == "direct":
        status, out = await direct_enroll(http, pc.headers, pc.live_uuid, still_jpeg())
        pc.enroll_result = out
        if status != 201:
            pc.enroll_error = f"direct enrollment answered {status}: {out}"
    else:
        status, out = await root_enroll(http, pc.headers, 0, pc.live_uuid, pc.live_name, still_jpeg())
        pc.enroll_result = out
        if status != 200:
            pc.enroll_error = f"root /enroll answered {status}: {out}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(engine: FaceEngine, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    db: Path = tmp_path_factory.mktemp("cross_path") / "facestream.db"
    config = load_config(env={}, overrides={
        "storage.database_url": f"sqlite:///{db}",
        "streaming.connect_timeout_s": 20.0,
        "rate_limits.enabled": False,   # many sessions per client in a minute; not what this tests
        "sessions.max_failures": 50,    # EMP002 fails on purpose on every path; no lockout here
        **CLIP_CHALLENGES,
    })
    http = TestClient(TestServer(create_app(config, engine=engine)))
    await http.start_server()
    clients: dict[str, PathClient] = {}
    try:
        for path in ENROLL_PATHS:
            headers = await new_api_client(http, f"cross-{path}")
            live_name, other_name = f"Lena Blinkwell {path}", f"Otto Fremdling {path}"
            pc = PathClient(path, headers, await make_user(http, headers, "EMP001", live_name), live_name,
                            await make_user(http, headers, "EMP002", other_name), other_name)
            status, out = await direct_enroll(http, headers, "EMP002", read(OTHER_PHOTO))
            assert status == 201, out
            await _enroll_live(http, pc)
            clients[path] = pc
        yield World(http, clients)
    finally:
        await http.close()


def _client(world: World, enroll_path: str) -> PathClient:
    pc = world.clients[enroll_path]
    if pc.enroll_error:
        pytest.fail(f"the live person could not be enrolled over {enroll_path}: {pc.enroll_error}")
    return pc


async def _verify(world: World, pc: PathClient, verify_path: str, user_ref: str) -> Outcome:
    if verify_path == "rest":
        return await rest_verify(world.http, pc.headers, user_ref)
    if verify_path == "webrtc":
        return await rtc_verify(world.http, pc.headers, user_ref)
    if verify_path == "websocket":
        return await ws_verify(world.http, pc.headers, user_ref)
    return await root_verify(world.http, pc.headers, user_ref, live_frame())


def _assert_names_only(outcome: Outcome, pc: PathClient, claimed: str) -> None:
    """A verification answers about the claimed user only: the other user of the client is in
    no match and nowhere else in what the path sent back."""
    uuid, name = (pc.other_uuid, pc.other_name) if claimed == "live" else (pc.live_uuid, pc.live_name)
    own_uuid = pc.live_uuid if claimed == "live" else pc.other_uuid
    for m in outcome.matches:
        assert m.get("user_id") == own_uuid, f"a match names another user: {m} ({outcome})"
    text = outcome.text()
    assert uuid not in text and name not in text, f"the other user leaks into the answer: {outcome}"


# -- enrollment, per path ---------------------------------------------------------------------


@pytest.mark.parametrize("enroll_path", ENROLL_PATHS)
async def test_enrollment_stores_the_face_under_the_users_uuid(world: World, enroll_path: str) -> None:
    pc = _client(world, enroll_path)
    http = world.http
    if enroll_path == "rest_session":
        enrollment = pc.enroll_result["enrollment"]
        assert enrollment["user_id"] == pc.live_uuid and pc.enroll_result["liveness_verified"] is True
    elif enroll_path == "webrtc":
        result = pc.enroll_result["completed"]["result"]
        assert result["user_id"] == pc.live_uuid, result
        assert result["liveness_verified"] is True
    elif enroll_path == "direct":
        assert pc.enroll_result["user_id"] == pc.live_uuid
    user = await (await http.get(f"/api/clients/users/{pc.live_uuid}/", headers=pc.headers)).json()
    assert user["has_enrollment"] is True and user["enrollments_count"] >= 1, user
    export = await (await http.get(f"/api/clients/users/{pc.live_uuid}/export/", headers=pc.headers)).json()
    assert export["enrollments"], export["user"]
    # The platform namespace (tenant 0) holds the two users' faces, under their UUIDs only.
    listing = await (await http.get("/enrollments/0", headers=pc.headers)).json()
    assert {str(e["user_id"]) for e in listing["enrollments"]} == {pc.live_uuid, pc.other_uuid}, [
        (e["user_id"], e["name"]) for e in listing["enrollments"]]


# -- the matrix -------------------------------------------------------------------------------


@pytest.mark.parametrize(("enroll_path", "verify_path"), CELLS, ids=[f"{e}-{v}" for e, v in CELLS])
async def test_live_person_is_verified(world: World, enroll_path: str, verify_path: str) -> None:
    pc = _client(world, enroll_path)
    outcome = await _verify(world, pc, verify_path, ref(pc, "live", enroll_path, verify_path))
    assert outcome.refused is None, str(outcome)
    assert outcome.success is True and outcome.status == "success", str(outcome)
    assert outcome.user_id == pc.live_uuid, str(outcome)  # the UUID, however the user was addressed
    if verify_path != "root":
        assert outcome.name == pc.live_name, str(outcome)
        assert outcome.liveness_verified is True, str(outcome)
        assert outcome.final_status == "completed", str(outcome)
    if verify_path in ("webrtc", "websocket"):  # one session, announced active, every event in it
        events = outcome.raw
        statuses = [e["payload"]["status"] for e in events if e["type"] == "session_status"]
        assert statuses[-1] == "completed" and not set(statuses[:-1]) & {"failed", "closed"}, statuses
        assert {e["session_id"] for e in events} == {outcome.session_id}, str(outcome)
    _assert_names_only(outcome, pc, "live")


@pytest.mark.parametrize(("enroll_path", "verify_path"), CELLS, ids=[f"{e}-{v}" for e, v in CELLS])
async def test_another_identity_is_refused(world: World, enroll_path: str, verify_path: str) -> None:
    """The live person claims to be EMP002 (enrolled with another person's photo)."""
    pc = _client(world, enroll_path)
    outcome = await _verify(world, pc, verify_path, ref(pc, "other", enroll_path, verify_path))
    assert outcome.refused is None, str(outcome)
    assert outcome.success is False and outcome.status == "failure", str(outcome)
    if verify_path != "root":
        assert outcome.reason == "face_mismatch", str(outcome)
        assert outcome.user_id in (None, pc.other_uuid), str(outcome)
    _assert_names_only(outcome, pc, "other")


async def test_a_websocket_session_is_announced_active_before_its_first_frame(world: World) -> None:
    """process_frame opens a live session whose events match a WebRTC session's: `session_status`
    (active) comes first, then the frame's `faces`, all under one session id."""
    pc = _client(world, "direct")
    ws = await ws_open(world.http, pc.headers)
    try:
        t, data = video_jpegs()[0]
        await ws.send_json({"type": "process_frame", "frame": data_url(data), "timestamp": t,
                            "options": {"mode": "identification", "require_liveness": True}})
        events = [await ws_receive(ws, 15.0)]
        while events[-1]["type"] not in ("faces", "error"):
            events.append(await ws_receive(ws, 15.0))
    finally:
        await ws.close()
    first = events[0]
    assert first["type"] == "session_status" and first["payload"]["status"] == "active", first
    assert events[-1]["type"] == "faces" and len(events[-1]["payload"]["faces"]) == 1, events
    assert {e["session_id"] for e in events} == {first["session_id"]}, events
