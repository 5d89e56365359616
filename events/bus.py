"""The event bus interface: JSON event envelopes fanned out to topic subscribers.

Topics are always scoped by client (`topics.py`), so a subscriber can only ever name topics
of its own client. A subscription holds a bounded queue: a slow consumer (a stalled
WebSocket) loses its oldest events, counted in `dropped`, and never stalls the publisher or
grows memory without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol

Message = dict[str, Any]

QUEUE_SIZE = 256


class Subscription:
    """Topics one consumer listens to, and its bounded inbox."""

    def __init__(self, bus: "EventBus", size: int = QUEUE_SIZE) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=size)
        self.topics: set[str] = set()
        self.dropped = 0
        self.closed = False

    def deliver(self, message: Message) -> None:
        """Called by the bus; drop-oldest when full so the newest events win."""
        if self.closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    async def add(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            await self._bus._attach(self, topic)

    async def remove(self, topic: str) -> None:
        if topic in self.topics:
            self.topics.discard(topic)
            await self._bus._detach(self, topic)

    async def get(self) -> Message:
        return await self._queue.get()

    def get_nowait(self) -> Message | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def __aiter__(self) -> AsyncIterator[Message]:
        while not self.closed:
            yield await self._queue.get()

    async def close(self) -> None:
        if self.closed:
            return
        for topic in list(self.topics):
            await self.remove(topic)
        self.closed = True


class EventBus(Protocol):
    backend: str

    async def publish(self, topics: list[str], message: Message) -> None: ...

    def publish_nowait(self, topics: list[str], message: Message) -> None:
        """For synchronous callers (the frame loop's event emitter): never blocks or awaits."""
        ...

    def subscription(self) -> Subscription: ...

    async def _attach(self, sub: Subscription, topic: str) -> None: ...

    async def _detach(self, sub: Subscription, topic: str) -> None: ...

    async def close(self) -> None: ...
