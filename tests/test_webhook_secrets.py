"""Webhook signing secrets at rest: sealed with the key ring, still signing deliveries correctly."""

from __future__ import annotations

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
from tests.session_helpers import make_user
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
