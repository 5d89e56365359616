"""The event bus on the in-process backend and on the real Redis (two buses = two workers)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from events.bus import EventBus, Subscription
from events.memory_bus import InProcessBus
from events.redis_bus import RedisBus
from events.topics import client_topic, for_session_event, session_topic
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EventBus, EventBus]]:
    """A publishing and a subscribing bus: the same object in-process, two workers on Redis."""
    if request.param == "memory":
        bus = InProcessBus()
        yield bus, bus
        await bus.close()
        return
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    a, b = RedisBus(REDIS_URL, prefix), RedisBus(REDIS_URL, prefix)
    yield a, b
    await a.close()
    await b.close()


async def _next(sub: Subscription, timeout: float = 2.0) -> dict:
    return await asyncio.wait_for(sub.get(), timeout)


def _event(kind: str, session: str, n: int = 0) -> dict:
    return {"type": kind, "session_id": session, "ts": 1.0, "payload": {"n": n}}


async def test_session_subscriber_gets_its_events_and_no_other_clients(buses: tuple[EventBus, EventBus]) -> None:
    pub, subs_bus = buses
    mine = subs_bus.subscription()
    await mine.add(session_topic(1, "s1"))
    whole_client = subs_bus.subscription()
    await whole_client.add(client_topic(1))
    other = subs_bus.subscription()
    await other.add(client_topic(2))
    await other.add(session_topic(2, "s1"))  # same session id, other client

    await pub.publish(for_session_event(1, "s1"), _event("liveness_update", "s1", 7))
    got = await _next(mine)
    assert got["type"] == "liveness_update" and got["payload"] == {"n": 7}
    assert (await _next(whole_client))["session_id"] == "s1"
    await asyncio.sleep(0.2)
    assert other.get_nowait() is None

    await mine.remove(session_topic(1, "s1"))
    await pub.publish(for_session_event(1, "s1"), _event("session_status", "s1"))
    assert (await _next(whole_client))["type"] == "session_status"
    await asyncio.sleep(0.2)
    assert mine.get_nowait() is None
    for s in (mine, whole_client, other):
        await s.close()


async def test_publish_nowait_reaches_subscribers(buses: tuple[EventBus, EventBus]) -> None:
    pub, subs_bus = buses
    sub = subs_bus.subscription()
    await sub.add(client_topic(3))
    for n in range(3):
        pub.publish_nowait([client_topic(3)], _event("faces", "s", n))
    assert [(await _next(sub))["payload"]["n"] for _ in range(3)] == [0, 1, 2]
    await sub.close()


async def test_slow_subscriber_keeps_the_newest_events_only() -> None:
    bus = InProcessBus()
    sub = Subscription(bus, size=4)
    await sub.add(client_topic(1))
    for n in range(10):
        await bus.publish([client_topic(1)], _event("faces", "s", n))
    assert sub.dropped == 6
    assert [(await sub.get())["payload"]["n"] for _ in range(4)] == [6, 7, 8, 9]


async def test_redis_going_away_does_not_break_publishers() -> None:
    dead = RedisBus("redis://127.0.0.1:1/0")
    try:
        await dead.publish([client_topic(1)], _event("faces", "s"))
        assert dead.publish_errors == 1
    finally:
        await dead.close()
