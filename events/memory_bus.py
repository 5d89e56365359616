"""In-process event bus: the default for a single worker."""

from __future__ import annotations

from collections import defaultdict

from events.bus import Message, Subscription


class InProcessBus:
    backend = "memory"

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    async def publish(self, topics: list[str], message: Message) -> None:
        self.publish_nowait(topics, message)

    def publish_nowait(self, topics: list[str], message: Message) -> None:
        seen: set[int] = set()
        for topic in topics:
            for sub in list(self._subs.get(topic, ())):
                if id(sub) not in seen:  # one copy per subscriber even if it holds several topics
                    seen.add(id(sub))
                    sub.deliver(message)

    def subscription(self) -> Subscription:
        return Subscription(self)

    async def _attach(self, sub: Subscription, topic: str) -> None:
        self._subs[topic].add(sub)

    async def _detach(self, sub: Subscription, topic: str) -> None:
        subs = self._subs.get(topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[topic]

    async def close(self) -> None:
        self._subs.clear()
