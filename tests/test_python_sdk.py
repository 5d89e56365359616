"""The Python client package (clients/python, `facestream_client`) against the live app: the
sync and async clients on real users, enrollment, authentication and streaming sessions, errors,
and retries that wait out Retry-After."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from engine.face_engine import FaceEngine
from facestream_client import AsyncClient, Client, FacestreamError
from tests.docs.conftest import FACE, OTHER, LiveServer


@pytest.fixture(scope="module")
def server(engine: FaceEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(engine, tmp_path_factory.mktemp("sdk") / "facestream.db")
    yield live
    live.close()


def test_sync_client_users_enrollment_authentication_streaming(server: LiveServer) -> None:
    key, secret = server.new_client("sdk-sync")
    with Client(server.base, key, secret) as fs:
        user = fs.create_user("EMP001", "John Doe", metadata={"department": "IT"})
        assert fs.get_user("EMP001")["id"] == user["id"] == fs.get_user(user["id"])["id"]
        assert fs.update_user("EMP001", name="John Smith")["name"] == "John Smith"
        assert fs.list_users(search="john")["count"] == 1
        session = fs.create_enrollment("EMP001", session_type="upload")
        assert session["target_samples"] == 1
        frame = fs.enrollment_frame(session["session_token"], FACE.read_bytes(), timestamp=0.0)
        assert frame["status"] == "ready_to_complete" and frame["requires_more_frames"] is False
        enrollment = fs.complete_enrollment(session["session_token"])
        assert enrollment["status"] == "completed" and enrollment["user_id"] == user["id"]
        auth = fs.create_authentication("EMP001", mode="verification", require_liveness=False)
        decided = fs.authentication_frame(auth["session_token"], FACE.read_bytes())
        assert decided["status"] == "completed" and decided["result"]["authenticated"] is True
        auth = fs.create_authentication("EMP001", require_liveness=False)
        refused = fs.authentication_frame(auth["session_token"], OTHER.read_bytes())
        assert refused["status"] == "failed" and refused["result"]["authenticated"] is False
        stream = fs.create_stream_session(mode="verification", user_id="EMP001")
        assert stream["signaling_url"].startswith("ws://") and stream["ice_servers"] is not None
        assert fs.close_stream_session(stream["session_id"])["status"] == "closed"
        # Enrolling an unknown external id creates it (sessions.auto_create_users).
        assert fs.direct_enrollment("EMP002", OTHER.read_bytes())["status"] == "completed"
        assert fs.deactivate_user("EMP002")["is_active"] is False
        with pytest.raises(FacestreamError) as err:
            fs.get_user("nobody")
        assert err.value.status == 404 and err.value.code == "USER_NOT_FOUND" and err.value.request_id
        assert fs.delete_user("EMP002")["deleted"] is True


async def test_async_client_same_calls(server: LiveServer) -> None:
    key, secret = server.new_client("sdk-async")
    async with AsyncClient(server.base, key, secret) as fs:
        user = await fs.create_user("A1", "Ann")
        assert (await fs.get_user("A1"))["id"] == user["id"]
        enrolled = await fs.direct_enrollment("A1", FACE.read_bytes())
        assert enrolled["status"] == "completed" and enrolled["user_id"] == user["id"]
        auth = await fs.create_authentication("A1", require_liveness=False)
        decided = await fs.authentication_frame(auth["session_token"], FACE.read_bytes(), timestamp=1.0)
        assert decided["status"] == "completed" and decided["matched_user"]["user_id"] == user["id"]
        with pytest.raises(FacestreamError) as err:
            await fs.create_authentication("ghost")
        assert err.value.status == 404 and err.value.code == "USER_NOT_FOUND"


def test_retries_wait_out_retry_after(server: LiveServer) -> None:
    """A basic-tier client spends its 50 requests a minute; the next call is answered 429 with a
    Retry-After, which the client waits (capped by max_retry_wait) before each retry."""
    key, secret = server.new_client("sdk-basic", tier="basic")
    seen: list[tuple[int, str | None]] = []
    http = requests.Session()
    http.hooks["response"].append(lambda r, *a, **k: seen.append((r.status_code, r.headers.get("Retry-After"))))
    fs = Client(server.base, key, secret, session=http, max_retries=2, max_retry_wait=0.3)
    if time.time() % 60 > 40:  # the limit is a fixed minute window: spend it and ask again within one
        time.sleep(60.5 - time.time() % 60)
    for _ in range(60):
        try:
            fs.list_users()
        except FacestreamError:
            break
    started = time.monotonic()
    with pytest.raises(FacestreamError) as err:
        fs.list_users()
    waited = time.monotonic() - started
    assert err.value.status == 429 and err.value.code == "RATE_LIMIT_EXCEEDED" and err.value.retry_after
    assert [s for s, _ in seen[-3:]] == [429, 429, 429] and all(int(r or 0) > 0 for _, r in seen[-3:])
    assert waited >= 0.6  # two waits of min(Retry-After, 0.3 s)
    fs.close()
