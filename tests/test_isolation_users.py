"""Two clients: every users / api-usage endpoint tried with the other client's ids -> 404."""

from __future__ import annotations

from api.keys import STORE
from tests.conftest import FaceClient

BASE = "/api/clients/users/"


async def test_users_and_usage_never_cross_clients(face_client: FaceClient) -> None:
    client, alice = await face_client()
    made = await client.app[STORE].create_client("bob")
    bob = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
    token = (await (await client.post("/api/auth/client-token/", headers=bob)).json())["access_token"]
    bob_bearer = {"Authorization": f"Bearer {token}"}

    resp = await client.post(BASE, json={"external_id": "A1", "name": "Alice's user", "email": "a@a.com"}, headers=alice)
    a_user = await resp.json()
    # the same external_id is free in another client
    resp = await client.post(BASE, json={"external_id": "A1", "name": "Bob's user"}, headers=bob)
    assert resp.status == 201
    b_user = await resp.json()
    a_usage = (await (await client.get("/api/clients/api-usage/", headers=alice)).json())["results"]
    assert a_usage

    leaks = []
    for headers in (bob, bob_bearer):
        uid = a_user["id"]
        attempts = [
            ("GET", f"{BASE}{uid}/", None), ("PUT", f"{BASE}{uid}/", {"name": "pwned"}),
            ("POST", f"{BASE}{uid}/activate/", None), ("POST", f"{BASE}{uid}/deactivate/", None),
            ("GET", f"{BASE}{uid}/export/", None), ("DELETE", f"{BASE}{uid}/", None),
            ("GET", f"/api/clients/api-usage/{a_usage[0]['id']}/", None),
        ]
        for method, path, body in attempts:
            resp = await client.request(method, path, json=body, headers=headers)
            if resp.status != 404:
                leaks.append((method, path, resp.status))
            else:
                assert (await resp.json())["error"]["code"] in ("USER_NOT_FOUND", "NOT_FOUND")
        listing = await (await client.get(BASE, params={"search": "alice"}, headers=headers)).json()
        if listing["count"]:
            leaks.append(("GET", BASE, listing["count"]))
        everyone = await (await client.get(BASE, headers=headers)).json()
        assert [u["id"] for u in everyone["results"]] == [b_user["id"]]
        usage = await (await client.get("/api/clients/api-usage/", headers=headers)).json()
        assert {r["id"] for r in usage["results"]}.isdisjoint({r["id"] for r in a_usage})
        stats = await (await client.get("/api/clients/statistics/", headers=headers)).json()
        assert stats["users"]["total"] == 1 and stats["client_id"] == made.client.id
    assert leaks == []

    # Alice's user is untouched by every attempt
    after = await (await client.get(f"{BASE}{a_user['id']}/", headers=alice)).json()
    assert after["name"] == "Alice's user" and after["is_active"] is True
    alice_stats = await (await client.get("/api/clients/statistics/", headers=alice)).json()
    assert alice_stats["users"]["total"] == 1
