"""Issue 23 item 3: tenant 0 of the root face API is the platform's users, so the platform's rules.

A root `/enroll` in tenant 0 cannot give a face already enrolled to one user to another (the
platform's FACE_ALREADY_ENROLLED, in the root API's `{"detail"}` format); deactivated and deleted
users are never verified or named; a failed root `/verify` is an attempt the platform counts
(audit row, `authentication.failed` webhook event, the user's lockout shared with the sessions).
Real models, real photos.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp.test_utils import TestClient

from api.auth_guard import user_policy
from facestream.config import load_config

from tests.conftest import FaceClient
from testkit.data import read
from testkit.helpers import form
from tests.path_clients import json_of, rest_verify
from tests.session_helpers import direct_enroll, make_user

OBAMA, OBAMA_1, OBAMA_2 = "faces/barack_obama/obama.jpg", "faces/barack_obama/obama1.jpg", "faces/barack_obama/obama2.jpg"
BIDEN, BIDEN_2 = "faces/joe_biden/biden.jpg", "faces/joe_biden/biden2.jpg"
CONFIG: dict[str, Any] = {"rate_limits.enabled": False, "sessions.max_failures": 3}


async def _enroll(http: TestClient, auth: dict[str, str], user_id: str, photo: str, tenant: int = 0,
                  name: str = "Someone") -> tuple[int, Any]:
    resp = await http.post("/enroll", data=form(read(photo), tenant_id=tenant, user_id=user_id, name=name), headers=auth)
    return resp.status, await json_of(resp)


async def _identify(http: TestClient, auth: dict[str, str], photo: str) -> tuple[int, Any]:
    resp = await http.post("/identify", data=form(read(photo), tenant_id=0), headers=auth)
    return resp.status, await json_of(resp)


async def _verify(http: TestClient, auth: dict[str, str], user_id: str, photo: str, **extra: Any) -> Any:
    return await http.post("/verify", data=form(read(photo), tenant_id=0, user_id=user_id, **extra), headers=auth)


async def _events(http: TestClient, auth: dict[str, str], event: str) -> list[dict[str, Any]]:
    resp = await http.get(f"/api/webhooks/events/?event_type={event}&page_size=100", headers=auth)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["results"])


async def _audit(http: TestClient, auth: dict[str, str], event: str) -> list[dict[str, Any]]:
    resp = await http.get(f"/api/analytics/audit-logs/?event_type={event}&page_size=100", headers=auth)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["results"])


async def test_a_face_of_one_user_is_refused_for_another(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid_a = await make_user(http, auth, "EMP-A", "Anna First")
    uid_b = await make_user(http, auth, "EMP-B", "Bert Second")
    status, out = await _enroll(http, auth, uid_a, OBAMA)
    assert status == 200 and out["stored"] is True, out

    status, out = await _enroll(http, auth, uid_b, OBAMA_1)
    assert status == 409 and list(out) == ["detail"], out
    assert out["detail"] == "This face is already enrolled to another user"
    # The same for a user enrolled over the platform path and an id the root API auto-creates.
    status, out = await direct_enroll(http, auth, uid_b, read(BIDEN))
    assert status == 201, out
    status, out = await _enroll(http, auth, "42", BIDEN_2)
    assert status == 409 and list(out) == ["detail"], out

    user_b = await (await http.get(f"/api/clients/users/{uid_b}/", headers=auth)).json()
    assert user_b["enrollments_count"] == 1, user_b  # only the direct upload
    status, found = await _identify(http, auth, OBAMA_2)
    assert status == 200 and found["match"] is True and found["user_id"] == uid_a, found
    assert {c["user_id"] for c in found["candidates"]} <= {uid_a, uid_b}, found
    failed = await _events(http, auth, "enrollment.failed")
    assert len(failed) == 2, failed
    # The owner may add another photo of their own face (/enroll adds, in every tenant).
    status, out = await _enroll(http, auth, uid_a, OBAMA_1)
    assert status == 200 and out["count"] == 3, out
    listing = await (await http.get("/enrollments/0", headers=auth)).json()
    assert sorted(str(e["user_id"]) for e in listing["enrollments"]) == sorted([uid_a, uid_a, uid_b]), listing


async def test_deactivated_and_deleted_users_are_never_verified_or_named(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid = await make_user(http, auth, "EMP-D", "Dora Deactivated")
    other = await make_user(http, auth, "EMP-O", "Otto Other")
    assert (await _enroll(http, auth, uid, OBAMA))[0] == 200
    assert (await _enroll(http, auth, other, BIDEN))[0] == 200
    resp = await _verify(http, auth, uid, OBAMA_2)
    body = await resp.json()
    assert resp.status == 200 and body["verified"] is True and body["user_id"] == uid, body

    resp = await http.post(f"/api/clients/users/{uid}/deactivate/", headers=auth)
    assert resp.status == 200
    resp = await _verify(http, auth, uid, OBAMA_2)
    assert resp.status == 404 and await resp.json() == {"detail": f"User {uid} is not enrolled in tenant 0"}
    status, found = await _identify(http, auth, OBAMA_2)
    assert status == 200 and found["match"] is False and uid not in json.dumps(found), found
    status, out = await _enroll(http, auth, uid, OBAMA_1)
    assert status == 403 and list(out) == ["detail"] and "deactivated" in out["detail"], out

    resp = await http.post(f"/api/clients/users/{uid}/activate/", headers=auth)
    assert resp.status == 200
    status, found = await _identify(http, auth, OBAMA_2)
    assert status == 200 and found["match"] is True and found["user_id"] == uid, found
    resp = await http.delete(f"/api/clients/users/{uid}/", headers=auth)
    assert resp.status == 200
    status, found = await _identify(http, auth, OBAMA_2)
    assert status == 200 and found["match"] is False and uid not in json.dumps(found), found
    resp = await _verify(http, auth, uid, OBAMA_2)
    assert resp.status == 404, await resp.text()
    status, out = await _enroll(http, auth, uid, OBAMA_1)  # a deleted UUID is never re-created
    assert status == 404 and list(out) == ["detail"], out


async def test_a_failed_root_verify_is_an_attempt_the_platform_counts(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid = await make_user(http, auth, "EMP-V", "Vera Verified")
    assert (await _enroll(http, auth, uid, OBAMA))[0] == 200

    resp = await _verify(http, auth, uid, OBAMA_2)
    assert resp.status == 200 and (await resp.json())["verified"] is True
    user = await (await http.get(f"/api/clients/users/{uid}/", headers=auth)).json()
    assert user["last_authentication"] is not None, user
    success = await _events(http, auth, "authentication.success")
    assert [e["data"]["user_id"] for e in success] == [uid], success

    # A threshold looser than the server's cannot authenticate a platform user with another face.
    resp = await _verify(http, auth, uid, BIDEN, threshold="1.9")
    body = await resp.json()
    assert resp.status == 200 and body["verified"] is False and body["threshold"] < 1.0, body
    failed = await _events(http, auth, "authentication.failed")
    assert len(failed) == 1 and failed[0]["data"]["user_id"] == uid, failed
    assert failed[0]["data"]["failure_reason"] == "FACE_MISMATCH", failed
    rows = await _audit(http, auth, "authentication.failed")
    assert [r["subject"] for r in rows] == [uid], rows

    for _ in range(2):  # sessions.max_failures = 3: the third failure locks the user
        resp = await _verify(http, auth, uid, BIDEN)
        assert resp.status == 200 and (await resp.json())["verified"] is False
    resp = await _verify(http, auth, uid, OBAMA_2)  # even the right face, now
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
    assert await resp.json() == {"detail": (await resp.json())["detail"]}
    assert f"Too many failed verifications of user {uid}" in (await resp.json())["detail"]
    # ...and the platform's own sessions see the same lockout (one policy, every path).
    rest = await rest_verify(http, auth, uid)
    assert rest.refused == "ACCOUNT_LOCKED" and rest.http_status == 429, str(rest)
    assert len(await _events(http, auth, "authentication.failed")) == 3


async def _encoding(http: TestClient, auth: dict[str, str], photo: str) -> list[float]:
    resp = await http.post("/encode", data=form(read(photo)), headers=auth)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["encoding"])


async def _import(http: TestClient, auth: dict[str, str], items: list[dict[str, Any]]) -> tuple[int, Any]:
    resp = await http.post("/enrollments/0/import", json=items, headers=auth)
    return resp.status, await json_of(resp)


async def test_an_import_into_tenant_0_follows_the_enrollment_rules(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid_a = await make_user(http, auth, "EMP-A", "Anna First")
    uid_b = await make_user(http, auth, "EMP-B", "Bert Second")
    uid_c = await make_user(http, auth, "EMP-C", "Cleo Gone")
    assert (await _enroll(http, auth, uid_a, OBAMA))[0] == 200
    obama, biden = await _encoding(http, auth, OBAMA_1), await _encoding(http, auth, BIDEN)

    status, out = await _import(http, auth, [{"user_id": uid_b, "name": "B", "encoding": obama}])
    assert status == 409 and out == {"detail": "item 0: This face is already enrolled to another user"}, out
    status, out = await _import(http, auth, [{"user_id": uid_b, "name": "B", "encoding": biden},
                                             {"user_id": uid_c, "name": "C", "encoding": biden}])
    assert status == 409 and out["detail"].startswith("item 1: the same face as item 0"), out
    assert (await http.post(f"/api/clients/users/{uid_c}/deactivate/", headers=auth)).status == 200
    status, out = await _import(http, auth, [{"user_id": uid_c, "name": "C", "encoding": biden}])
    assert status == 403 and out["detail"].startswith("item 0: "), out
    listing = await (await http.get("/enrollments/0", headers=auth)).json()
    assert [str(e["user_id"]) for e in listing["enrollments"]] == [uid_a], listing  # all or nothing

    status, out = await _import(http, auth, [{"user_id": uid_b, "name": "Whatever", "encoding": biden}])
    assert status == 200 and out["imported"] == 1 and out["count"] == 2, out
    completed = [e["data"] for e in await _events(http, auth, "enrollment.completed")]
    assert [d["user_id"] for d in completed if d["user_id"] == uid_b] == [uid_b], completed
    status, found = await _identify(http, auth, BIDEN_2)
    assert status == 200 and found["match"] is True and found["user_id"] == uid_b, found
    assert found["name"] == "Bert Second", found  # the platform user's name, not the item's


async def test_a_root_delete_in_tenant_0_tells_the_platform(face_client: FaceClient) -> None:
    http, auth = await face_client(**CONFIG)
    uid = await make_user(http, auth, "EMP-X", "Xaver Removed")
    status, out = await _enroll(http, auth, uid, OBAMA)
    assert status == 200, out
    resp = await http.delete(f"/enrollments/0/{out['enrollment_id']}", headers=auth)
    assert resp.status == 200, await resp.text()
    updated = [e["data"] for e in await _events(http, auth, "user.updated")]
    assert [(d["user_id"], d["changed_fields"], d["enrollments_removed"]) for d in updated] == [
        (uid, ["enrollments"], 1)], updated
    rows = await _audit(http, auth, "enrollment.deleted")
    assert [r["subject"] for r in rows] == [uid], rows
    user = await (await http.get(f"/api/clients/users/{uid}/", headers=auth)).json()
    assert user["has_enrollment"] is False, user
    # A delete by name in another tenant stays a plain gallery operation: no platform event.
    assert (await _enroll(http, auth, "5", OBAMA, tenant=3, name="Someone"))[0] == 200
    resp = await http.delete("/enrollments/3/name/Someone", headers=auth)
    assert resp.status == 200 and (await resp.json())["deleted"] == 1
    assert len(await _events(http, auth, "user.updated")) == 1


def test_the_old_root_verify_lockout_keys_load_with_a_deprecation_warning(caplog: Any) -> None:
    """One lockout policy (sessions.*): brute_force.verify_* are read, ignored and warned about."""
    with caplog.at_level(logging.WARNING, logger="facestream.config"):
        config = load_config(env={}, overrides={"brute_force.verify_max_failures": 9,
                                                "brute_force.verify_lockout_s": 60.0})
    warned = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warned) == 2 and all("sessions.max_failures" in m for m in warned), warned
    assert user_policy(config.sessions).limit == config.sessions.max_failures == 5
