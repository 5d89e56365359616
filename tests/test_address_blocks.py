"""Issue 24 item 4b: an address block never locks out valid credentials (behind a NAT or proxy
the address is everyone's), per-key blocks stay, and X-Forwarded-For counts only from
`server.trusted_proxies`."""

from __future__ import annotations

import ipaddress

from aiohttp.test_utils import TestClient

from api.client_address import forwarded_client
from api.keys import STORE
from tests.conftest import FaceClient
from tests.path_clients import ws_credentials


async def _other_client(http: TestClient) -> dict[str, str]:
    made = await http.app[STORE].create_client("neighbour")
    return {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}


async def _made_up(http: TestClient, n: int, headers: dict[str, str] | None = None) -> list[int]:
    statuses = []
    for i in range(n):
        resp = await http.get("/api/clients/users/", headers={"Authorization": f"ApiKey fs_madeup{i}:nope",
                                                               **(headers or {})})
        statuses.append(resp.status)
    return statuses


async def test_made_up_keys_from_an_address_do_not_lock_out_its_other_clients(face_client: FaceClient) -> None:
    http, auth = await face_client()
    neighbour = await _other_client(http)
    # The repro: ten requests with made-up keys from one address.
    assert await _made_up(http, 10) == [401] * 10
    statuses = await _made_up(http, 1)
    assert statuses == [429]  # the address's guesses wait
    # Every valid client behind that address still gets in, on every surface.
    for headers in (auth, neighbour):
        resp = await http.get("/api/clients/users/", headers=headers)
        assert resp.status == 200, await resp.text()
        resp = await http.get("/cache/1/status", headers=headers)
        assert resp.status == 200, await resp.text()
    key, secret = neighbour["Authorization"].split(" ", 1)[1].split(":", 1)
    resp = await http.post("/api/core/auth/client/", json={"api_key": key, "api_secret": secret})
    assert resp.status == 200, await resp.text()
    ws = await http.ws_connect("/ws/recognition/")
    await ws.send_json({"type": "authenticate", **ws_credentials(neighbour)})
    assert (await ws.receive_json(timeout=10))["type"] == "authenticated"
    await ws.close()


async def test_a_blocked_key_stays_blocked_even_with_its_secret(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"brute_force.max_failures_per_key": 3, "brute_force.max_failures_per_address": 100})
    key = auth["Authorization"].split(" ", 1)[1].split(":", 1)[0]
    statuses = [(await http.get("/api/clients/users/", headers={"Authorization": f"ApiKey {key}:wrong{i}"})).status
                for i in range(3)]
    assert statuses == [401, 401, 401]
    resp = await http.get("/api/clients/users/", headers=auth)
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1


async def test_forwarded_for_counts_only_from_trusted_proxies(face_client: FaceClient) -> None:
    http, auth = await face_client(**{"server.trusted_proxies": ["127.0.0.0/8"]})
    behind = {"X-Forwarded-For": "203.0.113.5"}
    assert await _made_up(http, 10, behind) == [401] * 10
    assert await _made_up(http, 1, behind) == [429]
    # Another caller behind the same proxy is another address: not blocked.
    assert await _made_up(http, 1, {"X-Forwarded-For": "203.0.113.6"}) == [401]
    # A client writing its own X-Forwarded-For cannot step out of its block: the proxy appends.
    assert await _made_up(http, 1, {"X-Forwarded-For": "198.51.100.1, 203.0.113.5"}) == [429]
    resp = await http.get("/api/clients/users/", headers={**auth, **behind})
    assert resp.status == 200


async def test_forwarded_for_is_ignored_without_trusted_proxies(face_client: FaceClient) -> None:
    http, _ = await face_client()
    assert await _made_up(http, 10, {"X-Forwarded-For": "203.0.113.5"}) == [401] * 10
    # The header names another address, but the peer is what counts: still blocked.
    assert await _made_up(http, 1, {"X-Forwarded-For": "203.0.113.6"}) == [429]


def test_forwarded_client_walks_back_to_the_first_untrusted_hop() -> None:
    nets = (ipaddress.ip_network("10.0.0.0/8"),)
    assert forwarded_client("10.0.0.1", ["1.2.3.4, 10.0.0.7"], nets) == "1.2.3.4"
    assert forwarded_client("10.0.0.1", ["9.9.9.9, 1.2.3.4"], nets) == "1.2.3.4"
    assert forwarded_client("10.0.0.1", ["1.2.3.4", "5.6.7.8"], nets) == "5.6.7.8"
    assert forwarded_client("10.0.0.1", ["garbage, 10.0.0.7"], nets) == "10.0.0.7"
    assert forwarded_client("10.0.0.1", [], nets) == "10.0.0.1"
    assert forwarded_client("192.0.2.1", ["1.2.3.4"], nets) == "192.0.2.1"
    assert forwarded_client("10.0.0.1", ["1.2.3.4"], ()) == "10.0.0.1"
