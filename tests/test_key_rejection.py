"""Issue 24 item 5 and issue 23 item 3: one API-key check on every surface, and rejecting an
unknown key does the same work as rejecting a known key with a wrong secret (the time to reject
a key must not tell whether it exists).

Not timed (the CI machine is busy): the database statements each rejection runs are recorded
from the real engine and must be the same, statement for statement; the answers must be equal
too, on /api/, on the root face API and on the WebSocket.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from api.keys import STORE
from tests.conftest import FaceClient

WRONG_SECRET = "wrong-secret-0123456789"


@contextmanager
def statements(http: TestClient) -> Iterator[list[str]]:
    """The SQL statements on the credential and audit tables the app's engine runs inside the
    block (parameters are bound, so one query's text is the same whichever key it looks up;
    the background workers' polling of other tables is left out)."""
    seen: list[str] = []
    engine = http.app[STORE].engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        text = " ".join(statement.split())
        if " clients" in text or "audit_logs" in text:  # not the background workers' polling
            seen.append(text)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _key(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1].split(":", 1)[0]


async def _rejected(http: TestClient, surface: str, key: str) -> tuple[int, Any, list[str]]:
    header = {"Authorization": f"ApiKey {key}:{WRONG_SECRET}"}
    with statements(http) as seen:
        if surface == "api":
            resp = await http.get("/api/clients/users/", headers=header)
        elif surface == "root":
            resp = await http.get("/enrollments/1", headers=header)
        else:
            resp = await http.post("/api/core/auth/client/", json={"api_key": key, "api_secret": WRONG_SECRET})
        body = await resp.json()
    if "error" in body:  # the envelope's per-request fields differ by construction
        body["error"].pop("timestamp")
        body["error"].pop("request_id")
    return resp.status, body, seen


async def test_an_unknown_key_and_a_wrong_secret_run_the_same_statements(face_client: FaceClient) -> None:
    http, headers = await face_client()
    known = _key(headers)
    unknown = known[:-6] + "zzzzzz"
    for surface in ("api", "root", "token"):
        status_u, body_u, seen_u = await _rejected(http, surface, unknown)
        status_k, body_k, seen_k = await _rejected(http, surface, known)
        assert (status_u, body_u) == (status_k, body_k) and status_u == 401, (surface, body_u, body_k)
        assert seen_u == seen_k, (surface, seen_u, seen_k)
        assert any("audit_logs" in s for s in seen_k), seen_k  # the owner's security event is written...
    # ...under the owner for the wrong secret; an unknown key's row belongs to no client.
    resp = await http.get("/api/analytics/security-events/?event_type=credentials.invalid_secret", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["count"] == 3
    resp = await http.get("/api/analytics/security-events/?event_type=credentials.invalid_key", headers=headers)
    assert (await resp.json())["count"] == 0


async def test_the_websocket_uses_the_same_check(face_client: FaceClient) -> None:
    http, headers = await face_client()
    known = _key(headers)
    replies = []
    for key, secret in ((known, WRONG_SECRET), (known[:-6] + "zzzzzz", WRONG_SECRET), (known, headers["Authorization"].split(":", 1)[1])):
        with statements(http) as seen:
            async with http.ws_connect("/ws/recognition/") as ws:
                await ws.send_json({"type": "authenticate", "api_key": key, "api_secret": secret})
                reply = await ws.receive_json(timeout=10)
        replies.append((reply["type"], reply.get("payload", {}).get("code"), any("audit_logs" in s for s in seen)))
    assert replies == [("error", "INVALID_API_KEY", True), ("error", "INVALID_API_KEY", True),
                       ("authenticated", None, False)], replies
    resp = await http.get("/api/analytics/security-events/?event_type=credentials.invalid_secret", headers=headers)
    assert (await resp.json())["count"] == 1  # the WebSocket's wrong secret is the owner's event too
