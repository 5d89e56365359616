"""Issue 9: with encryption keys configured, nothing face-derived sits in Redis in plaintext."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

import numpy as np
import redis.asyncio as redis

from api.keys import CACHE, GALLERIES, STORE
from storage.gallery_blob import decode_gallery
from tests.conftest import REDIS_URL, FaceClient
from testkit.data import read
from testkit.helpers import form

PEOPLE = [("faces/barack_obama/obama.jpg", 918273645, "Barack Zyxwvut"),
          ("faces/joe_biden/biden.jpg", 918273646, "Joe Qwertzuiop"),
          ("faces/kit_harington/john1.jpeg", 918273647, "Kit Asdfghjkl")]


async def _fill_cache_and_scan(face_client: FaceClient, prefix: str, **overrides: Any
                               ) -> tuple[list[bytes], list[np.ndarray]]:
    http, headers = await face_client(**{"cache.url": REDIS_URL, "cache.key_prefix": prefix, **overrides})
    for path, uid, name in PEOPLE:
        resp = await http.post("/enroll", data=form(read(path), tenant_id=3, user_id=uid, name=name), headers=headers)
        assert resp.status == 200, await resp.text()
    resp = await http.post("/identify", data=form(read("faces/joe_biden/biden2.jpg"), tenant_id=3), headers=headers)
    body = await resp.json()
    assert resp.status == 200 and body["match"] is True and body["name"] == "Joe Qwertzuiop"
    status = await (await http.get("/cache/3/status", headers=headers)).json()
    assert status["cached"] is True and status["backend"] == "redis"
    client_id = (await http.app[STORE].client_by_key(headers["Authorization"].split()[1].split(":")[0])).id
    embeddings = [r.embedding for r in await http.app[STORE].enrollments(client_id, 3)]
    r = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter(match=prefix + "*")]
        assert keys, "nothing was cached"
        values = [bytes(await r.get(k) or b"") for k in keys]
        await r.delete(*keys)
    finally:
        await r.aclose()
    return values, embeddings


def _leaks(values: list[bytes], embeddings: list[np.ndarray]) -> list[str]:
    found = []
    for value in values:
        for vec in embeddings:
            raw = np.asarray(vec, "<f4").tobytes()
            if any(raw[i:i + 32] in value for i in range(0, len(raw) - 32, 256)):
                found.append("embedding")
        for _, uid, name in PEOPLE:
            if name.encode() in value or name.split()[1].encode() in value or str(uid).encode() in value:
                found.append(name)
    return found


async def test_redis_cache_holds_no_plaintext_embedding_or_name_when_encryption_is_on(face_client: FaceClient) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    sealed_values, embeddings = await _fill_cache_and_scan(
        face_client, f"fs-test-{uuid.uuid4().hex[:8]}:",
        **{"encryption.keys": [f"k1:{key}"], "encryption.current_key_id": "k1"},
    )
    assert len(embeddings) == 3
    assert _leaks(sealed_values, embeddings) == []
    # Control: without keys the same scan finds them (the test can fail).
    plain_values, plain_embeddings = await _fill_cache_and_scan(face_client, f"fs-test-{uuid.uuid4().hex[:8]}:")
    leaks = _leaks(plain_values, plain_embeddings)
    assert "embedding" in leaks and "Joe Qwertzuiop" in leaks


async def test_sealed_gallery_blob_opens_for_the_app_and_not_without_the_key(face_client: FaceClient) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    prefix = f"fs-test-{uuid.uuid4().hex[:8]}:"
    overrides = {"cache.url": REDIS_URL, "cache.key_prefix": prefix, "encryption.keys": [f"k1:{key}"],
                 "encryption.current_key_id": "k1"}
    http, headers = await face_client(**overrides)
    r = redis.Redis.from_url(REDIS_URL)
    try:
        for path, uid, name in PEOPLE:
            resp = await http.post("/enroll", data=form(read(path), tenant_id=4, user_id=uid, name=name), headers=headers)
            assert resp.status == 200
        assert (await http.post("/cache/4/refresh-enrollments", headers=headers)).status == 200
        client = await http.app[STORE].client_by_key(headers["Authorization"].split()[1].split(":")[0])
        blob_key = http.app[GALLERIES].blobs.key(client.id, 4, await http.app[STORE].gallery_version(client.id, 4))
        opened = await http.app[CACHE].get(blob_key)  # through the app's sealed cache
        assert opened is not None
        assert sorted(e.name for e in decode_gallery(opened).entries()) == sorted(n for _, _, n in PEOPLE)
        raw = await r.get(prefix + blob_key)
        assert raw is not None and raw != opened and b"Zyxwvut" not in raw
        await r.set(prefix + blob_key, raw[:-1] + bytes([raw[-1] ^ 1]))  # tampered: a miss, not an error
        assert await http.app[CACHE].get(blob_key) is None
        resp = await http.post("/identify", data=form(read("faces/joe_biden/biden2.jpg"), tenant_id=4), headers=headers)
        assert resp.status == 200 and (await resp.json())["name"] == "Joe Qwertzuiop"
    finally:
        keys = [k async for k in r.scan_iter(match=prefix + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
