"""Issue 25 part B: scoped API keys, rotation with a grace period, per-key IP allowlists, and
kiosk answers that do not enumerate IDs.

Real app, real SQLite store, real HTTP and WebSocket: a kiosk key minted over REST is walked
through the whole route table; rotation is checked at its boundary with the store's clock and
end to end with a short grace period; an allowlist is checked on /api/, the root face API and
the WebSocket.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.keys import STORE
from api.scopes import KIOSK_ROUTES, NOT_CHECKABLE
from engine.face_engine import FaceEngine
from facestream.config import Config
from storage import migrations, schema
from storage.sql_store import SqlStore
from tests.waiting import wait_until

Start = Callable[..., Awaitable[tuple[TestClient, dict[str, str]]]]


def _header(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": f"ApiKey {key}:{secret}"}


async def _start(aiohttp_client: Any, engine: FaceEngine, make_config: Callable[..., Config],
                 **overrides: Any) -> tuple[TestClient, dict[str, str]]:
    """An app and one enterprise client (high rate limits: the route walk makes many calls)."""
    http = await aiohttp_client(create_app(make_config(**overrides), engine=engine))
    made = await http.app[STORE].create_client("keys-test", tier="enterprise")
    return http, _header(made.client.api_key, made.api_secret)


async def _mint(http: TestClient, admin: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await http.post("/api/clients/keys/", json=body, headers=admin)
    assert resp.status == 201, await resp.text()
    out: dict[str, Any] = await resp.json()
    return out


def _filled(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", template)


async def _call(http: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    resp = await http.request(method, path, headers=headers, json={})
    await resp.read()
    return resp.status


async def test_a_kiosk_key_gets_403_on_every_admin_route_and_2xx_on_the_kiosk_flows(
        aiohttp_client: Any, engine: FaceEngine, make_config: Callable[..., Config]) -> None:
    http, admin = await _start(aiohttp_client, engine, make_config)
    made = await _mint(http, admin, scope="kiosk", label="front desk")
    assert made["scope"] == "kiosk" and made["api_secret"]
    kiosk = _header(made["api_key"], made["api_secret"])
    resp = await http.post("/api/auth/client-token/", headers=kiosk)
    assert resp.status == 200
    bearer = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}

    walked: list[str] = []
    for route in http.app.router.routes():
        template = route.resource.canonical if route.resource is not None else ""
        method = route.method
        if method in ("HEAD", "OPTIONS", "*") or (method, template) in KIOSK_ROUTES or template.startswith("/ws/"):
            continue
        path = _filled(template)
        # a route anyone may call (health, schema, pages) is no admin route: it answers without a key
        if (await _call(http, method, path, {})) < 300:
            continue
        for creds in (kiosk, bearer) if template.startswith("/api/") else (kiosk,):
            status = await _call(http, method, path, creds)
            assert status == 403, (method, template, status)
        walked.append(f"{method} {template}")
    assert len(walked) >= 50, walked  # the whole table, not a sample
    assert "DELETE /api/clients/users/{user_id}/" in walked and "GET /api/clients/users/{user_id}/export/" in walked
    assert "POST /api/webhooks/endpoints/" in walked and "POST /api/clients/keys/" in walked
    assert any(w.startswith("POST /enroll") for w in walked)  # the root face API too

    # the kiosk flows answer 2xx to the same key
    for creds in (kiosk, bearer):
        resp = await http.post("/api/streaming/sessions/", json={"mode": "identification"}, headers=creds)
        assert resp.status == 201, await resp.text()
        sid = (await resp.json())["session_id"]
        resp = await http.get(f"/api/streaming/sessions/{sid}/", headers=creds)
        assert resp.status == 200
        resp = await http.post(f"/api/streaming/sessions/{sid}/close/", headers=creds)
        assert resp.status == 200
        resp = await http.post("/api/auth/authentication/create/", json={"mode": "identification"}, headers=creds)
        assert resp.status == 201, await resp.text()
    refresh = await http.post("/api/auth/client-token/", headers=kiosk)
    resp = await http.post("/api/auth/refresh-token/", json={"refresh": (await refresh.json())["refresh"]})
    assert resp.status == 200
    renewed = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    resp = await http.get("/api/clients/users/", headers=renewed)  # a refreshed token keeps the kiosk scope
    assert resp.status == 403

    # the WebSocket's client-wide events are an admin surface
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", "api_key": made["api_key"], "api_secret": made["api_secret"]})
    reply = await ws.receive_json(timeout=30)
    assert reply["type"] == "error" and reply["payload"]["code"] == "INSUFFICIENT_PERMISSIONS", reply
    await ws.close()
    ws = await http.ws_connect("/ws/recognition/")  # and with the kiosk key's token
    await ws.send_json({"type": "authenticate", "access_token": bearer["Authorization"].split(" ", 1)[1]})
    reply = await ws.receive_json(timeout=30)
    assert reply["type"] == "error" and reply["payload"]["code"] == "INSUFFICIENT_PERMISSIONS", reply
    await ws.close()


async def test_kiosk_answers_do_not_enumerate_ids_but_admins_get_the_precise_one(
        aiohttp_client: Any, engine: FaceEngine, make_config: Callable[..., Config]) -> None:
    http, admin = await _start(aiohttp_client, engine, make_config)
    made = await _mint(http, admin, scope="kiosk")
    kiosk = _header(made["api_key"], made["api_secret"])
    for external_id in ("EMP-ACTIVE", "EMP-GONE"):
        resp = await http.post("/api/clients/users/", json={"external_id": external_id, "name": external_id},
                               headers=admin)
        assert resp.status == 201, await resp.text()
    assert (await http.post("/api/clients/users/EMP-GONE/deactivate/", headers=admin)).status == 200

    precise = {"EMP-NOBODY": "USER_NOT_FOUND", "EMP-GONE": "USER_INACTIVE", "EMP-ACTIVE": "USER_NOT_ENROLLED"}
    for ref, code in precise.items():
        for path, body in (("/api/auth/authentication/create/", {"mode": "verification", "user_id": ref}),
                           ("/api/streaming/sessions/", {"mode": "verification", "user_id": ref})):
            resp = await http.post(path, json=body, headers=admin)
            assert (await resp.json())["error"]["code"] == code, (path, ref)
            resp = await http.post(path, json=body, headers=kiosk)
            error = (await resp.json())["error"]
            assert (resp.status, error["code"], error["message"], error["details"]) == (
                404, "ID_NOT_CHECKABLE", NOT_CHECKABLE, {}), (path, ref, error)


async def test_a_kiosk_enrolls_new_ids_only_and_only_where_config_allows(
        aiohttp_client: Any, engine: FaceEngine, make_config: Callable[..., Config]) -> None:
    http, admin = await _start(aiohttp_client, engine, make_config)
    made = await _mint(http, admin, scope="kiosk")
    kiosk = _header(made["api_key"], made["api_secret"])
    resp = await http.post("/api/auth/enrollment/create/", json={"user_id": "NEW-1"}, headers=kiosk)
    assert resp.status == 403  # pages.kiosk_enrollment is off by default

    http, admin = await _start(aiohttp_client, engine, make_config, **{
        "pages.kiosk_enrollment": True, "sessions.auto_create_users": True})
    made = await _mint(http, admin, scope="kiosk")
    kiosk = _header(made["api_key"], made["api_secret"])
    resp = await http.post("/api/clients/users/", json={"external_id": "TAKEN", "name": "Taken"}, headers=admin)
    assert resp.status == 201
    resp = await http.post("/api/auth/enrollment/create/", json={"user_id": "NEW-1"}, headers=kiosk)
    assert resp.status == 201, await resp.text()
    for path, body in (("/api/auth/enrollment/create/", {"user_id": "TAKEN"}),
                       ("/api/streaming/sessions/", {"mode": "enrollment", "user_id": "TAKEN"})):
        resp = await http.post(path, json=body, headers=kiosk)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "ID_NOT_CHECKABLE", path
    resp = await http.post("/api/auth/enrollment/direct/", headers=kiosk)  # the trusted photo upload
    assert resp.status == 403


async def test_rotation_keeps_the_old_secret_for_the_grace_period_then_only_the_new_one(
        aiohttp_client: Any, engine: FaceEngine, make_config: Callable[..., Config]) -> None:
    http, admin = await _start(aiohttp_client, engine, make_config)
    keys = await http.get("/api/clients/keys/", headers=admin)
    first = (await keys.json())["results"][0]
    assert first["scope"] == "admin"  # the client's key from create-client stays admin
    old_secret = admin["Authorization"].rsplit(":", 1)[1]

    grace = 3
    resp = await http.post(f"/api/clients/keys/{first['id']}/rotate/", json={"grace_seconds": grace}, headers=admin)
    assert resp.status == 200, await resp.text()
    rotated = await resp.json()
    assert rotated["api_key"] == first["api_key"] and rotated["api_secret"] != old_secret
    expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    new = _header(first["api_key"], rotated["api_secret"])
    old = _header(first["api_key"], old_secret)
    assert (await http.get("/api/clients/keys/", headers=new)).status == 200
    if datetime.now(timezone.utc) < expires - timedelta(seconds=0.5):  # inside the grace period: both work
        assert (await http.get("/api/clients/keys/", headers=old)).status == 200

    async def old_refused() -> bool:
        return (await http.get("/api/clients/keys/", headers=old)).status == 401

    await wait_until(old_refused, timeout=60, message="the old secret to stop after its grace period")
    assert datetime.now(timezone.utc) >= expires  # never refused early
    assert (await http.get("/api/clients/keys/", headers=new)).status == 200

    # grace 0: the replaced secret stops at once
    resp = await http.post(f"/api/clients/keys/{first['id']}/rotate/", json={"grace_seconds": 0}, headers=new)
    latest = _header(first["api_key"], (await resp.json())["api_secret"])
    assert (await http.get("/api/clients/keys/", headers=new)).status == 401
    assert (await http.get("/api/clients/keys/", headers=latest)).status == 200
    audit = await http.get("/api/analytics/audit-logs/?event_type=credential.key_rotated", headers=latest)
    assert audit.status == 200 and (await audit.json())["count"] == 2


async def test_rotation_grace_boundary_in_the_store(store: SqlStore) -> None:
    made = await store.create_client("boundary")
    key = (await store.keys.list_keys(made.client.id))[0]
    rotated = await store.keys.rotate(made.client.id, key.id, 600)
    assert rotated is not None and rotated.key.previous_expires_at is not None
    end = rotated.key.previous_expires_at
    check = store.keys.check
    assert (await check(key.api_key, made.api_secret, now=end - timedelta(seconds=1))).client is not None
    assert (await check(key.api_key, made.api_secret, now=end)).client is None
    assert (await check(key.api_key, rotated.api_secret, now=end + timedelta(days=1))).client is not None
    wrong = await check(key.api_key, "not-it", now=end - timedelta(seconds=1))
    assert (wrong.client, wrong.owner_id) == (None, made.client.id)


async def test_an_address_outside_the_allowlist_gets_403_on_every_surface(
        aiohttp_client: Any, engine: FaceEngine, make_config: Callable[..., Config]) -> None:
    http, admin = await _start(aiohttp_client, engine, make_config)
    spare = await _mint(http, admin, scope="admin", label="break-glass")
    spare_h = _header(spare["api_key"], spare["api_secret"])
    first = (await (await http.get("/api/clients/keys/", headers=admin)).json())["results"][0]
    token = await http.post("/api/auth/client-token/", headers=admin)
    bearer = {"Authorization": f"Bearer {(await token.json())['access_token']}"}

    resp = await http.put(f"/api/clients/keys/{first['id']}/allowlist/", json={"allowed_cidrs": ["bad"]},
                          headers=spare_h)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "VALIDATION_ERROR"
    resp = await http.put(f"/api/clients/keys/{first['id']}/allowlist/",
                          json={"allowed_cidrs": ["10.9.9.0/24", "2001:db8::/32"]}, headers=spare_h)
    assert resp.status == 200 and (await resp.json())["allowed_cidrs"] == ["10.9.9.0/24", "2001:db8::/32"]

    resp = await http.get("/api/clients/users/", headers=admin)  # REST /api/
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "IP_NOT_ALLOWED"
    resp = await http.get("/api/clients/users/", headers=bearer)  # a token issued before the list
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "IP_NOT_ALLOWED"
    resp = await http.get("/enrollments/1", headers=admin)  # the root face API
    assert resp.status == 403 and "address" in (await resp.json())["detail"]
    ws = await http.ws_connect("/ws/recognition/")  # the WebSocket
    key, secret = admin["Authorization"].split(" ", 1)[1].split(":", 1)
    await ws.send_json({"type": "authenticate", "api_key": key, "api_secret": secret})
    reply = await ws.receive_json(timeout=30)
    assert reply["type"] == "error" and reply["payload"]["code"] == "IP_NOT_ALLOWED", reply
    await ws.close()
    events = await http.get("/api/analytics/security-events/?event_type=credentials.address_refused",
                            headers=spare_h)
    assert events.status == 200 and (await events.json())["count"] == 4

    # the test client's own address admitted: the key works again
    resp = await http.put(f"/api/clients/keys/{first['id']}/allowlist/", json={"allowed_cidrs": ["127.0.0.1/32"]},
                          headers=spare_h)
    assert resp.status == 200
    assert (await http.get("/api/clients/users/", headers=admin)).status == 200
    # the last admin key cannot be revoked; another can, and stops at once
    spare_token = await http.post("/api/auth/client-token/", headers=spare_h)
    spare_bearer = {"Authorization": f"Bearer {(await spare_token.json())['access_token']}"}
    assert (await http.delete(f"/api/clients/keys/{spare['id']}/", headers=admin)).status == 204
    assert (await http.get("/api/clients/users/", headers=spare_h)).status == 401
    assert (await http.get("/api/clients/users/", headers=spare_bearer)).status == 401  # its tokens too
    resp = await http.delete(f"/api/clients/keys/{first['id']}/", headers=admin)
    assert resp.status == 400


async def test_v17_gives_every_existing_client_its_key_as_admin(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    store = SqlStore(url)
    try:
        await store.open()
        made = await store.create_client("before-v17")
        async with store.engine.begin() as conn:  # as a database from before version 17 was
            await conn.execute(schema.api_keys.delete())
            await conn.execute(schema.schema_version.delete().where(schema.schema_version.c.version == 17))
        assert (await store.check_credentials(made.client.api_key, made.api_secret)).client is None
        async with store.engine.begin() as conn:
            assert await migrations.migrate(conn) == migrations.NEWEST
            count = (await conn.execute(sa.select(sa.func.count()).select_from(schema.api_keys))).scalar_one()
        assert count == 1
        check = await store.check_credentials(made.client.api_key, made.api_secret)
        assert check.client is not None and check.key is not None and check.key.scope == "admin"
    finally:
        await store.close()



def test_cli_mints_a_kiosk_key_rotates_and_sets_allowlists(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    env = {**os.environ, "FACESTREAM__STORAGE__DATABASE_URL": url}
    root = Path(__file__).resolve().parents[1]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "facestream.cli", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=60)

    made = cli("create-client", "lobby", "--kiosk-key")
    assert made.returncode == 0, made.stderr
    fields = dict(line.split(":", 1) for line in made.stdout.splitlines() if line.startswith(("api_", "kiosk_api_")))
    admin_key, kiosk_key = fields["api_key"].strip(), fields["kiosk_api_key"].strip()
    kiosk_secret = fields["kiosk_api_secret"].strip()
    listed = cli("keys", "list", admin_key)
    assert listed.returncode == 0 and "\tadmin\t" in listed.stdout and "\tkiosk\t" in listed.stdout
    kiosk_id = next(line.split("\t")[0] for line in listed.stdout.splitlines() if "\tkiosk\t" in line)
    bad = cli("keys", "allowlist", admin_key, kiosk_id, "not-a-network")
    assert bad.returncode == 2 and "Not an IP network" in bad.stderr
    allowed = cli("keys", "allowlist", admin_key, kiosk_id, "192.168.10.0/24")
    assert allowed.returncode == 0 and "192.168.10.0/24" in allowed.stdout
    rotated = cli("keys", "rotate", admin_key, kiosk_id, "--grace-seconds", "0")
    assert rotated.returncode == 0, rotated.stderr
    new_secret = next(line.split(":", 1)[1].strip() for line in rotated.stdout.splitlines()
                      if line.startswith("api_secret"))

    async def check() -> tuple[bool, bool, tuple[str, ...], int]:
        store = SqlStore(url)
        try:
            old = await store.check_credentials(kiosk_key, kiosk_secret)
            new = await store.check_credentials(kiosk_key, new_secret)
            assert new.key is not None
            async with store.engine.connect() as conn:
                audited = (await conn.execute(sa.text(
                    "SELECT count(*) FROM audit_logs WHERE event_type LIKE 'credential.%'"))).scalar_one()
            return old.client is None, new.client is not None, new.key.allowed_cidrs, int(audited)
        finally:
            await store.close()

    assert asyncio.run(check()) == (True, True, ("192.168.10.0/24",), 2)
    assert cli("keys", "revoke", admin_key, "1").returncode == 2  # the last admin key stays
