"""Issue 24 item 5: a frozen Redis (accepts connections, never answers) must not add seconds to
every authenticated request through the brute-force counters or the rate limiter: calls wait a
short timeout, then this process counts on its own for a while (fail open to local counting)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import FaceClient


@pytest.fixture
async def frozen_redis() -> AsyncIterator[str]:
    """A TCP server that accepts and reads but never answers, like a SIGSTOPped Redis."""
    held: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"redis://127.0.0.1:{port}/0"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_authenticated_requests_do_not_wait_on_a_frozen_redis(face_client: FaceClient, frozen_redis: str
                                                                     ) -> None:
    http, auth = await face_client(**{"brute_force.url": frozen_redis, "rate_limits.url": frozen_redis})
    started = time.perf_counter()
    statuses = [(await http.get("/api/clients/users/", headers=auth)).status for _ in range(10)]
    took = time.perf_counter() - started
    assert statuses == [200] * 10
    # Before: >= 2 s per request (two 1 s timeouts at least), 20+ s for ten. Now: one short timeout
    # per counter store, then local counting; 6 s is a generous ceiling on a busy machine.
    assert took < 6.0, took


async def test_brute_force_still_counts_while_redis_is_frozen(face_client: FaceClient, frozen_redis: str) -> None:
    http, auth = await face_client(**{"brute_force.url": frozen_redis, "brute_force.max_failures_per_address": 3})
    key = auth["Authorization"].split(" ", 1)[1].split(":", 1)[0]
    statuses = [(await http.get("/api/clients/users/", headers={"Authorization": f"ApiKey {key}:wrong{i}"})).status
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]  # counted in this process: the guard fails open to local counts
    assert (await http.get("/api/clients/users/", headers=auth)).status == 200
