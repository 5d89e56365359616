"""Issue 9: brute-force protection on every credential check, and limits on the root face API."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from api.keys import STORE
from storage import events_schema
from tests.conftest import FaceClient
from testkit.data import read
from testkit.helpers import form
from tests.path_clients import ws_credentials

OTHER_ADDRESS = "127.0.0.2"  # Linux routes all of 127/8 to lo: a second client address


def _split(headers: dict[str, str]) -> tuple[str, str]:
    key, secret = headers["Authorization"].split(" ", 1)[1].split(":", 1)
    return key, secret


async def _try(http: TestClient, surface: str, key: str, secret: str, session: aiohttp.ClientSession | None = None
               ) -> aiohttp.ClientResponse:
    auth = {"Authorization": f"ApiKey {key}:{secret}"}
    method, path, kwargs = {
        "core-auth-client": ("POST", "/api/core/auth/client/", {"json": {"api_key": key, "api_secret": secret}}),
        "client-token": ("POST", "/api/auth/client-token/", {"headers": auth}),
        "api-apikey": ("GET", "/api/clients/users/", {"headers": auth}),
        "root-apikey": ("GET", "/cache/1/status", {"headers": auth}),
    }[surface]
    if session is None:
        return await http.request(method, path, **kwargs)
    return await session.request(method, str(http.make_url(path)), **kwargs)


def _body_error(surface: str, body: Any) -> tuple[str | None, str]:
    if surface == "root-apikey":
        return None, body["detail"]
    return body["error"]["code"], body["error"]["message"]


@pytest.mark.parametrize("surface", ["core-auth-client", "client-token", "api-apikey", "root-apikey"])
async def test_fifty_wrong_secrets_are_blocked_and_the_right_secret_elsewhere_works(
    face_client: FaceClient, surface: str
) -> None:
    http, headers = await face_client()
    key, secret = _split(headers)
    resp = await _try(http, surface, "fs_nobody_here", secret)
    assert resp.status == 401
    unknown = _body_error(surface, await resp.json())
    statuses = []
    first_429: aiohttp.ClientResponse | None = None
    for n in range(49):
        resp = await _try(http, surface, key, f"wrong-{n}")
        statuses.append(resp.status)
        if resp.status == 401 and n == 0:
            assert _body_error(surface, await resp.json()) == unknown  # unknown key == wrong secret
        if resp.status == 429 and first_429 is None:
            first_429 = resp
            body = await resp.json()
            code, message = _body_error(surface, body)
            assert code in (None, "RATE_LIMIT_EXCEEDED") and "Too many failed authentication attempts" in message
    assert first_429 is not None, statuses
    assert int(first_429.headers["Retry-After"]) >= 1
    assert statuses.index(429) < 49 and set(statuses[statuses.index(429):]) == {429}
    assert unknown[1] in ("Invalid API key or secret",)
    # Blocked: guesses from this address wait, but the right secret still works here (issue 24:
    # behind a NAT the address is everyone's) and elsewhere.
    assert (await _try(http, surface, key, "wrong-again")).status == 429
    resp = await _try(http, surface, key, secret)
    assert resp.status == 200, await resp.text()
    connector = aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        resp = await _try(http, surface, key, secret, session=other)
        assert resp.status == 200, await resp.text()
    # The block is a security event in the audit log (security-events analytics read it).
    audit = events_schema.audit_logs
    async with http.app[STORE].engine.connect() as conn:
        rows = (await conn.execute(sa.select(audit.c.details, audit.c.ip_address).where(
            audit.c.category == "security", audit.c.event_type == "bruteforce.blocked"))).all()
    assert any(r.details["scope"] == "address" and r.ip_address == "127.0.0.1" for r in rows), rows


async def test_websocket_authenticate_is_guarded_too(face_client: FaceClient) -> None:
    http, headers = await face_client()
    creds = ws_credentials(headers)
    ws = await http.ws_connect("/ws/recognition/")
    codes = []
    for n in range(15):
        await ws.send_json({"type": "authenticate", "api_key": creds["api_key"], "api_secret": f"wrong-{n}"})
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type == WSMsgType.TEXT
        codes.append(msg.json()["payload"]["code"])
    assert codes[0] == "INVALID_API_KEY" and "RATE_LIMIT_EXCEEDED" in codes, codes
    assert codes.index("RATE_LIMIT_EXCEEDED") <= 10
    await ws.send_json({"type": "authenticate", "api_key": creds["api_key"], "api_secret": "wrong-again"})
    assert (await ws.receive_json(timeout=10))["payload"]["code"] == "RATE_LIMIT_EXCEEDED"
    await ws.send_json({"type": "authenticate", **creds})  # valid credentials pass a blocked address (issue 24)
    assert (await ws.receive_json(timeout=10))["type"] == "authenticated"
    await ws.close()
    connector = aiohttp.TCPConnector(local_addr=(OTHER_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        async with other.ws_connect(str(http.make_url("/ws/recognition/"))) as ws2:
            await ws2.send_json({"type": "authenticate", **creds})
            assert (await ws2.receive_json(timeout=10))["type"] == "authenticated"


async def test_root_verify_locks_a_user_after_failed_attempts(face_client: FaceClient) -> None:
    http, headers = await face_client(**{"sessions.max_failures": 3})  # the one lockout policy (README)
    resp = await http.post("/enroll", data=form(read("faces/barack_obama/obama.jpg"), tenant_id=1, user_id=5,
                                                name="Barack"), headers=headers)
    assert resp.status == 200
    impostor = read("faces/joe_biden/biden.jpg")
    for _ in range(3):
        resp = await http.post("/verify", data=form(impostor, tenant_id=1, user_id=5), headers=headers)
        assert resp.status == 200 and (await resp.json())["verified"] is False
    resp = await http.post("/verify", data=form(read("faces/barack_obama/obama.jpg"), tenant_id=1, user_id=5),
                           headers=headers)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json()) == {"detail": (await resp.json())["detail"]}
    assert "Too many failed verifications of user 5" in (await resp.json())["detail"]
    # Another user of the same tenant is not affected.
    resp = await http.post("/enroll", data=form(read("faces/joe_biden/biden.jpg"), tenant_id=1, user_id=6,
                                                name="Joe"), headers=headers)
    resp = await http.post("/verify", data=form(impostor, tenant_id=1, user_id=6), headers=headers)
    assert resp.status == 200 and (await resp.json())["verified"] is True


async def test_root_face_api_obeys_the_client_rate_limits(face_client: FaceClient) -> None:
    limits = {"rate_limits.basic": {"burst_per_minute": 3, "hourly": 1000, "daily": 10000, "concurrent_sessions": 2}}
    http, headers = await face_client(**limits)
    statuses = [(await http.get("/enrollments/1", headers=headers)).status for _ in range(3)]
    assert statuses == [404, 404, 404]
    resp = await http.get("/enrollments/1", headers=headers)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert (await resp.json()) == {"detail": "Request rate limit exceeded"}
    assert (await http.get("/health")).status == 200
