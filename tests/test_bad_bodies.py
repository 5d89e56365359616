"""Issue 24 item 3: the inputs that answered HTTP 500, each now a 4xx in its surface's format
(`{"error": {...}}` under /api/, `{"detail": ...}` on the root face API), and after each, a valid
request on the same route still works (api/body_reader.py, analytics dates, webhook log ids)."""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.conftest import FaceClient, unit_vector
from testkit.data import read
from testkit.helpers import form

NOPE = "nope-1"


async def _platform_error(resp: aiohttp.ClientResponse, status: int = 400) -> dict[str, Any]:
    body = await resp.json()
    assert resp.status == status and set(body) == {"error"}, (resp.status, body)
    return dict(body["error"])


async def _detail(resp: aiohttp.ClientResponse, status: int = 400) -> str:
    body = await resp.json()
    assert resp.status == status and set(body) == {"detail"}, (resp.status, body)
    return str(body["detail"])


def _credentials(auth: dict[str, str]) -> tuple[str, str]:
    key, secret = auth["Authorization"].removeprefix("ApiKey ").split(":", 1)
    return key, secret


def _multipart_with_charset(field: str, value: str, charset: str) -> tuple[bytes, str]:
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n"
            f"Content-Type: text/plain; charset={charset}\r\n\r\n{value}\r\n--{boundary}--\r\n").encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def test_unknown_charsets_are_400_on_form_routes(face_client: FaceClient) -> None:
    http, auth = await face_client()
    key, secret = _credentials(auth)
    login = "/api/core/auth/client/"  # unauthenticated
    resp = await http.post(login, data=f"api_key={key}&api_secret={secret}",
                           headers={"Content-Type": f"application/x-www-form-urlencoded; charset={NOPE}"})
    err = await _platform_error(resp)
    assert err["code"] == "VALIDATION_ERROR" and NOPE in err["message"], err
    body, ctype = _multipart_with_charset("api_key", key, NOPE)
    err = await _platform_error(await http.post(login, data=body, headers={"Content-Type": ctype}))
    assert err["code"] == "VALIDATION_ERROR", err
    resp = await http.post(login, data=f"api_key={key}&api_secret={secret}",
                           headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert resp.status == 200 and "access" in await resp.json()
    # JSON is UTF-8 whatever the label says (RFC 8259): the charset parameter is not consulted
    resp = await http.post(login, data=json.dumps({"api_key": key, "api_secret": secret}),
                           headers={"Content-Type": f"application/json; charset={NOPE}"})
    assert resp.status == 200 and "access" in await resp.json()
    resp = await http.post(login, data=b'{"api_key": "\xff"}', headers={"Content-Type": "application/json"})
    assert (await _platform_error(resp))["code"] == "VALIDATION_ERROR"

    # the root face API: the same reader, its own format
    resp = await http.post("/detect", data="tenant_id=1", headers={
        **auth, "Content-Type": f"application/x-www-form-urlencoded; charset={NOPE}"})
    assert NOPE in await _detail(resp)
    body, ctype = _multipart_with_charset("tenant_id", "1", NOPE)
    await _detail(await http.post("/detect", data=body, headers={**auth, "Content-Type": ctype}))
    resp = await http.post("/detect", data=form(read("scenes/obama_small.jpg")), headers=auth)
    assert resp.status == 200 and len((await resp.json())["faces"]) == 1


async def _import(http: TestClient, auth: dict[str, str], body: bytes | str, ctype: str = "application/json"
                  ) -> aiohttp.ClientResponse:
    return await http.post("/enrollments/7/import", data=body, headers={**auth, "Content-Type": ctype})


async def test_import_bodies_that_crashed_the_parser(face_client: FaceClient) -> None:
    http, auth = await face_client()
    huge = "1" + "0" * 400  # an integer beyond float range (OverflowError in the float conversion)
    over = "9" * 309  # 309 digits, still beyond the largest float
    for number in (huge, over):
        body = '[{"user_id": 1, "name": "a", "encoding": [%s%s]}]' % (number, ", 0.0" * 511)
        assert "float" in await _detail(await _import(http, auth, body))
        assert "float" in await _detail(await _import(http, auth, body.strip("[]"), "application/x-ndjson"))
    deep = "[" * 100_000 + "]" * 100_000  # RecursionError in the parser
    assert "deep" in await _detail(await _import(http, auth, deep))
    assert "deep" in await _detail(await _import(http, auth, deep, "application/x-ndjson"))
    assert "utf-8" in await _detail(await _import(http, auth, b'[{"name": "\xff\xfe"}]'))
    assert NOPE in await _detail(await _import(http, auth, "[]", f"application/json; charset={NOPE}"))
    good = [{"user_id": 1, "name": "Ann", "encoding": unit_vector(1).tolist()}]
    resp = await http.post("/enrollments/7/import", json=good, headers=auth)
    assert resp.status in (200, 201) and (await resp.json())["imported"] == 1


async def test_far_dates_and_unicode_digit_ids(face_client: FaceClient) -> None:
    http, auth = await face_client()
    for path in ("/api/analytics/audit-logs/", "/api/analytics/security-events/"):
        for query in ({"end_date": "9999-12-31"}, {"start_date": "0001-01-01", "end_date": "9999-12-31"},
                      {"start_date": "9999-12-31"}):
            resp = await http.get(path, params=query, headers=auth)
            assert resp.status == 200, (path, query, await resp.text())
    for path in ("/api/webhooks/logs/%C2%B3/", "/api/webhooks/logs/%D9%A3/"):  # "³", Arabic-Indic 3
        err = await _platform_error(await http.get(path, headers=auth), 404)
        assert err["code"] == "NOT_FOUND"
        err = await _platform_error(await http.post(path + "retry/", headers=auth), 404)
        assert err["code"] == "NOT_FOUND"
    await _platform_error(await http.get("/api/clients/api-usage/%C2%B3/", headers=auth), 404)
    resp = await http.get("/api/webhooks/logs/", headers=auth)
    assert resp.status == 200 and (await resp.json())["count"] == 0


async def test_a_full_batch_at_full_float_precision_fits(face_client: FaceClient) -> None:
    """Issue 24 item 6: import_batch_max rows of 512 full-precision floats are over 10 MiB; the
    import route reads up to what that many faces can take, other routes keep max_upload_bytes."""
    http, auth = await face_client()
    rows = [{"user_id": i, "name": f"p{i}", "encoding": [float(x) for x in unit_vector(i).astype("float64") / 3]}
            for i in range(1000)]
    body = json.dumps(rows).encode()
    assert len(body) > 10 * 1024 * 1024
    resp = await http.post("/enrollments/8/import", data=io.BytesIO(body), headers={**auth, "Content-Type": "application/json"})
    assert resp.status == 200, (await resp.text())[:300]
    assert (await resp.json())["imported"] == 1000
    resp = await http.post("/enrollments/8/import", data=io.BytesIO(body + b" " * (8 << 20)),
                           headers={**auth, "Content-Type": "application/json"})
    assert "too large" in await _detail(resp, 413)
    resp = await http.post("/api/clients/users/", data=io.BytesIO(body), headers={**auth, "Content-Type": "application/json"})
    assert (await _platform_error(resp, 413))["code"] == "PAYLOAD_TOO_LARGE"
