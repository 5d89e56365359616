"""The root-level face API over HTTP with real models on the shared photos."""

from __future__ import annotations

import json

from tests.conftest import FaceClient
from testkit.data import identities, pairs, read
from testkit.helpers import form


async def test_health_needs_no_auth(face_client: FaceClient) -> None:
    client, _ = await face_client()
    resp = await client.get("/health")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "version": "0.1.0"}
    assert resp.headers["X-Request-ID"]


async def test_auth_is_required_by_default(face_client: FaceClient) -> None:
    client, headers = await face_client()
    data = read("faces/barack_obama/obama.jpg")
    resp = await client.post("/encode", data=form(data))
    assert resp.status == 401
    assert "ApiKey" in (await resp.json())["detail"]
    key = headers["Authorization"].split(" ")[1].split(":")[0]
    resp = await client.post("/encode", data=form(data), headers={"Authorization": f"ApiKey {key}:wrong"})
    assert resp.status == 401 and (await resp.json()) == {"detail": "Invalid API key or secret"}
    resp = await client.post("/encode", data=form(data), headers={"Authorization": "Bearer abc"})
    assert resp.status == 401


async def test_auth_off_serves_the_internal_client(face_client: FaceClient) -> None:
    client, _ = await face_client(**{"auth.face_api": "off"})
    resp = await client.post("/enroll", data=form(read("faces/joe_biden/biden2.jpg"), tenant_id=5, user_id=1, name="Joe"))
    assert resp.status == 200
    resp = await client.get("/enrollments/5")
    assert resp.status == 200 and [e["name"] for e in (await resp.json())["enrollments"]] == ["Joe"]


async def test_encode_detect_and_compare_shapes(face_client: FaceClient) -> None:
    client, h = await face_client()
    resp = await client.post("/encode", data=form(read("faces/barack_obama/obama.jpg")), headers=h)
    assert resp.status == 200
    enc = (await resp.json())["encoding"]
    assert len(enc) == 512 and abs(sum(v * v for v in enc) - 1.0) < 1e-3

    resp = await client.post("/detect", data=form(read("scenes/friends_t1.jpg")), headers=h)
    boxes = (await resp.json())["faces"]
    assert len(boxes) == 6 and all(len(b) == 4 and b[0] < b[2] and b[1] < b[3] for b in boxes)

    resp = await client.post(
        "/compare", data=form(read("faces/barack_obama/obama1.jpg"), encoding=json.dumps(enc)), headers=h
    )
    body = await resp.json()
    assert set(body) == {"match", "distance", "threshold", "model", "dimension"}
    assert (body["model"], body["dimension"]) == ("w600k_mbf", 512)
    assert body["match"] is True and body["distance"] < body["threshold"] == 0.72

    resp = await client.post(
        "/compare",
        data=form(read("faces/joe_biden/biden2.jpg"), encoding=json.dumps(enc), threshold="0.2"),
        headers=h,
    )
    body = await resp.json()
    assert body["match"] is False and body["threshold"] == 0.2 and body["distance"] > 0.72


async def test_compare_and_verify_agree_with_every_labelled_pair(face_client: FaceClient) -> None:
    """All 292 pairs of pairs.csv, through /encode + /compare and through /enroll + /verify."""
    # Hundreds of calls in a minute and repeated impostor pairs per user: not what this measures.
    client, h = await face_client(**{"rate_limits.enabled": False, "sessions.max_failures": 1_000_000})
    images = sorted({p.img_a for p in pairs()} | {p.img_b for p in pairs()})
    encodings: dict[str, list[float]] = {}
    user_ids: dict[str, int] = {}
    for uid, path in enumerate(images, start=1):
        resp = await client.post("/enroll", data=form(read(path), tenant_id=1, user_id=uid, name=path), headers=h)
        assert resp.status == 200, path
        user_ids[path] = uid
        resp = await client.get("/enrollments/1", headers=h)
    listing = (await resp.json())["enrollments"]
    encodings = {e["name"]: e["encoding"] for e in listing}
    assert len(encodings) == len(images)

    wrong_compare, wrong_verify = [], []
    for pair in pairs():
        img = read(pair.img_b)
        resp = await client.post("/compare", data=form(img, encoding=json.dumps(encodings[pair.img_a])), headers=h)
        if (await resp.json())["match"] != pair.same:
            wrong_compare.append(pair)
        resp = await client.post("/verify", data=form(img, tenant_id=1, user_id=user_ids[pair.img_a]), headers=h)
        body = await resp.json()
        assert body["success"] is True and body["user_id"] == user_ids[pair.img_a]
        if body["verified"] != pair.same:
            wrong_verify.append(pair)
    assert wrong_compare == [] and wrong_verify == []


async def test_identify_is_rank1_for_every_held_out_identity(face_client: FaceClient) -> None:
    client, h = await face_client(**{"rate_limits.enabled": False})  # a gallery of every photo in a minute
    people = identities()
    assert len(people) == 14
    held_out: dict[str, str] = {}
    for uid, (person, paths) in enumerate(people.items(), start=100):
        held_out[person] = paths[0]
        for path in paths[1:]:
            resp = await client.post("/enroll", data=form(read(path), tenant_id=7, user_id=uid, name=person), headers=h)
            assert resp.status == 200
    for person, path in held_out.items():
        resp = await client.post("/identify", data=form(read(path), tenant_id=7), headers=h)
        body = await resp.json()
        assert resp.status == 200
        assert body["match"] is True and body["name"] == person, (path, body["candidates"][:2])
        assert body["distance"] < 0.72 and len(body["box"]) == 4
        assert body["candidates"][0]["name"] == person


async def test_enrollment_listing_and_deletion(face_client: FaceClient) -> None:
    client, h = await face_client()
    for uid, (name, path) in enumerate(
        [("Barack", "faces/barack_obama/obama.jpg"), ("Barack", "faces/barack_obama/obama2.jpg"), ("Joe", "faces/joe_biden/biden2.jpg")],
        start=1,
    ):
        resp = await client.post("/enroll", data=form(read(path), tenant_id=3, user_id=uid, name=name), headers=h)
        body = await resp.json()
        assert body["stored"] is True and body["tenant_id"] == 3 and body["count"] == uid

    listing = (await (await client.get("/enrollments/3", headers=h)).json())["enrollments"]
    assert [(e["user_id"], e["name"]) for e in listing] == [(1, "Barack"), (2, "Barack"), (3, "Joe")]
    assert all(len(e["encoding"]) == 512 for e in listing)

    joe_id = listing[2]["id"]
    resp = await client.delete(f"/enrollments/3/{joe_id}", headers=h)
    assert resp.status == 200 and (await resp.json())["deleted"] == 1
    assert (await client.delete(f"/enrollments/3/{joe_id}", headers=h)).status == 404

    # The deleted face is no longer identified (gallery invalidated on write).
    resp = await client.post("/identify", data=form(read("faces/joe_biden/biden.jpg"), tenant_id=3), headers=h)
    assert (await resp.json())["match"] is False

    resp = await client.delete("/enrollments/3/name/Barack", headers=h)
    assert (await resp.json())["deleted"] == 2
    assert (await (await client.get("/enrollments/3", headers=h)).json())["enrollments"] == []
    assert (await client.delete("/enrollments/3/name/Barack", headers=h)).status == 404


async def test_cache_endpoints(face_client: FaceClient) -> None:
    client, h = await face_client()
    await client.post("/enroll", data=form(read("faces/joe_biden/biden2.jpg"), tenant_id=9, user_id=1, name="Joe"), headers=h)
    status = await (await client.get("/cache/9/status", headers=h)).json()
    assert status["cached"] is False and status["enrollment_count"] == 1 and status["backend"] == "memory"

    resp = await client.post("/cache/9/refresh-enrollments", headers=h)
    assert await resp.json() == {"cache_refreshed": True, "tenant_id": 9, "enrollment_count": 1}
    status = await (await client.get("/cache/9/status", headers=h)).json()
    assert status["cached"] is True and 0 < status["ttl_seconds"] <= 3600

    resp = await client.post("/cache/9/invalidate", headers=h)
    assert await resp.json() == {"invalidated": True, "tenant_id": 9}
    assert (await (await client.get("/cache/9/status", headers=h)).json())["cached"] is False
    assert (await client.post("/cache/404/refresh-enrollments", headers=h)).status == 404


async def test_tenants_of_two_clients_never_see_each_other(face_client: FaceClient) -> None:
    client, alice = await face_client()
    from api.keys import STORE

    other = await client.app[STORE].create_client("bob")
    bob = {"Authorization": f"ApiKey {other.client.api_key}:{other.api_secret}"}
    resp = await client.post("/enroll", data=form(read("faces/joe_biden/biden2.jpg"), tenant_id=1, user_id=1, name="Joe"), headers=alice)
    entry = (await resp.json())["enrollment_id"]

    assert (await client.get("/enrollments/1", headers=bob)).status == 404
    assert (await client.post("/identify", data=form(read("faces/joe_biden/biden.jpg"), tenant_id=1), headers=bob)).status == 404
    assert (await client.post("/verify", data=form(read("faces/joe_biden/biden.jpg"), tenant_id=1, user_id=1), headers=bob)).status == 404
    assert (await client.delete(f"/enrollments/1/{entry}", headers=bob)).status == 404
    assert (await client.delete("/enrollments/1/name/Joe", headers=bob)).status == 404
    assert (await client.post("/cache/1/refresh-enrollments", headers=bob)).status == 404
    # Bob's own tenant 1 is separate: enrolling there does not touch Alice's.
    await client.post("/enroll", data=form(read("faces/barack_obama/obama.jpg"), tenant_id=1, user_id=1, name="Barack"), headers=bob)
    alice_list = (await (await client.get("/enrollments/1", headers=alice)).json())["enrollments"]
    assert [e["name"] for e in alice_list] == ["Joe"]
    resp = await client.post("/identify", data=form(read("faces/joe_biden/biden.jpg"), tenant_id=1), headers=bob)
    assert (await resp.json())["match"] is False
