"""Face embeddings at rest: AES-256-GCM per row, key rotation, tamper detection, plaintext fallback."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from facestream.config import ConfigError, load_config
from storage import schema
from storage.crypto import EmbeddingCipher, EmbeddingCryptoError, parse_keys
from storage.sql_store import SqlStore
from storage.user_store import UserStore
from tests.conftest import FaceClient
from testkit.data import read
from testkit.helpers import form


def _key(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


async def _raw_rows(s: SqlStore) -> list[sa.Row]:
    e = schema.face_enrollments
    async with s.engine.connect() as conn:
        return list(await conn.execute(sa.select(e.c.id, e.c.embedding, e.c.key_id).order_by(e.c.id)))


async def test_rows_are_ciphertext_and_rotation_keeps_old_rows_readable(store: SqlStore) -> None:  # noqa: F811
    k1, k2 = _key("k1"), _key("k2")
    store.cipher = EmbeddingCipher.from_settings((k1,), "k1")
    client = (await store.create_client("a")).client
    await store.add_enrollment(client.id, 0, "u1", "Ann", _vec(1), 0.9)
    await store.add_enrollment(client.id, 0, "u1", "Ann", _vec(1), 0.9)  # same vector, fresh nonce

    rows = await _raw_rows(store)
    plain = _vec(1).astype("<f4").tobytes()
    assert [r.key_id for r in rows] == ["k1", "k1"]
    assert all(plain not in bytes(r.embedding) and len(r.embedding) == 12 + len(plain) + 16 for r in rows)
    assert bytes(rows[0].embedding) != bytes(rows[1].embedding)

    # rotation: k2 becomes current, k1 stays for reading
    store.cipher = EmbeddingCipher.from_settings((k2, k1), "k2")
    await store.add_enrollment(client.id, 0, "u2", "Ben", _vec(2), 0.8)
    got = await store.enrollments(client.id, 0)
    assert [r.user_id for r in got] == ["u1", "u1", "u2"]
    assert np.allclose(got[0].embedding, _vec(1)) and np.allclose(got[2].embedding, _vec(2))
    assert [r.key_id for r in await _raw_rows(store)] == ["k1", "k1", "k2"]

    # k1 dropped from the configuration: its rows fail with a clear error naming the key
    store.cipher = EmbeddingCipher.from_settings((k2,), "k2")
    with pytest.raises(EmbeddingCryptoError, match="'k1', which is not configured"):
        await store.enrollments(client.id, 0)


async def test_tampered_or_moved_ciphertext_is_refused(store: SqlStore) -> None:  # noqa: F811
    store.cipher = EmbeddingCipher.from_settings((_key("k1"),), "k1")
    a = (await store.create_client("a")).client
    b = (await store.create_client("b")).client
    await store.add_enrollment(a.id, 0, "u1", "Ann", _vec(1), 0.9)
    await store.add_enrollment(b.id, 0, "u9", "Zed", _vec(2), 0.9)
    rows = await _raw_rows(store)
    e = schema.face_enrollments

    flipped = bytearray(rows[0].embedding)
    flipped[40] ^= 0x01
    async with store.engine.begin() as conn:
        await conn.execute(e.update().where(e.c.id == rows[0].id).values(embedding=bytes(flipped)))
    with pytest.raises(EmbeddingCryptoError, match=f"row {rows[0].id} failed authentication"):
        await store.enrollments(a.id, 0)

    # client b's ciphertext copied onto client a's row: the associated data no longer matches
    async with store.engine.begin() as conn:
        await conn.execute(e.update().where(e.c.id == rows[0].id).values(embedding=bytes(rows[1].embedding)))
    with pytest.raises(EmbeddingCryptoError, match="failed authentication"):
        await store.enrollments(a.id, 0)
    assert np.allclose((await store.enrollments(b.id, 0))[0].embedding, _vec(2))


async def test_plaintext_without_keys_then_readable_once_keys_are_set(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = SqlStore(f"sqlite:///{tmp_path}/plain.db")
    await s.open()
    try:
        assert s.cipher.enabled is False
        assert any("plaintext" in r.message for r in caplog.records)
        client = (await s.create_client("a")).client
        await s.add_enrollment(client.id, 0, "u1", "Ann", _vec(1), 0.9)
        rows = await _raw_rows(s)
        assert rows[0].key_id is None and bytes(rows[0].embedding) == _vec(1).astype("<f4").tobytes()
        s.cipher = EmbeddingCipher.from_settings((_key("k1"),), "k1")
        await s.add_enrollment(client.id, 0, "u2", "Ben", _vec(2), 0.9)
        got = await s.enrollments(client.id, 0)
        assert np.allclose(got[0].embedding, _vec(1)) and np.allclose(got[1].embedding, _vec(2))
        assert [r.key_id for r in await _raw_rows(s)] == [None, "k1"]
    finally:
        await s.close()


def test_bad_key_configuration_is_refused_without_echoing_the_key() -> None:
    with pytest.raises(ValueError, match="must be 32 bytes"):
        parse_keys(("k1:" + base64.b64encode(b"short").decode(),))
    with pytest.raises(ValueError, match="not valid base64"):
        parse_keys(("k1:***notbase64***",))
    with pytest.raises(ValueError, match="key_id:base64key"):
        parse_keys(("nocolon",))
    with pytest.raises(ConfigError, match="current_key_id"):
        load_config(env={}, overrides={"encryption.keys": [_key("k1")], "encryption.current_key_id": "k9"})


async def test_app_encrypts_enrollments_and_export_decrypts(face_client: FaceClient) -> None:
    key = _key("prod1")
    client, auth = await face_client(**{"encryption.keys": [key], "encryption.current_key_id": "prod1"})
    user = await (await client.post("/api/clients/users/", json={"external_id": "o", "name": "Obama"}, headers=auth)).json()
    resp = await client.post("/enroll", data=form(read("faces/barack_obama/obama.jpg"), tenant_id=0, user_id=user["id"], name="o"), headers=auth)
    assert resp.status == 200
    from api.keys import STORE, USERS

    rows = await _raw_rows(client.app[STORE])
    assert [r.key_id for r in rows] == ["prod1"]
    exported = await (await client.get(f"/api/clients/users/{user['id']}/export/", headers=auth)).json()
    vec = np.asarray(exported["enrollments"][0]["embedding"], dtype=np.float32)
    assert vec.astype("<f4").tobytes() not in bytes(rows[0].embedding)
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-3
    stored = await client.app[USERS].embeddings((await client.app[USERS].get(1, user["id"])))  # type: ignore[arg-type]
    assert np.allclose(stored[0].embedding, vec, atol=1e-6)
    found = await (await client.post("/identify", data=form(read("faces/barack_obama/obama2.jpg"), tenant_id=0), headers=auth)).json()
    assert found["match"] is True and found["user_id"] == user["id"]
    assert isinstance(client.app[USERS], UserStore)
