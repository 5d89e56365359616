"""Gallery change notifications between workers over Redis pub/sub.

Only a hint that makes other workers catch up at once: correctness never depends on it (each
search checks the tenant's version in the database and catches up from the change feed), so a
lost message or a Redis outage costs at most the catch-up on that worker's next search.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Handler = Callable[[int, int, int], None]


class Notifier(Protocol):
    async def publish(self, client_id: int, tenant_id: int, seq: int) -> None: ...

    def start(self, handler: Handler, subscribed: Callable[[], None] | None = None) -> None:
        """Hand each received change to handler; call subscribed() each time the subscription
        is (re)established (messages sent before it were missed: catch up)."""
        ...

    async def close(self) -> None: ...


class LocalNotifier:
    """One worker (no shared cache): nobody else to tell."""

    async def publish(self, client_id: int, tenant_id: int, seq: int) -> None:
        return None

    def start(self, handler: Handler, subscribed: Callable[[], None] | None = None) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisNotifier:
    """Publishes "client:tenant:seq" on one channel and hands received ones to the handler;
    the listening task (owned here, ended by close) reconnects after an outage."""

    def __init__(self, url: str, prefix: str, retry_s: float = 1.0) -> None:
        self.channel = f"{prefix}gallery-changes"
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        # The subscriber may wait long for a message: no socket read timeout there; it polls
        # with a timeout of its own instead (a dead connection raises and is re-made).
        self._listener = redis.Redis.from_url(url, socket_connect_timeout=1.0)
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None

    async def publish(self, client_id: int, tenant_id: int, seq: int) -> None:
        try:
            await self._client.publish(self.channel, f"{client_id}:{tenant_id}:{seq}")
        except (RedisError, OSError) as exc:
            log.warning("gallery change of tenant %s not announced (workers catch up on their next search): %s",
                        tenant_id, exc)

    def start(self, handler: Handler, subscribed: Callable[[], None] | None = None) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(handler, subscribed), name="gallery-notify")

    async def _listen(self, handler: Handler, subscribed: Callable[[], None] | None) -> None:
        while True:
            pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if subscribed is not None:
                    subscribed()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    parsed = _parse(message.get("data"))
                    if parsed is not None:
                        handler(*parsed)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("gallery notifications interrupted, retrying: %s", exc)
                await asyncio.sleep(self._retry_s)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        await self._client.aclose()
        await self._listener.aclose()


def _parse(data: object) -> tuple[int, int, int] | None:
    try:
        text = data.decode() if isinstance(data, bytes) else str(data)
        client_id, tenant_id, seq = (int(p) for p in text.split(":"))
        return client_id, tenant_id, seq
    except ValueError:
        log.warning("ignoring malformed gallery notification %r", data)
        return None
