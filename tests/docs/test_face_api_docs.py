"""face_api_docs.md: every endpoint it documents, called as its sections describe (multipart fields
as listed), with the documented response fields asserted.

Deviation (deliberate, README §The root-level face API): the document says "Authentication: Tidak
ada" (none); this server requires `Authorization: ApiKey key:secret` by default (`auth.face_api:
off` opens it on a trusted network). The first test shows the documented call without credentials
answering 401 in the documented `{"detail"}` format; the others add the reader's credentials."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from tests.docs.conftest import FACE, OTHER, Reader
from tests.docs.seeds import block

DOC = "face_api_docs.md"


def _documented(heading: str) -> dict[str, Any]:
    """A response block of the document, read as JSON once its `// comments` and `...` elisions
    are removed (deviation: the document's JSON is annotated, not valid JSON)."""
    text = re.sub(r"//.*$", "", block(DOC, heading), flags=re.MULTILINE)
    text = re.sub(r"\[[^\[\]]*\.\.\.[^\[\]]*\]", "[]", text)
    return json.loads(text)


def _post(reader: Reader, path: str, fields: dict[str, Any], image: Any = FACE) -> tuple[int, Any]:
    files = {"file": (image.name, image.read_bytes(), "image/jpeg")} if image is not None else None
    resp = requests.post(reader.base + path, headers=reader.auth, data=fields, files=files, timeout=60)
    return resp.status_code, resp.json()


def test_without_credentials_the_documented_call_is_401_in_the_documented_format(reader: Reader) -> None:
    resp = requests.post(reader.base + "/encode", files={"file": FACE.read_bytes()}, timeout=60)
    assert resp.status_code == 401 and set(resp.json()) == {"detail"}


def test_basic_operations_encode_compare_detect(reader: Reader) -> None:
    status, enc = _post(reader, "/encode", {})
    assert status == 200 and set(_documented("### 1.1. Encode Wajah")) <= set(enc) and len(enc["encoding"]) == 512
    status, same = _post(reader, "/compare", {"encoding": json.dumps(enc["encoding"])})
    assert status == 200 and set(_documented("### 1.2. Compare Wajah")) <= set(same) and same["match"] is True
    status, other = _post(reader, "/compare", {"encoding": json.dumps(enc["encoding"]), "threshold": "0.35"}, OTHER)
    assert status == 200 and other["match"] is False and other["threshold"] == 0.35
    status, det = _post(reader, "/detect", {})
    assert status == 200 and len(det["faces"]) == 1 and len(det["faces"][0]) == 4


def test_multi_tenant_enroll_identify_verify_list_delete(reader: Reader) -> None:
    status, enrolled = _post(reader, "/enroll", {"tenant_id": "1", "user_id": "123", "name": "Budi Santoso"})
    assert status == 200 and set(_documented("### 2.1. Enroll Wajah")) <= set(enrolled) and enrolled["stored"]
    status, found = _post(reader, "/identify", {"tenant_id": "1"})
    assert status == 200 and set(_documented("### 2.2. Identify Wajah")) <= set(found)
    assert found["match"] is True and found["user_id"] == 123 and found["name"] == "Budi Santoso"
    status, verified = _post(reader, "/verify", {"tenant_id": "1", "user_id": "123"})
    assert status == 200 and set(_documented("### 2.3. Verify Wajah")) <= set(verified) and verified["verified"]
    listing = requests.get(reader.base + "/enrollments/1", headers=reader.auth, timeout=60).json()
    assert set(_documented("### 2.4. Get Daftar Enrollment")) <= set(listing)
    row = listing["enrollments"][0]
    assert {"id", "user_id", "name", "encoding"} <= set(row) and row["user_id"] == 123
    resp = requests.delete(f"{reader.base}/enrollments/1/{row['id']}", headers=reader.auth, timeout=60)
    assert resp.status_code == 200
    _post(reader, "/enroll", {"tenant_id": "1", "user_id": "124", "name": "Siti"})
    resp = requests.delete(f"{reader.base}/enrollments/1/name/Siti", headers=reader.auth, timeout=60)
    assert resp.status_code == 200
    assert requests.get(reader.base + "/enrollments/1", headers=reader.auth, timeout=60).json()["enrollments"] == []


def test_cache_management_and_health(reader: Reader) -> None:
    _post(reader, "/enroll", {"tenant_id": "2", "user_id": "7", "name": "Budi"})
    for path in ("/cache/2/invalidate", "/cache/2/refresh-enrollments"):
        resp = requests.post(reader.base + path, headers=reader.auth, timeout=60)
        assert resp.status_code == 200, resp.text
    refreshed = resp.json()
    assert set(_documented("### 3.2. Refresh Enrollments Cache")) <= set(refreshed)
    assert refreshed["enrollment_count"] == 1 and refreshed["tenant_id"] == 2
    resp = requests.get(reader.base + "/cache/2/status", headers=reader.auth, timeout=60)
    assert resp.status_code == 200 and resp.json()["tenant_id"] == 2
    health = requests.get(reader.base + "/health", timeout=60).json()
    assert health["status"] == _documented("### 4.1. Health Check")["status"] == "ok" and health["version"]


def test_error_format(reader: Reader) -> None:
    status, body = _post(reader, "/identify", {"tenant_id": "999"})
    assert status == 404 and set(body) == set(json.loads(block(DOC, "Standar Error Response"))) == {"detail"}
