"""Issue 24 item 6: one client's slow webhook receivers must not delay another client's deliveries.
Client A's receivers never answer (held until teardown); its deliveries take at most
`per_client_concurrency` of the process's `max_in_flight` connections, so client B's delivery is
sent at once instead of waiting for a socket behind A's."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import FaceClient
from tests.path_clients import new_api_client
from tests.session_helpers import make_user
from tests.webhook_receiver import receiver

SHARES = {"webhooks.allow_private_targets": True, "webhooks.poll_interval_s": 0.2,
          "webhooks.request_timeout_s": 60.0, "webhooks.per_endpoint_concurrency": 4,
          "webhooks.per_client_concurrency": 4, "webhooks.max_in_flight": 8}


async def test_a_client_with_slow_receivers_does_not_hold_the_pool(face_client: FaceClient) -> None:
    async with receiver() as slow, receiver() as fast:
        slow.hold = asyncio.Event()
        http, a = await face_client(**SHARES)
        b = await new_api_client(http, "patient")
        for n in range(3):  # 3 endpoints x 4 users = 12 deliveries: more than the whole pool of 8
            resp = await http.post("/api/webhooks/endpoints/", headers=a,
                                   json={"url": slow.at(f"/slow{n}"), "events": ["user.created"]})
            assert resp.status == 201
        resp = await http.post("/api/webhooks/endpoints/", headers=b,
                               json={"url": fast.at("/fast"), "events": ["user.created"]})
        assert resp.status == 201
        for n in range(4):
            await make_user(http, a, f"a{n}")
        await slow.wait_held(4, timeout=30.0)  # A's share is in flight, held
        started = time.monotonic()
        await make_user(http, b, "b0")
        got = await fast.wait_for(1, "/fast", timeout=30.0)
        took = time.monotonic() - started
        assert got[0].json["event"] == "user.created" and got[0].json["data"]["external_id"] == "b0", got[0].json
        assert took < 10.0, took  # the request timeout is 60 s: a wait for a socket would show
        assert len(slow.held) == 4, len(slow.held)  # A never had more than its share in flight
