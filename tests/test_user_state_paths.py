"""Issue 8 acceptance: a user's state is honoured the same way on every path.

Deactivated: no path authenticates them (REST and WebRTC refuse the session with 403
USER_INACTIVE, the WebSocket answers an `error` with USER_INACTIVE, root /verify answers 404 as
if not enrolled); reactivated: every path authenticates them again. Deleted: nothing matches
them anywhere (tenant 0 and another tenant where their UUID was enrolled through the root API),
the user and their export are gone, and the stored session records keep no trace of their name.
A face already enrolled to one user is refused for another over WebRTC too.
Real models, real frames (the blink video; another person's photo for the second user).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import FaceClient
from testkit.data import read
from tests.path_clients import (
    Outcome, create_stream, error_code, json_of, root_enroll, root_identify, root_verify, rtc_enroll, rtc_verify,
    rest_verify, ws_open, ws_verify,
)
from tests.session_helpers import direct_enroll, enroll_video, make_user, post_frame, still_jpeg, video_jpegs

OTHER_PHOTO = "faces/barack_obama/obama.jpg"
THIRD_PHOTO = "faces/joe_biden/biden2.jpg"
NAME = "Wilhelmina Statecheck"
OTHER_TENANT = 7
CONFIG = {"streaming.connect_timeout_s": 20.0, "rate_limits.enabled": False}


def live_frame() -> bytes:
    return next(data for t, data in video_jpegs() if t >= 2.0)


async def _enrolled_live_user(http: TestClient, auth: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """EMP001 = the live person, enrolled with the video over a REST session (liveness proven);
    EMP002 = another person, so tenant 0 stays populated whatever happens to EMP001."""
    uid = await make_user(http, auth, "EMP001", NAME)
    session, responses = await enroll_video(http, auth, "EMP001")
    assert responses[-1]["session_status"] == "completed", responses[-1]
    await make_user(http, auth, "EMP002", "Otto Fremdling")
    status, out = await direct_enroll(http, auth, "EMP002", read(OTHER_PHOTO))
    assert status == 201, out
    return uid, session


def _refused(outcome: Outcome, code: str) -> bool:
    return not outcome.success and outcome.refused == code


class Checklist:
    """Every path is checked even when an earlier one is wrong; the test fails once, at the end,
    with the full list (one broken path must not hide another)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, ok: bool, what: str, got: object) -> None:
        if not ok:
            self.problems.append(f"{what}: got {str(got)[:700]}")

    def verify(self) -> None:
        assert not self.problems, "\n".join(self.problems)


async def test_deactivated_user_fails_on_every_path_and_reactivation_restores_it(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid, _ = await _enrolled_live_user(http, auth)
    nobody = await make_user(http, auth, "EMP404", "Never Enrolled")
    check = Checklist()

    resp = await http.post(f"/api/clients/users/{uid}/deactivate/", headers=auth)
    assert resp.status == 200 and (await resp.json())["is_active"] is False

    socket = await ws_open(http, auth)  # one socket: a refusal leaves it usable
    for ref in ("EMP001", uid):  # by external_id and by UUID: the same answer
        rest = await rest_verify(http, auth, ref)
        # refused at create, or (if a session was created) no frame succeeds
        check(not rest.success and ((rest.refused, rest.http_status) == ("USER_INACTIVE", 403) or
                                    (rest.refused is None and rest.session_id is not None)),
              f"deactivated, REST verification of {ref}", rest)
        rtc = await rtc_verify(http, auth, ref)
        check(_refused(rtc, "USER_INACTIVE") and rtc.http_status == 403,
              f"deactivated, WebRTC create for {ref} is 403 USER_INACTIVE", rtc)
        ws = await ws_verify(http, auth, ref, max_seconds=4.0, ws=socket)
        check(_refused(ws, "USER_INACTIVE") and not any(e["type"] == "recognition_result" for e in ws.raw),
              f"deactivated, WebSocket process_frame for {ref} is an error USER_INACTIVE", ws)
    root = await root_verify(http, auth, uid, live_frame())
    never = await root_verify(http, auth, nobody, live_frame())
    check(not root.success and root.http_status == 404, "deactivated, root /verify answers 404", root)
    # ...the same 404 as a user who never enrolled (the answer reveals nothing more).
    check(never.http_status == 404 and isinstance(root.raw, dict) and
          str(root.raw.get("detail")).replace(uid, "<id>") == str(never.raw.get("detail")).replace(nobody, "<id>"),
          "deactivated, root /verify answers like a user who never enrolled", (root.raw, never.raw))

    resp = await http.post(f"/api/clients/users/{uid}/activate/", headers=auth)
    assert resp.status == 200 and (await resp.json())["is_active"] is True
    outcomes = [
        await rest_verify(http, auth, uid),
        await rtc_verify(http, auth, "EMP001"),
        await ws_verify(http, auth, uid, ws=socket),
        await root_verify(http, auth, uid, live_frame()),
    ]
    await socket.close()
    for outcome in outcomes:
        check(outcome.success and outcome.user_id == uid, f"reactivated, {outcome.path} verifies the user", outcome)
    check.verify()


async def test_deleted_user_matches_nowhere_and_leaves_no_name_behind(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid, enrollment = await _enrolled_live_user(http, auth)
    verified = await rest_verify(http, auth, "EMP001")  # leaves an authentication session record
    assert verified.success and verified.session_id, str(verified)
    # The same UUID also enrolled through the root API in another tenant, beside someone else.
    status, out = await root_enroll(http, auth, OTHER_TENANT, uid, NAME, still_jpeg())
    assert status == 200, out
    status, out = await root_enroll(http, auth, OTHER_TENANT, "42", "Joe Third", read(THIRD_PHOTO))
    assert status == 200, out
    for tenant in (0, OTHER_TENANT):  # before: the live person is found in both
        status, found = await root_identify(http, auth, tenant, live_frame())
        assert status == 200 and found["match"] and str(found["user_id"]) == uid, found

    resp = await http.delete(f"/api/clients/users/{uid}/", headers=auth)
    assert resp.status == 200, await resp.text()
    check = Checklist()

    for tenant in (0, OTHER_TENANT):
        status, found = await root_identify(http, auth, tenant, live_frame())
        text = json.dumps(found)
        # the tenant still holds someone else, so this is a real search that finds nobody
        check(status == 200 and found.get("match") is False and found.get("user_id") is None
              and uid not in text and NAME not in text, f"root /identify in tenant {tenant} matches nobody", found)
        listing = await json_of(await http.get(f"/enrollments/{tenant}", headers=auth))
        rows = [(e["id"], e["user_id"], e["name"]) for e in listing.get("enrollments", [])]
        check(all(str(user) != uid for _, user, _ in rows), f"/enrollments/{tenant} holds no row of the user", rows)
        gone = await root_verify(http, auth, uid, live_frame(), tenant_id=tenant)
        check(gone.http_status == 404, f"root /verify in tenant {tenant} answers 404", gone)
    for path in (f"/api/clients/users/{uid}/", f"/api/clients/users/{uid}/export/"):
        resp = await http.get(path, headers=auth)
        check(resp.status == 404, f"GET {path} is 404", await resp.text())
    for ref in ("EMP001", uid):
        rest = await rest_verify(http, auth, ref)
        check(rest.refused == "USER_NOT_FOUND" and rest.http_status == 404, f"REST create for {ref} is 404", rest)
        status, body = await create_stream(http, auth, mode="verification", user_id=ref, require_liveness=True)
        check(status == 404 and error_code(body) == "USER_NOT_FOUND", f"WebRTC create for {ref} is 404", body)
        ws = await ws_verify(http, auth, ref, max_seconds=4.0)
        check(_refused(ws, "USER_NOT_FOUND"), f"WebSocket process_frame for {ref} is USER_NOT_FOUND", ws)
    # A REST identification session with the live frames finds nobody.
    resp = await http.post("/api/auth/authentication/create/", json={"mode": "identification"}, headers=auth)
    assert resp.status == 201
    ident = await json_of(resp)
    out: dict[str, Any] = {}
    for t, data in video_jpegs():
        if t > 4.0:
            break
        status, out = await post_frame(http, ident["session_token"], data, t, path="/api/auth/process-image/")
        assert status == 200, out
        if out["status"] != "processing":
            break
    check(out.get("success") is not True and uid not in json.dumps(out) and NAME not in json.dumps(out),
          "REST identification finds nobody", out)

    # The stored session records of that user keep no name of theirs.
    records = {
        "enrollment": f"/api/auth/enrollment/{enrollment['session_id']}/",
        "authentication": f"/api/auth/authentication/{verified.session_id}/",
    }
    for kind, path in records.items():
        resp = await http.get(path, headers=auth)
        text = await resp.text()
        at = text.find(NAME)
        check(resp.status in (200, 404) and at < 0, f"GET {path} ({kind} session record) keeps no name of the "
              f"deleted user", f"{resp.status} ...{text[max(0, at - 300):at + 60]}..." if at >= 0 else resp.status)
    check.verify()


async def test_a_face_enrolled_to_one_user_is_refused_for_another_over_webrtc(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid_a, _ = await _enrolled_live_user(http, auth)
    uid_b = await make_user(http, auth, "EMP003", "Bert Doppelganger")

    status, created, events = await rtc_enroll(http, auth, "EMP003")
    assert status == 201, created
    kinds = [e["type"] for e in events]
    errors = [e["payload"] for e in events if e["type"] == "error"]
    assert [e.get("code") for e in errors] == ["FACE_ALREADY_ENROLLED"], (errors, kinds[-15:])
    statuses = [e["payload"]["status"] for e in events if e["type"] == "session_status"]
    assert "failed" in statuses and "completed" not in statuses, statuses
    assert all(e["payload"].get("user_id") != uid_b for e in events if e["type"] == "recognition_result")
    resp = await http.get(f"/api/streaming/sessions/{created['session_id']}/", headers=auth)
    assert resp.status == 200
    snapshot = await resp.json()
    assert snapshot["status"] == "failed", snapshot

    # Nothing was stored for B; A keeps the face.
    user_b = await (await http.get(f"/api/clients/users/{uid_b}/", headers=auth)).json()
    assert user_b["has_enrollment"] is False and user_b["enrollments_count"] == 0, user_b
    listing = await json_of(await http.get("/enrollments/0", headers=auth))
    assert all(str(e["user_id"]) != uid_b and e["user_id"] != "EMP003" for e in listing["enrollments"]), listing
    a = await root_verify(http, auth, uid_a, live_frame())
    assert a.success, str(a)


async def test_unknown_and_unenrolled_users_get_the_same_refusal_on_every_path(face_client: FaceClient) -> None:
    """Refused before any frame is looked at, with the same code on every path."""
    http, auth = await face_client(**CONFIG)
    fresh = await make_user(http, auth, "EMP009", "Nora Nofaceyet")
    socket = await ws_open(http, auth)
    for ref, code in (("no-such-user", "USER_NOT_FOUND"), ("EMP009", "USER_NOT_ENROLLED"), (fresh, "USER_NOT_ENROLLED")):
        rest = await rest_verify(http, auth, ref)
        assert (rest.refused, rest.http_status) == (code, 404), str(rest)
        status, body = await create_stream(http, auth, mode="verification", user_id=ref, require_liveness=True)
        assert (status, error_code(body)) == (404, code), body
        ws = await ws_verify(http, auth, ref, max_seconds=2.0, ws=socket)
        assert _refused(ws, code), str(ws)
    root = await root_verify(http, auth, fresh, live_frame())
    assert root.http_status == 404, str(root)
    await socket.close()
