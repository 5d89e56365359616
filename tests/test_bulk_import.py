"""POST /enrollments/{tenant_id}/import (JSON array and NDJSON of precomputed embeddings, one
transaction a request, validated like /compare) and the `timings` of /identify and /verify."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from api.keys import ENGINE, STORE
from storage import gallery_feed
from tests.conftest import FaceClient, unit_vector
from testkit.data import read
from testkit.helpers import form

OBAMA = "faces/barack_obama/obama.jpg"
OBAMA_PROBE = "faces/barack_obama/obama2.jpg"
BIDEN = "faces/joe_biden/biden2.jpg"
STAGES = {"decode", "detect", "landmarks", "embed", "search", "total"}


def _encoding(client: Any, path: str) -> list[float]:
    engine = client.app[ENGINE]
    return [float(v) for v in engine.embedding_of(engine.decode(read(path)))]


async def test_import_json_array_then_identify_and_verify_with_timings(face_client: FaceClient) -> None:
    client, auth = await face_client()
    people = [{"user_id": 1, "name": "Barack Obama", "encoding": _encoding(client, OBAMA)},
              {"user_id": "2", "name": "Joe Biden", "encoding": _encoding(client, BIDEN), "quality": 0.8}]
    people += [{"user_id": 100 + i, "name": f"Other {i}", "encoding": unit_vector(i).tolist()} for i in range(20)]
    resp = await client.post("/enrollments/3/import", json=people, headers=auth)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["imported"] == 22 and body["count"] == 22 and body["tenant_id"] == 3
    assert body["enrollment_ids"] == sorted(body["enrollment_ids"]) and len(set(body["enrollment_ids"])) == 22

    resp = await client.post("/identify", data=form(read(OBAMA_PROBE), tenant_id=3), headers=auth)
    assert resp.status == 200, await resp.text()
    found = await resp.json()
    assert found["match"] is True and found["user_id"] == 1 and found["name"] == "Barack Obama"
    timings = found["timings"]
    assert set(timings) == STAGES and timings["landmarks"] is None  # this path runs no landmark model
    ran = [timings[s] for s in ("decode", "detect", "embed", "search")]
    assert all(isinstance(v, float) and v >= 0 for v in ran) and timings["detect"] > 0 and timings["embed"] > 0
    assert timings["total"] >= sum(ran) - 0.01

    resp = await client.post("/verify", data=form(read(OBAMA_PROBE), tenant_id=3, user_id=2), headers=auth)
    verdict = await resp.json()
    assert resp.status == 200 and verdict["verified"] is False and set(verdict["timings"]) == STAGES

    listed = await (await client.get("/enrollments/3", headers=auth)).json()
    biden = [e for e in listed["enrollments"] if e["user_id"] == 2][0]
    assert biden["name"] == "Joe Biden" and biden["quality_score"] == 0.8


async def test_import_ndjson_is_one_transaction_and_one_feed_version(face_client: FaceClient) -> None:
    client, auth = await face_client()
    lines = "\n".join(json.dumps({"user_id": i, "name": f"P{i}", "encoding": unit_vector(i).tolist()}) for i in range(5))
    resp = await client.post("/enrollments/4/import", data=lines + "\n\n", headers={
        **auth, "Content-Type": "application/x-ndjson"})
    assert resp.status == 200, await resp.text()
    ids = (await resp.json())["enrollment_ids"]
    store = client.app[STORE]
    cid = (await store.client_by_key(auth["Authorization"].split()[1].split(":")[0])).id
    assert (await store.gallery_version(cid, 4)).version == 1  # one bump for the whole request
    async with store.engine.connect() as conn:
        fed = (await conn.execute(sa.select(gallery_feed.gallery_changes.c.entry_id)
                                  .where(gallery_feed.gallery_changes.c.tenant_id == 4))).scalars().all()
    assert sorted(fed) == sorted(ids)


async def test_import_refuses_bad_input_with_clear_errors_and_stores_nothing(face_client: FaceClient) -> None:
    client, auth = await face_client(**{"matching.import_batch_max": 3})
    good = {"user_id": 1, "name": "A", "encoding": unit_vector(1).tolist()}
    cases: list[tuple[Any, dict[str, str], int, str]] = [
        ("[1, 2", {}, 400, "Body is not valid JSON"),
        ('{"user_id": 1}', {}, 422, "Body must be a JSON array"),
        ("[]", {}, 422, "Nothing to import"),
        (json.dumps([good] * 4), {}, 413, "At most 3 faces per request (got 4)"),
        (json.dumps([good, {**good, "encoding": [1.0] * 511}]), {}, 422,
         "item 1: encoding must be a JSON array of 512 numbers"),
        (json.dumps([good, {**good, "encoding": [0.0] * 512}]), {}, 422, "item 1: encoding must be finite and non-zero"),
        (json.dumps([{**good, "user_id": "bob"}]), {}, 422, "item 0: user_id must be an integer or a user UUID"),
        (json.dumps([{"user_id": 1, "encoding": good["encoding"]}]), {}, 422, "item 0: missing name"),
        (json.dumps([{**good, "quality": 3}]), {}, 422, "item 0: quality must be a number between 0 and 1"),
        ('{"user_id": 1, "name": "A"}\nnot json', {"Content-Type": "application/x-ndjson"}, 400,
         "line 2 is not valid JSON"),
    ]
    for body, headers, status, message in cases:
        resp = await client.post("/enrollments/5/import", data=body,
                                 headers={**auth, "Content-Type": "application/json", **headers})
        assert resp.status == status, (body[:60], await resp.text())
        assert (await resp.json())["detail"].startswith(message), await resp.text()
    resp = await client.post("/enrollments/x/import", data="[]", headers={**auth, "Content-Type": "application/json"})
    assert resp.status == 422 and (await resp.json())["detail"].startswith("'tenant_id' must be an integer")
    assert (await client.get("/enrollments/5", headers=auth)).status == 404  # nothing was stored
    resp = await client.post("/enrollments/5/import", json=[good], headers={})
    assert resp.status == 401
