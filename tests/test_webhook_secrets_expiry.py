"""Webhook signing secrets sealed at rest, and the enrollment.failed events of expired sessions."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
import sqlalchemy as sa

from api.app import STORE
from events.signing import verify
from events.webhook_store import WebhookStore
from storage.crypto import EmbeddingCipher, EmbeddingCryptoError
from storage.events_schema import webhook_endpoints as W
from storage.sql_store import SqlStore
from tests.conftest import FaceClient
from tests.session_helpers import create_enrollment, make_user, post_frame, still_jpeg
from tests.test_webhooks import FAST, create_endpoint
from tests.webhook_receiver import receiver

KEY = "k1:" + base64.b64encode(os.urandom(32)).decode()


async def _stored_secret(engine: sa.ext.asyncio.AsyncEngine, endpoint_id: str) -> str:
    async with engine.connect() as conn:
        return str((await conn.execute(sa.select(W.c.secret).where(W.c.id == endpoint_id))).scalar_one())


async def test_secret_is_sealed_in_the_database_and_deliveries_are_signed_with_it(face_client: FaceClient) -> None:
    async with receiver() as rx:
        http, auth = await face_client(**FAST, **{"encryption.keys": [KEY], "encryption.current_key_id": "k1"})
        engine = http.app[STORE].engine
        ep = await create_endpoint(http, auth, rx.at("/hooks"), ["user.created", "user.updated"],
                                   secret="first-secret-value")
        stored = await _stored_secret(engine, ep["id"])
        assert stored.startswith("sealed:") and "first-secret-value" not in stored
        assert b"first-secret-value" not in base64.b64decode(stored.removeprefix("sealed:"))
        user_id = await make_user(http, auth, "EMP7", "Ann")
        (first,) = await rx.wait_for(1, "/hooks")
        assert verify("first-secret-value", first.body, first.headers["X-Signature"])

        resp = await http.put(f"/api/webhooks/endpoints/{ep['id']}/", headers=auth, json={"secret": "second-secret"})
        assert resp.status == 200 and (await resp.json())["secret"] is None
        assert "second-secret" not in await _stored_secret(engine, ep["id"])
        assert (await http.put(f"/api/clients/users/{user_id}/", headers=auth, json={"name": "Ann B"})).status == 200
        got = await rx.wait_for(2, "/hooks")
        assert verify("second-secret", got[1].body, got[1].headers["X-Signature"])
        assert not verify("first-secret-value", got[1].body, got[1].headers["X-Signature"])

        # a secret that looks like the stored form is refused: it would be ambiguous on a keyless server
        resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={
            "url": rx.at("/other"), "events": ["user.created"], "secret": "sealed:abcdefgh"})
        body = await resp.json()
        assert resp.status == 400 and "secret" in body["error"]["details"], body


async def test_sealed_secrets_fit_on_both_databases_and_stay_bound_to_their_endpoint(store: SqlStore) -> None:
    cipher = EmbeddingCipher.from_settings((KEY,), "k1")
    webhooks = WebhookStore(store.engine, cipher)
    client = (await store.create_client("a")).client
    longest = "x" * 256  # the API's limit: sealed, it needs the wider column of schema version 14
    common = dict(events=["*"], description="", is_active=True, max_retries=1, backoff_strategy="fixed",
                  retry_delay=1.0)
    a = await webhooks.create(client.id, url="https://a.example.com/h", secret=longest, **common)
    b = await webhooks.create(client.id, url="https://b.example.com/h", secret="b-secret-value", **common)
    assert (await webhooks.get(client.id, a.id)).secret == longest  # type: ignore[union-attr]
    # a sealed secret copied onto another endpoint does not open there
    async with store.engine.begin() as conn:
        await conn.execute(W.update().where(W.c.id == b.id).values(secret=await _stored_secret(store.engine, a.id)))
    with pytest.raises(EmbeddingCryptoError):
        await webhooks.get(client.id, b.id)
    # rows written before keys were configured stay readable
    plain = await WebhookStore(store.engine, EmbeddingCipher({}, "")).create(
        client.id, url="https://c.example.com/h", secret="plain-secret-1", **common)
    assert await _stored_secret(store.engine, plain.id) == "plain-secret-1"
    assert (await webhooks.get(client.id, plain.id)).secret == "plain-secret-1"  # type: ignore[union-attr]


async def test_expired_enrollment_sessions_announce_enrollment_failed_once(face_client: FaceClient) -> None:
    """Both ways a session expires (a request naming it, the cleanup sweep) send one
    enrollment.failed with SESSION_EXPIRED; an authentication session expires silently."""
    async with receiver() as rx:
        http, auth = await face_client(**FAST, **{"sessions.cleanup_interval_s": 0.3})
        await create_endpoint(http, auth, rx.at("/hooks"), ["enrollment.failed", "authentication.failed"])
        await make_user(http, auth, "EMP4", "Ann")
        touched = await create_enrollment(http, auth, "EMP4", timeout=1)
        swept = await create_enrollment(http, auth, "EMP4", timeout=1)
        resp = await http.post("/api/auth/authentication/create/", headers=auth, json={"timeout": 1})
        assert resp.status in (200, 201), await resp.text()
        await asyncio.sleep(1.05)
        status, out = await post_frame(http, touched["session_token"], still_jpeg())
        assert status == 410 and out["error"]["code"] == "SESSION_EXPIRED"
        got = await rx.wait_for(2, "/hooks")
        await asyncio.sleep(1.0)  # further sweeps and requests announce nothing more
        status, _ = await post_frame(http, touched["session_token"], still_jpeg())
        assert status == 410
        got = rx.to("/hooks")
        assert len(got) == 2, [r.json for r in got]
        by_session = {r.json["data"]["session_id"]: r.json for r in got}
        assert set(by_session) == {touched["session_id"], swept["session_id"]}
        for env in by_session.values():
            assert env["event"] == "enrollment.failed"
            assert env["data"]["error_code"] == "SESSION_EXPIRED" and env["data"]["user_id"]
        assert (await (await http.get(f"/api/auth/enrollment/{swept['session_id']}/", headers=auth)).json()
                )["status"] == "expired"
