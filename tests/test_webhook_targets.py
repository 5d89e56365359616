"""The webhook SSRF guard (events/targets.py) against every spelling of a private address that the
client library or the resolver turns into one (issue 24 item 2): refused at creation, and refused
at delivery for a row that holds one anyway (stored before this check, or a name whose DNS answer
changed since), with nothing reaching the local receiver."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from api.keys import STORE, WEBHOOKS
from events.targets import TargetRefused, check_host, is_public, resolve_public, url_host
from tests.conftest import FaceClient
from tests.session_helpers import make_user
from tests.webhook_receiver import receiver

# The repro hosts: Unicode digits and dots that yarl (aiohttp) NFKC/IDNA-normalises, and
# the numeric forms getaddrinfo reads as IPv4, and IPv6 forms that embed a private IPv4 address.
UNICODE_HOSTS = ["１２７.０.０.１", "127。0。0。1", "127．0．0．1", "127｡0｡0｡1", "①②⑦.0.0.1", "１０.０.０.１",
                 "１６９.２５４.１６９.２５４"]
NUMERIC_HOSTS = ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0", "[::ffff:0:7f00:1]", "[64:ff9b::7f00:1]",
                 "[::ffff:127.0.0.1]", "[2002:7f00:1::1]", "[::127.0.0.1]"]


@pytest.mark.parametrize("host", UNICODE_HOSTS + NUMERIC_HOSTS)
def test_every_spelling_of_a_private_address_is_refused(host: str) -> None:
    with pytest.raises(TargetRefused):
        check_host(url_host(f"http://{host}:8080/"))


def test_public_addresses_and_names_pass() -> None:
    for host in ("8.8.8.8", "[2001:4860:4860::8888]", "hooks.example.com", "[64:ff9b::808:808]"):
        check_host(url_host(f"https://{host}/x"))
    assert is_public("1.1.1.1") and not is_public("100.64.0.1") and not is_public("::1")
    with pytest.raises(TargetRefused):  # a name is judged by every address it resolves to
        resolve_public("localhost", 80)


async def _post(http: Any, auth: dict[str, str], url: str) -> tuple[int, dict[str, Any]]:
    resp = await http.post("/api/webhooks/endpoints/", headers=auth, json={"url": url, "events": ["*"]})
    return resp.status, await resp.json()


async def test_creation_refuses_every_form_and_still_accepts_a_public_name(face_client: FaceClient) -> None:
    http, auth = await face_client()  # the shipped default: private targets refused
    own = socket.gethostname()  # resolves to this container's private address
    for host in UNICODE_HOSTS + NUMERIC_HOSTS + [own, "localhost", "a.localhost"]:
        status, body = await _post(http, auth, f"http://{host}:8080/")
        assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR", (host, body)
        assert "url" in body["error"]["details"], body
        changed = await http.put("/api/webhooks/endpoints/00000000-0000-0000-0000-000000000000/", headers=auth,
                                 json={"url": f"http://{host}/"})
        assert changed.status == 404  # (no such endpoint; an existing one is below)
    status, body = await _post(http, auth, "https://hooks.example.com/face")
    assert status == 201, body
    resp = await http.patch(f"/api/webhooks/endpoints/{body['id']}/", headers=auth, json={"url": "http://127。0。0。1/"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "VALIDATION_ERROR"


async def test_delivery_refuses_stored_private_targets(face_client: FaceClient) -> None:
    """Rows that hold a private target (the Unicode repro, a numeric form, a name resolving to a
    private address) fail with "target refused" and the receiver on 127.0.0.1 sees nothing."""
    async with receiver() as rx:
        http, _ = await face_client(**{"webhooks.poll_interval_s": 0.1})
        made = await http.app[STORE].create_client("ssrf-client")
        auth = {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}
        port = rx.url.rsplit(":", 1)[1]
        hosts = ["１２７.０.０.１", "127｡0｡0｡1", "2130706433", "127.1", socket.gethostname(), "localhost"]
        for host in hosts:  # written straight to the store: what an old row or a rebinding name leaves
            await http.app[WEBHOOKS].create(made.client.id, url=f"http://{host}:{port}/in", events=["*"],
                                            secret="s" * 16, description="", is_active=True, max_retries=0,
                                            backoff_strategy="exponential", retry_delay=1.0)
        await make_user(http, auth, "SSRF")
        rows: list[dict[str, Any]] = []
        for _ in range(300):
            resp = await http.get("/api/webhooks/logs/", headers=auth, params={"page_size": "100"})
            rows = (await resp.json())["results"]
            if len(rows) >= len(hosts):
                break
            await asyncio.sleep(0.1)
        assert len(rows) == len(hosts), rows
        for row in rows:
            assert row["status"] == "failed" and row["response_status"] is None, row
            assert row["error"].startswith("target refused"), row
        assert rx.requests == []
