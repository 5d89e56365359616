"""Redis pub/sub event bus: any worker's subscribers receive any worker's events.

One PUBSUB connection per process is shared by all local subscriptions: a reader task owned
by the bus routes each Redis message to the local subscribers of its channel. Publishing
sends one message per topic; a subscriber holding several topics of the same event gets one
copy per topic it holds (events carry ids, so consumers can de-duplicate).
If Redis goes away, publish logs and drops (events are live notifications; durable delivery
is the webhook outbox's job) and the reader reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict

import redis.asyncio as redis
from redis.exceptions import RedisError

from events.bus import Message, Subscription

log = logging.getLogger(__name__)


class RedisBus:
    backend = "redis"

    def __init__(self, url: str, prefix: str = "facestream:events:") -> None:
        self._prefix = prefix
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        self._reader: asyncio.Task[None] | None = None
        # Outbox for publish_nowait, drained by one bus-owned task; drop-oldest when Redis lags.
        self._outbox: asyncio.Queue[tuple[list[str], Message]] = asyncio.Queue(maxsize=1024)
        self._sender: asyncio.Task[None] | None = None
        self.outbox_dropped = 0
        self.publish_errors = 0

    async def publish(self, topics: list[str], message: Message) -> None:
        data = json.dumps(message, separators=(",", ":"))
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for topic in topics:
                    pipe.publish(self._prefix + topic, data)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self.publish_errors += 1
            log.warning("event bus: publish to %s failed: %s", topics[0] if topics else "-", exc)

    def publish_nowait(self, topics: list[str], message: Message) -> None:
        if self._outbox.full():
            self._outbox.get_nowait()
            self.outbox_dropped += 1
        self._outbox.put_nowait((topics, message))
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send(), name="redis-bus-sender")

    async def _send(self) -> None:
        while True:
            topics, message = await self._outbox.get()
            await self.publish(topics, message)

    def subscription(self) -> Subscription:
        return Subscription(self)

    async def _attach(self, sub: Subscription, topic: str) -> None:
        first = topic not in self._subs
        self._subs[topic].add(sub)
        if first:
            await self._pubsub.subscribe(self._prefix + topic)
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")

    async def _detach(self, sub: Subscription, topic: str) -> None:
        subs = self._subs.get(topic)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[topic]
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._prefix + topic)

    async def _read(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            except (RedisError, OSError) as exc:
                log.warning("event bus: reader lost Redis (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()[len(self._prefix) :]
            try:
                payload = json.loads(message["data"])
            except ValueError:
                log.warning("event bus: dropped a non-JSON message on %s", channel)
                continue
            for sub in list(self._subs.get(channel, ())):
                sub.deliver(payload)

    async def close(self) -> None:
        for task in (self._reader, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reader = self._sender = None
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        await self._client.aclose()
