"""Platform users: CRUD, pagination, filters, export, and deletion that removes face data."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from api.keys import USERS
from storage.user_store import PLATFORM_TENANT
from sessions.service import TENANT_ID
from tests.conftest import FaceClient
from testkit.data import read
from testkit.helpers import form
from tests.session_helpers import direct_enroll

BASE = "/api/clients/users/"


async def _create(client: TestClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await client.post(BASE, json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_create_read_update_and_duplicates(face_client: FaceClient) -> None:
    client, auth = await face_client()
    made = await _create(client, auth, external_id="EMP001", name="John Doe", email="john@example.com",
                         metadata={"department": "IT"})
    assert made["external_id"] == "EMP001" and made["name"] == "John Doe" and made["is_active"] is True
    assert made["enrollments_count"] == 0 and made["has_enrollment"] is False and made["last_authentication"] is None
    assert len(made["id"]) == 36 and made["created_at"].endswith("Z")

    resp = await client.get(f"{BASE}{made['id']}/", headers=auth)
    assert resp.status == 200
    assert (await resp.json())["metadata"] == {"department": "IT"}

    resp = await client.post(BASE, json={"external_id": "EMP001", "name": "Again"}, headers=auth)
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "USER_ALREADY_EXISTS"

    resp = await client.put(f"{BASE}{made['id']}/", json={"name": "John Smith", "metadata": {"role": "Dev"}}, headers=auth)
    assert resp.status == 200
    updated = await resp.json()
    assert updated["name"] == "John Smith" and updated["metadata"] == {"role": "Dev"}
    assert updated["email"] == "john@example.com" and updated["external_id"] == "EMP001"
    assert updated["updated_at"] >= made["updated_at"]
    resp = await client.put(f"{BASE}{made['id']}/", json={"email": None}, headers=auth)
    assert (await resp.json())["email"] is None

    other = await _create(client, auth, external_id="EMP002", name="Jane")
    resp = await client.put(f"{BASE}{other['id']}/", json={"external_id": "EMP001"}, headers=auth)
    assert resp.status == 409

    for bad in ({"name": ""}, {"external_id": "x", "name": "y", "email": "not-an-email"}, {"external_id": "x", "name": "y", "extra": 1}):
        resp = await client.post(BASE, json=bad, headers=auth)
        assert resp.status == 400, bad
        assert (await resp.json())["error"]["code"] == "VALIDATION_ERROR"
    resp = await client.put(f"{BASE}{made['id']}/", json={"name": None}, headers=auth)
    assert resp.status == 400
    resp = await client.get(f"{BASE}00000000-0000-0000-0000-000000000000/", headers=auth)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "USER_NOT_FOUND"


async def test_create_user_fills_in_a_user_an_enrollment_created_once(face_client: FaceClient) -> None:
    """api_integration_guide.md: the Quick Start enrolls `user123` (auto-created, named `user123`),
    then §Create User creates `user123` with a name and email: that fills the record in (same id,
    face kept), once; later creates are USER_ALREADY_EXISTS, as are creates of a user made by hand."""
    client, auth = await face_client()
    status, enrolled = await direct_enroll(client, auth, "user123", read("faces/barack_obama/obama.jpg"))
    assert status == 201, enrolled
    placeholder = await (await client.get(f"{BASE}user123/", headers=auth)).json()
    assert placeholder["name"] == "user123" and placeholder["email"] is None
    assert placeholder["metadata"] == {"created_by": "enrollment"}

    body = {"external_id": "user123", "name": "John Doe", "email": "john@example.com",
            "metadata": {"department": "engineering", "employee_id": "EMP001"}}
    made = await _create(client, auth, **body)
    assert made["id"] == placeholder["id"] == enrolled["user_id"]
    assert (made["name"], made["email"], made["metadata"]) == (body["name"], body["email"], body["metadata"])
    assert made["has_enrollment"] is True and made["enrollments_count"] == 1

    resp = await client.post(BASE, json={**body, "name": "Someone Else"}, headers=auth)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "USER_ALREADY_EXISTS"
    got = await (await client.get(f"{BASE}user123/", headers=auth)).json()
    assert got["name"] == "John Doe"


async def test_pagination_search_and_filters(face_client: FaceClient) -> None:
    client, auth = await face_client()
    ids = []
    for i in range(7):
        ids.append((await _create(client, auth, external_id=f"E{i}", name=f"Person {i}",
                                  email=f"p{i}@{'acme' if i % 2 else 'other'}.com"))["id"])
    resp = await client.get(BASE, params={"page": 1, "page_size": 3}, headers=auth)
    page1 = await resp.json()
    assert page1["count"] == 7 and len(page1["results"]) == 3 and page1["previous"] is None
    assert page1["next"] is not None and "page=2" in page1["next"]
    page3 = await (await client.get(BASE, params={"page": 3, "page_size": 3}, headers=auth)).json()
    assert [u["id"] for u in page3["results"]] == [ids[6]] and page3["next"] is None and "page=2" in page3["previous"]
    all_ids = [u["id"] for p in (1, 2, 3) for u in (await (await client.get(BASE, params={"page": p, "page_size": 3}, headers=auth)).json())["results"]]
    assert all_ids == ids

    acme = await (await client.get(BASE, params={"search": "ACME"}, headers=auth)).json()
    assert acme["count"] == 3 and all("acme" in u["email"] for u in acme["results"])
    by_name = await (await client.get(BASE, params={"search": "person 4"}, headers=auth)).json()
    assert [u["external_id"] for u in by_name["results"]] == ["E4"]
    by_external_id = await (await client.get(BASE, params={"search": "e5"}, headers=auth)).json()
    assert [u["external_id"] for u in by_external_id["results"]] == ["E5"]  # an employee number finds its person
    assert (await (await client.get(BASE, params={"search": "%"}, headers=auth)).json())["count"] == 0

    resp = await client.post(f"{BASE}{ids[0]}/deactivate/", headers=auth)
    assert resp.status == 200 and (await resp.json())["is_active"] is False
    inactive = await (await client.get(BASE, params={"is_active": "false"}, headers=auth)).json()
    assert [u["id"] for u in inactive["results"]] == [ids[0]]
    assert (await (await client.get(BASE, params={"is_active": "true"}, headers=auth)).json())["count"] == 6
    assert await client.app[USERS].get_active_user(1, ids[0]) is None
    resp = await client.post(f"{BASE}{ids[0]}/activate/", headers=auth)
    assert (await resp.json())["is_active"] is True
    me = (await client.app[USERS].get(1, ids[0]))
    assert me is not None and (await client.app[USERS].get_active_user(me.client_id, ids[0])) == me

    for bad in ({"page_size": 101}, {"page": 0}, {"is_active": "maybe"}):
        resp = await client.get(BASE, params=bad, headers=auth)
        assert resp.status == 400, bad
    assert (await client.get(BASE)).status == 401


async def test_enrollment_export_and_deletion_removes_faces(face_client: FaceClient) -> None:
    assert PLATFORM_TENANT == TENANT_ID
    client, auth = await face_client()
    obama = await _create(client, auth, external_id="obama", name="Barack Obama")
    biden = await _create(client, auth, external_id="biden", name="Joe Biden")
    for uid, path in ((obama["id"], "faces/barack_obama/obama.jpg"), (biden["id"], "faces/joe_biden/biden2.jpg")):
        resp = await client.post("/enroll", data=form(read(path), tenant_id=TENANT_ID, user_id=uid, name=uid), headers=auth)
        assert resp.status == 200, await resp.text()

    resp = await client.post("/identify", data=form(read("faces/barack_obama/obama2.jpg"), tenant_id=TENANT_ID), headers=auth)
    found = await resp.json()
    assert found["match"] is True and found["user_id"] == obama["id"]

    got = await (await client.get(f"{BASE}{obama['id']}/", headers=auth)).json()
    assert got["has_enrollment"] is True and got["enrollments_count"] == 1
    enrolled = await (await client.get(BASE, params={"has_enrollment": "true"}, headers=auth)).json()
    assert {u["id"] for u in enrolled["results"]} == {obama["id"], biden["id"]}
    await _create(client, auth, external_id="nobody", name="No Face")
    unenrolled = await (await client.get(BASE, params={"has_enrollment": "false"}, headers=auth)).json()
    assert [u["external_id"] for u in unenrolled["results"]] == ["nobody"]

    resp = await client.get(f"{BASE}{obama['id']}/export/", headers=auth)
    assert resp.status == 200
    export = await resp.json()
    assert export["user"]["id"] == obama["id"] and export["embedding_model"] == "w600k_mbf"
    assert len(export["enrollments"]) == 1 and len(export["enrollments"][0]["embedding"]) == 512
    assert export["enrollments"][0]["model"] == "w600k_mbf"
    norm = sum(v * v for v in export["enrollments"][0]["embedding"]) ** 0.5
    assert abs(norm - 1.0) < 1e-3
    assert "attachment" in resp.headers["Content-Disposition"]

    resp = await client.delete(f"{BASE}{obama['id']}/", headers=auth)
    assert resp.status == 200
    assert await resp.json() == {"id": obama["id"], "deleted": True, "embeddings_deleted": 1}
    assert (await client.get(f"{BASE}{obama['id']}/", headers=auth)).status == 404
    assert (await client.delete(f"{BASE}{obama['id']}/", headers=auth)).status == 404

    resp = await client.post("/identify", data=form(read("faces/barack_obama/obama2.jpg"), tenant_id=TENANT_ID), headers=auth)
    after = await resp.json()
    assert after["match"] is False and obama["id"] not in [c["user_id"] for c in after["candidates"]]
    assert [c["user_id"] for c in after["candidates"]] == [biden["id"]]
    listing = await (await client.get(f"/enrollments/{TENANT_ID}", headers=auth)).json()
    assert [e["user_id"] for e in listing["enrollments"]] == [biden["id"]]

    stats = await (await client.get("/api/clients/statistics/", headers=auth)).json()
    assert stats["users"] == {"total": 2, "active": 2, "inactive": 0, "enrolled": 1, "face_embeddings": 1}
    assert stats["requests"]["today"] >= 10 and stats["tier"] == "basic"
    assert stats["rate_limits"]["hourly"] == 1000


async def test_api_usage_records_route_templates_only(face_client: FaceClient) -> None:
    client, auth = await face_client()
    made = await _create(client, auth, external_id="E1", name="Ann")
    await client.get(f"{BASE}{made['id']}/", params={"secret": "do-not-store"}, headers=auth)
    await client.get(f"{BASE}nope/", headers=auth)
    resp = await client.get("/api/clients/api-usage/", headers=auth)
    usage = await resp.json()
    assert usage["count"] == 3
    rows = usage["results"]
    assert [(r["method"], r["path"], r["status"]) for r in rows] == [
        ("GET", "/api/clients/users/{user_id}/", 404),
        ("GET", "/api/clients/users/{user_id}/", 200),
        ("POST", "/api/clients/users/", 201),
    ]
    assert all(r["duration_ms"] >= 0 and r["timestamp"].endswith("Z") for r in rows)
    assert "do-not-store" not in str(usage) and made["id"] not in str(usage)
    one = await (await client.get(f"/api/clients/api-usage/{rows[0]['id']}/", headers=auth)).json()
    assert one == rows[0]
    posts = await (await client.get("/api/clients/api-usage/", params={"method": "POST"}, headers=auth)).json()
    assert [r["status"] for r in posts["results"]] == [201]
    assert (await client.get("/api/clients/api-usage/999999/", headers=auth)).status == 404
    assert (await client.get("/api/clients/api-usage/abc/", headers=auth)).status == 404
