"""The webhook outbox: an event row plus one delivery row per subscribed endpoint, written in the
transaction of the change that caused the event (so nothing announced is undone and nothing done
goes unannounced), then worked by events/delivery.py.

Other modules announce through `enqueue(conn, client_id, event, data)` inside their own
transaction, or `EventSink.hook(...)` passed as a storage method's `after=`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events import audit
from storage.events_schema import webhook_deliveries, webhook_endpoints, webhook_events
from storage.timestamps import now_utc
from storage.tx_hooks import TxHook

EVENTS = (
    "enrollment.completed", "enrollment.failed", "enrollment.replaced", "authentication.success", "authentication.failed",
    "liveness.failed", "user.created", "user.updated", "user.deleted", "access.granted", "access.denied",
)


async def enqueue(conn: AsyncConnection, client_id: int, event: str, data: dict[str, Any], *,
                  audit_entry: audit.AuditEntry | None = None) -> str:
    """Record `event` for the client and queue it for each of its active endpoints subscribed to
    it; returns the event id. Must run inside the caller's transaction."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    now = now_utc()
    event_id = str(uuid.uuid4())
    await conn.execute(webhook_events.insert().values(
        id=event_id, client_id=client_id, event_type=event, data=data, created_at=now))
    endpoints = await conn.execute(sa.select(
        webhook_endpoints.c.id, webhook_endpoints.c.events, webhook_endpoints.c.max_retries,
    ).where(webhook_endpoints.c.client_id == client_id, webhook_endpoints.c.is_active == sa.true()))
    rows = [
        dict(id=str(uuid.uuid4()), client_id=client_id, event_id=event_id, endpoint_id=ep.id, status="pending",
             attempts=0, max_attempts=int(ep.max_retries) + 1, next_attempt_at=now, lease_until=None,
             created_at=now, delivered_at=None)
        for ep in endpoints
        if event in (ep.events or []) or "*" in (ep.events or [])  # a handful of endpoints per client
    ]
    if rows:
        await conn.execute(webhook_deliveries.insert(), rows)
    entry = audit_entry or audit.AuditEntry(
        audit.category_of(event), event, audit.outcome_of(event),
        str(data.get("user_id") or data.get("session_id") or "") or None,
        {k: v for k, v in data.items() if k not in ("user_name", "name", "email", "device_info")})
    await audit.write(conn, client_id, entry, now)
    return event_id


@dataclass
class EventSink:
    """What the session service and the API hold: hooks for storage writes, standalone emits, and
    a nudge so this process's worker delivers at once instead of at its next poll."""

    engine: AsyncEngine
    wake: Callable[[], None] = lambda: None

    def hook(self, client_id: int, event: str, data: dict[str, Any],
             entry: audit.AuditEntry | None = None) -> TxHook:
        async def write(conn: AsyncConnection) -> None:
            await enqueue(conn, client_id, event, data, audit_entry=entry)
        return write

    def user_deleted(self, client_id: int, user_id: str, data: dict[str, Any]) -> TxHook:
        """user.deleted, and the user's names scrubbed from earlier events, in the delete's transaction."""
        async def write(conn: AsyncConnection) -> None:
            await scrub_user(conn, client_id, user_id)
            await enqueue(conn, client_id, "user.deleted", data)
        return write

    async def emit(self, client_id: int, event: str, data: dict[str, Any],
                   entry: audit.AuditEntry | None = None) -> None:
        """An event whose cause wrote nothing (e.g. a liveness failure): its own transaction."""
        async with self.engine.begin() as conn:
            await enqueue(conn, client_id, event, data, audit_entry=entry)
        self.wake()


async def scrub_user(conn: AsyncConnection, client_id: int, user_id: str) -> int:
    """Right to erasure: null a deleted user's name and email in the client's recorded events
    (deliveries still to be made then carry the scrubbed data). Returns the rows changed."""
    rows = await conn.execute(sa.select(webhook_events.c.id, webhook_events.c.data).where(
        webhook_events.c.client_id == client_id, sa.cast(webhook_events.c.data, sa.Text).like(f"%{user_id}%")))
    changed = 0
    for row in rows.all():
        data = dict(row.data or {})
        if data.get("user_id") != user_id:
            continue
        cleaned = {k: (None if k in ("name", "user_name", "email") else v) for k, v in data.items()}
        if cleaned != data:
            await conn.execute(webhook_events.update().where(webhook_events.c.id == row.id).values(data=cleaned))
            changed += 1
    return changed
