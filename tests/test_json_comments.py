"""`//` line comments in JSON bodies (the documents' bodies carry them) are ignored; strings that
contain `//` are untouched; a body still invalid without its comments is the usual 400."""

from __future__ import annotations

from api.json_comments import without_line_comments
from tests.conftest import FaceClient
from tests.session_helpers import make_user


def test_comments_go_strings_stay() -> None:
    body = b'{\n  "session_type": "webcam", // or "mobile", "api"\n  "url": "https://a//b" // x\n}'
    assert without_line_comments(body) == b'{\n  "session_type": "webcam", \n  "url": "https://a//b" \n}'
    assert without_line_comments(b'{"url": "https://a//b"}') is None  # nothing to remove
    assert without_line_comments(b'{"a": "q\\"//"}') is None  # an escaped quote keeps the string open
    assert without_line_comments(b'\xff// x') is None


async def test_a_documented_body_with_comments_is_read_as_written(face_client: FaceClient) -> None:
    http, auth = await face_client()
    await make_user(http, auth, "EMP040")
    headers = {**auth, "Content-Type": "application/json"}
    body = '{\n  "user_id": "EMP040",\n  "session_type": "mobile", // or "webcam"\n  "target_samples": 4 // c\n}'
    resp = await http.post("/api/auth/enrollment/create/", data=body, headers=headers)
    created = await resp.json()
    assert resp.status == 201, created
    assert created["session_type"] == "mobile" and created["target_samples"] == 4
    resp = await http.post("/api/auth/enrollment/create/", data='{"user_id": "EMP040" // c\n,,}', headers=headers)
    error = (await resp.json())["error"]
    assert resp.status == 400 and error["code"] == "VALIDATION_ERROR"
    assert error["message"] == "Request body must be JSON (// line comments are ignored)"
    resp = await http.post("/api/auth/enrollment/create/", data="{oops", headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["message"] == "Request body must be JSON"
