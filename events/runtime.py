"""The events side of a running app: the sink every writer uses, the delivery worker and the
retention purge, built from config and closed in one place (api/app.py owns its lifetime)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from events.delivery import DeliveryWorker, Outcome
from events.settings import WorkerSettings
from events.outbox import EventSink
from events.retention import PurgeTask, RetentionPolicy
from events.webhook_store import WebhookStore
from storage.crypto import EmbeddingCipher


@dataclass
class EventsRuntime:
    sink: EventSink
    webhooks: WebhookStore
    worker: DeliveryWorker | None
    purge: PurgeTask | None

    @classmethod
    def build(cls, engine: AsyncEngine, cipher: EmbeddingCipher, worker: WorkerSettings | None,
              retention: RetentionPolicy | None,
              purge_interval_s: float, on_outcome: Outcome | None = None,
              on_purge: Callable[[dict[str, int]], None] | None = None) -> "EventsRuntime":
        delivery = DeliveryWorker(engine, worker, cipher, on_outcome) if worker is not None else None
        sink = EventSink(engine, delivery.wake if delivery is not None else (lambda: None))
        purge = PurgeTask(engine, retention, purge_interval_s, on_purge) if retention is not None else None
        return cls(sink, WebhookStore(engine, cipher), delivery, purge)

    def start(self) -> None:
        if self.worker is not None:
            self.worker.start()
        if self.purge is not None:
            self.purge.start()

    async def close(self) -> None:
        if self.purge is not None:
            await self.purge.close()
        if self.worker is not None:
            await self.worker.close()
