"""User state holds on every path and galleries are never stale: database gallery versions, a
Redis frozen during a delete, several workers on one database, inactive users on the root API,
deletion across tenants and session records, and the version bump on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import STORE
from engine.face_engine import FaceEngine
from facestream.config import Config
from storage import schema
from storage.erasure import scrub
from storage.session_store import SessionStore, now_utc
from tests.conftest import FaceClient
from testkit.data import read
from testkit.helpers import form
from tests.session_helpers import direct_enroll, make_user

USERS_API = "/api/clients/users/"
OBAMA_PROBE = "faces/barack_obama/obama2.jpg"


# -- fixtures and helpers -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A redis-server of this test alone (it gets frozen): (url, pid)."""
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        os.kill(proc.pid, signal.SIGCONT)  # never leave it stopped, or terminate would wait forever
        proc.terminate()
        proc.wait(timeout=10)


Worker = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def worker(aiohttp_client: Callable[..., Awaitable[TestClient]], engine: FaceEngine,
           make_config: Callable[..., Config]) -> Worker:
    """Another app process on the same database file (and whatever cache the overrides name)."""

    async def start(**overrides: Any) -> TestClient:
        return await aiohttp_client(create_app(make_config(**overrides), engine=engine))

    return start


async def _json(resp: Any) -> dict[str, Any]:
    return dict(await resp.json())


async def _root_enroll(client: TestClient, auth: dict[str, str], tenant: int, user_id: str, path: str) -> None:
    resp = await client.post("/enroll", data=form(read(path), tenant_id=tenant, user_id=user_id, name=user_id),
                             headers=auth)
    assert resp.status == 200, await resp.text()


async def _verify(client: TestClient, auth: dict[str, str], tenant: int, user_id: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/verify", data=form(read(OBAMA_PROBE), tenant_id=tenant, user_id=user_id), headers=auth)
    return resp.status, await _json(resp)


async def _identify(client: TestClient, auth: dict[str, str], tenant: int) -> dict[str, Any]:
    resp = await client.post("/identify", data=form(read(OBAMA_PROBE), tenant_id=tenant), headers=auth)
    assert resp.status == 200, await resp.text()
    return await _json(resp)


async def _assert_verified(client: TestClient, auth: dict[str, str], tenant: int, user_id: str) -> None:
    status, body = await _verify(client, auth, tenant, user_id)
    assert status == 200, body
    assert body["verified"] is True and body["distance"] <= body["threshold"], body


async def _assert_not_enrolled(client: TestClient, auth: dict[str, str], tenant: int, user_id: str) -> None:
    status, body = await _verify(client, auth, tenant, user_id)
    assert (status, body) == (404, {"detail": f"User {user_id} is not enrolled in tenant {tenant}"})


async def _assert_not_identified(client: TestClient, auth: dict[str, str], tenant: int, user_id: str) -> None:
    body = await _identify(client, auth, tenant)
    assert body["user_id"] != user_id, body
    assert user_id not in [c["user_id"] for c in body["candidates"]], body


# -- 1. a frozen Redis during a delete ---------------------------------------------------------


async def test_delete_while_redis_is_frozen_never_serves_the_deleted_face(
    face_client: FaceClient, worker: Worker, own_redis: tuple[str, int]
) -> None:
    url, pid = own_redis
    a, auth = await face_client(**{"cache.url": url})
    b = await worker(**{"cache.url": url})  # a second worker: same database, same Redis
    uid = await make_user(a, auth, "obama", "Barack Obama")
    await _root_enroll(a, auth, 0, uid, "faces/barack_obama/obama.jpg")
    await _root_enroll(a, auth, 7, uid, "faces/barack_obama/obama3.jpg")
    for w in (a, b):
        await _assert_verified(w, auth, 0, uid)
        found = await _identify(w, auth, 7)
        assert found["match"] is True and found["user_id"] == uid and found["name"] == "Barack Obama"
    r = aioredis.Redis.from_url(url)
    try:
        cached_before = sorted(await r.keys("facestream:gallery:*"))
        assert len(cached_before) == 2  # tenants 0 and 7, each at its current version

        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            resp = await a.delete(f"{USERS_API}{uid}/", headers=auth)
            took = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert resp.status == 200, await resp.text()
        assert await _json(resp) == {"id": uid, "deleted": True, "embeddings_deleted": 2}
        assert took >= 1.5  # the cache really was unreachable (socket_timeout 2 s) during the delete

        # The stale blobs survived in Redis (the invalidation could not reach it)...
        assert set(cached_before) <= set(await r.keys("facestream:gallery:*"))
    finally:
        await r.aclose()
    # ...and still no worker, warm or cold, serves them.
    c = await worker(**{"cache.url": url})
    for w in (a, b, c):
        await _assert_not_enrolled(w, auth, 0, uid)
        for tenant in (0, 7):
            body = await _identify(w, auth, tenant)
            assert body["match"] is False and body["user_id"] is None and body["candidates"] == []


async def test_a_warm_worker_sees_a_delete_done_by_another(face_client: FaceClient, worker: Worker) -> None:
    """In-process caches only: nothing is shared but the database, and that is enough."""
    a, auth = await face_client()
    b = await worker()
    uid = await make_user(a, auth, "obama", "Barack Obama")
    keep = await make_user(a, auth, "biden", "Joe Biden")
    await _root_enroll(a, auth, 0, uid, "faces/barack_obama/obama.jpg")
    await _root_enroll(a, auth, 0, keep, "faces/joe_biden/biden.jpg")
    await _assert_verified(b, auth, 0, uid)  # b's memo now holds the gallery with the user
    found = await _identify(b, auth, 0)
    assert found["match"] is True and found["user_id"] == uid

    resp = await a.delete(f"{USERS_API}{uid}/", headers=auth)
    assert resp.status == 200 and (await _json(resp))["embeddings_deleted"] == 1

    await _assert_not_enrolled(b, auth, 0, uid)
    after = await _identify(b, auth, 0)
    assert after["match"] is False and [c["user_id"] for c in after["candidates"]] == [keep]
    assert after["candidates"][0]["distance"] > after["threshold"]


# -- 2. inactive users never match on the root API ----------------------------------------------


async def test_deactivated_user_is_not_enrolled_on_the_root_api_until_reactivated(
    face_client: FaceClient, worker: Worker
) -> None:
    a, auth = await face_client()
    b = await worker()
    uid = await make_user(a, auth, "obama", "Barack Obama")
    await _root_enroll(a, auth, 0, uid, "faces/barack_obama/obama.jpg")
    await _root_enroll(a, auth, 7, uid, "faces/barack_obama/obama3.jpg")
    for w in (a, b):
        await _assert_verified(w, auth, 0, uid)

    resp = await a.post(f"{USERS_API}{uid}/deactivate/", headers=auth)
    assert resp.status == 200 and (await _json(resp))["is_active"] is False
    for w in (a, b):  # b's warm memo included
        await _assert_not_enrolled(w, auth, 0, uid)
        await _assert_not_enrolled(w, auth, 7, uid)
        for tenant in (0, 7):
            body = await _identify(w, auth, tenant)
            assert body["match"] is False and body["candidates"] == []
    # The rows are kept (deactivation is not deletion).
    assert len(await a.app[STORE].enrollments(1, 0)) == 1 and len(await a.app[STORE].enrollments(1, 7)) == 1

    resp = await b.post(f"{USERS_API}{uid}/activate/", headers=auth)
    assert resp.status == 200 and (await _json(resp))["is_active"] is True
    for w in (a, b):
        await _assert_verified(w, auth, 0, uid)
        await _assert_verified(w, auth, 7, uid)

    # A rename shows at once in matches, whatever name the row was stored with.
    resp = await a.put(f"{USERS_API}{uid}/", json={"name": "President Obama"}, headers=auth)
    assert resp.status == 200
    for w in (a, b):
        found = await _identify(w, auth, 7)
        assert found["match"] is True and found["user_id"] == uid and found["name"] == "President Obama"


# -- 3. deleting a user removes every trace that names them -------------------------------------


async def test_delete_removes_rows_in_every_tenant_and_names_in_sessions(face_client: FaceClient) -> None:
    client, auth = await face_client()
    uid = await make_user(client, auth, "obama", "Barack Obama")
    keep = await make_user(client, auth, "biden", "Joe Biden")
    status, direct = await direct_enroll(client, auth, "obama", read("faces/barack_obama/obama.jpg"))
    assert status == 201 and direct["user_name"] == "Barack Obama", direct
    sid = direct["enrollment_id"]
    status, _ = await direct_enroll(client, auth, "biden", read("faces/joe_biden/biden.jpg"))
    assert status == 201
    await _root_enroll(client, auth, 0, uid, "faces/barack_obama/obama1.jpg")
    await _root_enroll(client, auth, 7, uid, "faces/barack_obama/obama3.jpg")
    store = client.app[STORE]
    sessions = SessionStore(store.engine, store.cipher)
    pending = await enrollment_session_row(sessions, uid)
    auth_sid = await _auth_session_naming(sessions, uid, keep)
    attempt = await sessions.record_attempt(session_id=auth_sid, client_id=1, user_id=uid, mode="identification",
                                            result="success", reason="matched", confidence=0.9, liveness_score=0.8)
    before = await (await client.get(f"/api/auth/enrollment/{sid}/", headers=auth)).json()
    assert before["result"]["user_name"] == "Barack Obama"

    resp = await client.delete(f"{USERS_API}{uid}/", headers=auth)
    assert resp.status == 200
    assert await _json(resp) == {"id": uid, "deleted": True, "embeddings_deleted": 3}

    for tenant in (0, 7):
        assert [r.user_id for r in await store.enrollments(1, tenant)] == ([keep] if tenant == 0 else [])
        await _assert_not_identified(client, auth, tenant, uid)
    found = await _identify(client, auth, 0)
    assert found["match"] is False and [c["user_id"] for c in found["candidates"]] == [keep]
    assert (await client.get(f"{USERS_API}{uid}/", headers=auth)).status == 404
    assert (await client.get(f"{USERS_API}{uid}/export/", headers=auth)).status == 404

    # The completed session stays (audit) without the name.
    resp = await client.get(f"/api/auth/enrollment/{sid}/", headers=auth)
    assert resp.status == 200
    after = await _json(resp)
    assert after["status"] == "completed" and after["user_id"] == uid
    assert after["result"]["user_name"] is None and after["result"]["user_id"] == uid
    assert after["result"]["embedding_id"] == before["result"]["embedding_id"]
    assert "Barack Obama" not in str(after)
    row = await sessions.by_id(1, pending)
    assert row is not None and row.user_id == uid
    assert row.params == {"user_id": uid, "target_samples": 5, "metadata": {"desk": 3}, "external_id": None}
    row = await sessions.by_id(1, auth_sid)
    assert row is not None and row.result is not None
    assert row.result["matched_user"] == {"user_id": uid, "name": None}
    assert row.result["result"]["user_name"] is None and row.result["result"]["confidence"] == 0.91
    assert row.result["result"]["matches"] == [
        {"user_id": uid, "name": None, "confidence": 0.91},
        {"user_id": keep, "name": "Joe Biden", "confidence": 0.2},  # another user keeps their name
    ]
    async with store.engine.connect() as conn:
        kept = (await conn.execute(sa.select(schema.recognition_attempts).where(
            schema.recognition_attempts.c.id == attempt))).one()
    assert kept.user_id == uid and kept.result == "success"


async def enrollment_session_row(sessions: SessionStore, uid: str, client_id: int = 1) -> str:
    """A pending enrollment session row shaped like api/enrollment_routes.py writes it (its params
    carry the user's external_id)."""
    sid = str(uuid.uuid4())
    await sessions.create_session(
        session_id=sid, token=uuid.uuid4().hex, client_id=client_id, kind="enrollment", user_id=uid,
        session_type="webcam",
        mode=None, status="pending",
        params={"user_id": uid, "target_samples": 5, "metadata": {"desk": 3}, "external_id": "obama"},
        expires_at=now_utc() + timedelta(minutes=5),
    )
    return sid


async def _auth_session_naming(sessions: SessionStore, uid: str, other: str) -> str:
    """An identification session row shaped like sessions/auth_ops.py writes it."""
    sid = str(uuid.uuid4())
    await sessions.create_session(
        session_id=sid, token=uuid.uuid4().hex, client_id=1, kind="authentication", user_id=None,
        session_type="webcam", mode="identification", status="completed", params={"mode": "identification"},
        expires_at=now_utc() + timedelta(minutes=5),
    )
    result = {
        "success": True,
        "matched_user": {"user_id": uid, "name": "Barack Obama"},
        "result": {
            "authenticated": True, "user_id": uid, "user_name": "Barack Obama", "confidence": 0.91,
            "matches": [{"user_id": uid, "name": "Barack Obama", "confidence": 0.91},
                        {"user_id": other, "name": "Joe Biden", "confidence": 0.2}],
        },
    }
    await sessions.update(sid, result=result)
    return sid


def test_scrub_nulls_names_only_in_objects_of_that_user() -> None:
    value = {"user_id": "u1", "name": "A", "user_name": "A", "nested": [{"user_id": "u2", "name": "B"},
                                                                          {"user_id": "u1", "name": "A", "x": 1}]}
    assert scrub(value, "u1") == {"user_id": "u1", "name": None, "user_name": None,
                                  "nested": [{"user_id": "u2", "name": "B"}, {"user_id": "u1", "name": None, "x": 1}]}
    assert value["name"] == "A"  # a copy: the input is untouched
    assert scrub(None, "u1") is None and scrub([1, "u1"], "u1") == [1, "u1"]
