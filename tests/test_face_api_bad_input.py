"""Bad input on the face API: a clear 4xx `{"detail"}` each time, and the server keeps serving."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
from aiohttp.test_utils import TestClient
from PIL import Image

from tests.conftest import FaceClient
from testkit.data import read
from testkit.helpers import form


async def _still_serving(client: TestClient, headers: dict[str, str]) -> None:
    resp = await client.post("/detect", data=form(read("scenes/obama_small.jpg")), headers=headers)
    assert resp.status == 200 and len((await resp.json())["faces"]) == 1


async def _detail(resp) -> str:  # type: ignore[no-untyped-def]
    body = await resp.json()
    assert set(body) == {"detail"}, body
    return str(body["detail"])


async def test_non_image_truncated_and_empty_files(face_client: FaceClient) -> None:
    client, h = await face_client()
    resp = await client.post("/encode", data=form(b"%PDF-1.4 this is not an image" * 40), headers=h)
    assert resp.status == 415 and "image format" in await _detail(resp)

    jpeg = read("faces/barack_obama/obama.jpg")
    resp = await client.post("/encode", data=form(jpeg[: len(jpeg) // 2]), headers=h)
    assert resp.status == 400 and "Could not decode image data" in await _detail(resp)

    resp = await client.post("/encode", data=form(b""), headers=h)
    assert resp.status == 400 and await _detail(resp) == "Empty file"
    await _still_serving(client, h)


async def test_fifty_megapixel_image_is_refused_before_decoding(face_client: FaceClient) -> None:
    client, h = await face_client()
    big = cv2.imencode(".jpg", np.full((6250, 8000, 3), 90, np.uint8))[1].tobytes()
    assert len(big) < 10 * 1024 * 1024
    resp = await client.post("/detect", data=form(big), headers=h)
    assert resp.status == 413
    assert "8000x6250 (50.0 megapixels); the limit is 40.0 megapixels" in await _detail(resp)
    await _still_serving(client, h)


async def test_thirty_megabyte_upload_hits_the_configured_limit(face_client: FaceClient) -> None:
    client, h = await face_client()
    resp = await client.post("/encode", data=form(b"\xff" * (30 * 1024 * 1024)), headers=h)
    assert resp.status == 413
    assert await _detail(resp) == "Request body too large; the limit is 10485760 bytes"
    await _still_serving(client, h)


async def test_png_with_alpha_and_grayscale_images_work(face_client: FaceClient) -> None:
    client, h = await face_client()
    rgba = read("scenes/obama_32bit.png")
    assert Image.open(io.BytesIO(rgba)).mode == "RGBA"
    resp = await client.post("/detect", data=form(rgba, filename="x.png"), headers=h)
    assert resp.status == 200 and len((await resp.json())["faces"]) == 1

    grey = read("faces/jim_parsons/sheldon1.png")
    assert Image.open(io.BytesIO(grey)).mode in ("L", "LA", "P")
    resp = await client.post("/encode", data=form(grey, filename="x.png"), headers=h)
    assert resp.status == 200 and len((await resp.json())["encoding"]) == 512

    colour = cv2.imdecode(np.frombuffer(read("faces/barack_obama/obama.jpg"), np.uint8), cv2.IMREAD_GRAYSCALE)
    grey_jpeg = cv2.imencode(".jpg", colour)[1].tobytes()
    resp = await client.post("/detect", data=form(grey_jpeg), headers=h)
    assert resp.status == 200 and len((await resp.json())["faces"]) == 1


async def test_no_face_is_400_with_the_documented_message(face_client: FaceClient) -> None:
    client, h = await face_client()
    resp = await client.post("/encode", data=form(read("scenes/dogs.jpg")), headers=h)
    assert resp.status == 400 and await _detail(resp) == "No face detected in image"
    resp = await client.post("/detect", data=form(read("scenes/dogs.jpg")), headers=h)
    assert resp.status == 200 and (await resp.json())["faces"] == []


async def test_verify_with_several_faces_uses_the_largest_and_says_so(face_client: FaceClient) -> None:
    client, h = await face_client()
    await client.post("/enroll", data=form(read("faces/barack_obama/obama.jpg"), tenant_id=1, user_id=1, name="Barack"), headers=h)
    await client.post("/enroll", data=form(read("faces/joe_biden/biden2.jpg"), tenant_id=1, user_id=2, name="Joe"), headers=h)
    scene = read("scenes/obama_and_biden.jpg")
    largest = (await (await client.post("/detect", data=form(scene), headers=h)).json())["faces"][0]
    results = {}
    for uid in (1, 2):
        resp = await client.post("/verify", data=form(scene, tenant_id=1, user_id=uid), headers=h)
        body = await resp.json()
        assert resp.status == 200
        assert body["faces_detected"] >= 2 and "largest" in body["note"]
        assert body["box"] == largest
        results[uid] = body["verified"]
    # Exactly one of the two people is the largest face, and only that one verifies.
    assert sorted(results.values()) == [False, True]


async def test_bad_encodings_and_fields_are_422(face_client: FaceClient) -> None:
    client, h = await face_client()
    img = read("faces/barack_obama/obama1.jpg")
    for encoding in ("[0.1, 0.2]", json.dumps(["x"] * 512), "not json", json.dumps({"a": 1}), json.dumps([0.0] * 512)):
        resp = await client.post("/compare", data=form(img, encoding=encoding), headers=h)
        assert resp.status == 422, encoding
        assert "encoding" in await _detail(resp)
    resp = await client.post("/compare", data=form(img), headers=h)
    assert resp.status == 422 and await _detail(resp) == "'encoding' is required"
    resp = await client.post("/enroll", data=form(img, tenant_id="abc", user_id=1, name="x"), headers=h)
    assert resp.status == 422 and "tenant_id" in await _detail(resp)
    resp = await client.post("/enroll", data=form(None, tenant_id=1, user_id=1, name="x"), headers=h)
    assert resp.status == 422 and "'file' is required" in await _detail(resp)
    resp = await client.post("/verify", data=form(img, tenant_id=1, user_id=1, threshold="-3"), headers=h)
    assert resp.status == 422 and "threshold" in await _detail(resp)
    resp = await client.post("/encode", data=b'{"file": "x"}', headers={**h, "Content-Type": "application/json"})
    assert resp.status == 415 and "multipart/form-data" in await _detail(resp)
    await _still_serving(client, h)


async def test_unknown_tenant_and_user_are_404(face_client: FaceClient) -> None:
    client, h = await face_client()
    img = read("faces/barack_obama/obama1.jpg")
    resp = await client.post("/identify", data=form(img, tenant_id=424242), headers=h)
    assert resp.status == 404 and await _detail(resp) == "Tenant 424242 not found"
    await client.post("/enroll", data=form(img, tenant_id=1, user_id=1, name="B"), headers=h)
    resp = await client.post("/verify", data=form(img, tenant_id=1, user_id=99), headers=h)
    assert resp.status == 404 and await _detail(resp) == "User 99 is not enrolled in tenant 1"
    assert (await client.get("/enrollments/abc", headers=h)).status == 422
    resp = await client.get("/no-such-path")
    assert resp.status == 404 and await _detail(resp) == "Not Found"
    resp = await client.get("/encode", headers=h)
    assert resp.status == 405 and "Allow" in resp.headers
