"""Issue 24 item 5: deactivating a client revokes its session tokens at once, and its open
WebSockets, stream sessions and in-progress session states within `auth.revocation_check_s`;
other clients carry on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from api.keys import SESSION_SERVICES, SESSIONS, STORE
from api.ws_routes import REVOKED_CLOSE
from storage import schema
from tests.conftest import FaceClient
from testkit.data import read
from tests.path_clients import ws_credentials
from tests.session_helpers import create_enrollment, post_frame


async def until(condition: Callable[[], bool], ceiling_s: float = 30.0) -> None:
    async with asyncio.timeout(ceiling_s):
        while not condition():
            await asyncio.sleep(0.02)


async def _deactivate(http: TestClient, client_id: int) -> None:
    async with http.app[STORE].engine.begin() as conn:
        await conn.execute(schema.clients.update().where(schema.clients.c.id == client_id).values(is_active=False))


async def test_deactivation_revokes_tokens_sockets_and_sessions(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"auth.revocation_check_s": 0.2})
    store = http.app[STORE]
    me = await store.client_by_key(auth["Authorization"].split(" ", 1)[1].split(":", 1)[0])
    assert me is not None
    session = await create_enrollment(http, auth, "alice", timeout=1800)
    token = session["session_token"]
    frame = read("faces/barack_obama/obama.jpg")
    status, _ = await post_frame(http, token, frame, 0.0)
    assert status == 200
    resp = await http.post("/api/streaming/sessions/", json={"session_type": "webrtc"}, headers=auth)
    assert resp.status == 201
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", **ws_credentials(auth)})
    assert (await ws.receive_json(timeout=10))["type"] == "authenticated"
    token_ws = await http.ws_connect(f"/ws/recognition/?token={token}")
    assert (await token_ws.receive_json(timeout=10))["type"] == "authenticated"

    await _deactivate(http, me.id)

    # The session token stops at once (no watcher involved), like a token that never existed.
    status, body = await post_frame(http, token, frame, 0.1)
    assert status == 404 and body["error"]["code"] == "SESSION_NOT_FOUND", body
    refused = await http.ws_connect(f"/ws/recognition/?token={token}")
    assert (await refused.receive_json(timeout=10))["payload"]["code"] == "INVALID_SESSION_TOKEN"
    await refused.close()
    # Open sockets are told and closed; the stream and the session state are gone.
    for sock in (ws, token_ws):
        msg = await sock.receive(timeout=30)
        assert msg.type == WSMsgType.TEXT and msg.json()["payload"]["code"] == "CLIENT_DEACTIVATED"
        msg = await sock.receive(timeout=30)
        assert msg.type == WSMsgType.CLOSE and msg.data == REVOKED_CLOSE
    await until(lambda: not http.app[SESSIONS].sessions_of(me.id))
    await until(lambda: http.app[SESSION_SERVICES].live.count(me.id) == 0)

    # Another client is untouched.
    made = await store.create_client("other")
    other = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    session2 = await create_enrollment(http, other, "bob")
    status, _ = await post_frame(http, session2["session_token"], frame, 0.0)
    assert status == 200
    ws2 = await http.ws_connect("/ws/recognition/")
    await ws2.send_json({"type": "authenticate", **ws_credentials(other)})
    assert (await ws2.receive_json(timeout=10))["type"] == "authenticated"
    await ws2.send_json({"type": "ping"})
    assert (await ws2.receive_json(timeout=10))["type"] == "pong"
    await ws2.close()


async def test_subscribe_to_another_clients_session_is_an_error(face_client: FaceClient) -> None:
    """Issue 24 item 6: the repro answered `subscribed` (and then nothing ever flowed)."""
    http, auth = await face_client()
    made = await http.app[STORE].create_client("other")
    theirs = await create_enrollment(http, {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"},
                                     "bob")
    mine = await create_enrollment(http, auth, "alice")
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", **ws_credentials(auth)})
    assert (await ws.receive_json(timeout=10))["type"] == "authenticated"
    for sid in (theirs["session_id"], "no-such-session", "x" * 65):
        await ws.send_json({"type": "subscribe", "session_id": sid})
        reply = await ws.receive_json(timeout=10)
        assert reply["type"] == "error" and reply["payload"]["code"] == "SESSION_NOT_FOUND", reply
    await ws.send_json({"type": "subscribe", "session_id": mine["session_id"]})
    reply = await ws.receive_json(timeout=10)
    assert reply == {**reply, "type": "subscribed"} and reply["payload"]["topic"].endswith(mine["session_id"])
    await ws.close()
