"""Webhook endpoints, events and delivery logs of one client (the `/api/webhooks/` surface).

Every query is scoped by client id. Endpoint writes record an audit entry in their transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from events import audit
from storage.crypto import EmbeddingCipher
from storage.events_schema import webhook_deliveries as D, webhook_endpoints as W, webhook_events as V, webhook_logs as L
from storage.timestamps import as_utc


@dataclass(frozen=True)
class Endpoint:
    id: str
    client_id: int
    url: str
    events: list[str]
    secret: str
    description: str
    is_active: bool
    max_retries: int
    backoff_strategy: str
    retry_delay: float
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EventRecord:
    id: str
    event_type: str
    data: dict[str, Any]
    created_at: datetime
    deliveries: int
    delivered: int
    failed: int


@dataclass(frozen=True)
class LogRecord:
    id: int
    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    url: str
    attempt: int
    status: str
    response_status: int | None
    response_body: str | None
    error: str | None
    duration_ms: float
    created_at: datetime
    delivery_status: str


def secret_aad(client_id: int, endpoint_id: str) -> bytes:
    """A sealed secret copied onto another endpoint or client fails to open."""
    return f"facestream-webhook-secret:{client_id}:{endpoint_id}".encode()


def _endpoint(r: Any, cipher: EmbeddingCipher) -> Endpoint:
    secret = cipher.open_text(r.secret, secret_aad(r.client_id, r.id))
    return Endpoint(r.id, r.client_id, r.url, list(r.events or []), secret, r.description or "", bool(r.is_active),
                    int(r.max_retries), r.backoff_strategy, float(r.retry_delay), as_utc(r.created_at),  # type: ignore[arg-type]
                    as_utc(r.updated_at))  # type: ignore[arg-type]


def _log(r: Any) -> LogRecord:
    return LogRecord(int(r.id), r.delivery_id, r.endpoint_id, r.event_id, r.event_type, r.url, int(r.attempt),
                     r.status, r.response_status, r.response_body, r.error, float(r.duration_ms),
                     as_utc(r.created_at), r.delivery_status)  # type: ignore[arg-type]


class WebhookStore:
    """Signing secrets are sealed with the embedding key ring when one is configured: they must be
    used in clear to sign, so they cannot be hashed, but a database dump alone does not reveal them."""

    def __init__(self, engine: AsyncEngine, cipher: EmbeddingCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    # -- endpoints -------------------------------------------------------------------------

    async def create(self, client_id: int, *, url: str, events: list[str], secret: str, description: str,
                     is_active: bool, max_retries: int, backoff_strategy: str, retry_delay: float,
                     ip_address: str | None = None) -> Endpoint:
        now = datetime.now(timezone.utc)
        endpoint_id = str(uuid.uuid4())
        values = dict(id=endpoint_id, client_id=client_id, url=url, events=events, secret=secret,
                      description=description, is_active=is_active, max_retries=max_retries,
                      backoff_strategy=backoff_strategy, retry_delay=retry_delay, created_at=now, updated_at=now)
        sealed = self._cipher.seal_text(secret, secret_aad(client_id, endpoint_id))
        async with self._engine.begin() as conn:
            await conn.execute(W.insert().values({**values, "secret": sealed}))
            await audit.write(conn, client_id, audit.AuditEntry(
                "webhook", "webhook.created", "success", str(values["id"]), {"url": url, "events": events},
                ip_address))
        return Endpoint(**values)  # type: ignore[arg-type]

    async def get(self, client_id: int, endpoint_id: str) -> Endpoint | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(sa.select(W).where(W.c.client_id == client_id, W.c.id == endpoint_id))).first()
        return _endpoint(row, self._cipher) if row else None

    async def list(self, client_id: int, offset: int, limit: int) -> tuple[int, list[Endpoint]]:
        where = W.c.client_id == client_id
        async with self._engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(W).where(where))).scalar_one()
            rows = await conn.execute(sa.select(W).where(where).order_by(W.c.created_at, W.c.id)
                                      .offset(offset).limit(limit))
            return int(total), [_endpoint(r, self._cipher) for r in rows]

    async def update(self, client_id: int, endpoint_id: str, changes: dict[str, Any],
                     ip_address: str | None = None) -> Endpoint | None:
        changes = {**changes, "updated_at": datetime.now(timezone.utc)}
        if "secret" in changes:
            changes["secret"] = self._cipher.seal_text(changes["secret"], secret_aad(client_id, endpoint_id))
        async with self._engine.begin() as conn:
            result = await conn.execute(W.update().where(W.c.client_id == client_id, W.c.id == endpoint_id)
                                        .values(**changes))
            if not result.rowcount:
                return None
            shown = sorted(k for k in changes if k not in ("updated_at", "secret"))
            await audit.write(conn, client_id, audit.AuditEntry(
                "webhook", "webhook.updated", "success", endpoint_id,
                {"fields": shown + (["secret"] if "secret" in changes else [])}, ip_address))
        return await self.get(client_id, endpoint_id)

    async def delete(self, client_id: int, endpoint_id: str, ip_address: str | None = None) -> bool:
        async with self._engine.begin() as conn:
            await conn.execute(D.delete().where(D.c.client_id == client_id, D.c.endpoint_id == endpoint_id))
            result = await conn.execute(W.delete().where(W.c.client_id == client_id, W.c.id == endpoint_id))
            if not result.rowcount:
                return False
            await audit.write(conn, client_id, audit.AuditEntry(
                "webhook", "webhook.deleted", "success", endpoint_id, {}, ip_address))
        return True

    # -- events ----------------------------------------------------------------------------

    def _event_select(self) -> Any:
        counts = sa.select(
            D.c.event_id,
            sa.func.count().label("deliveries"),
            sa.func.sum(sa.case((D.c.status == "delivered", 1), else_=0)).label("delivered"),
            sa.func.sum(sa.case((D.c.status == "failed", 1), else_=0)).label("failed"),
        ).group_by(D.c.event_id).subquery()
        return sa.select(V, counts.c.deliveries, counts.c.delivered, counts.c.failed).select_from(
            V.outerjoin(counts, counts.c.event_id == V.c.id))

    async def events(self, client_id: int, offset: int, limit: int, event_type: str | None
                     ) -> tuple[int, list[EventRecord]]:
        where = [V.c.client_id == client_id]
        if event_type:
            where.append(V.c.event_type == event_type)
        async with self._engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(V).where(*where))).scalar_one()
            rows = await conn.execute(self._event_select().where(*where).order_by(V.c.created_at.desc(), V.c.id)
                                      .offset(offset).limit(limit))
            return int(total), [self._event(r) for r in rows]

    async def event(self, client_id: int, event_id: str) -> EventRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(self._event_select().where(V.c.client_id == client_id, V.c.id == event_id))).first()
        return self._event(row) if row else None

    @staticmethod
    def _event(r: Any) -> EventRecord:
        return EventRecord(r.id, r.event_type, dict(r.data), as_utc(r.created_at), int(r.deliveries or 0),  # type: ignore[arg-type]
                           int(r.delivered or 0), int(r.failed or 0))

    # -- logs ------------------------------------------------------------------------------

    def _log_select(self) -> Any:
        return sa.select(L, D.c.status.label("delivery_status")).select_from(L.join(D, D.c.id == L.c.delivery_id))

    async def logs(self, client_id: int, offset: int, limit: int, *, event_type: str | None = None,
                   status: str | None = None, endpoint_id: str | None = None, delivery_id: str | None = None
                   ) -> tuple[int, list[LogRecord]]:
        where = [L.c.client_id == client_id]
        for column, value in ((L.c.event_type, event_type), (L.c.status, status), (L.c.endpoint_id, endpoint_id),
                              (L.c.delivery_id, delivery_id)):
            if value:
                where.append(column == value)
        async with self._engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(L).where(*where))).scalar_one()
            rows = await conn.execute(self._log_select().where(*where).order_by(L.c.id.desc())
                                      .offset(offset).limit(limit))
            return int(total), [_log(r) for r in rows]

    async def log(self, client_id: int, log_id: int) -> LogRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(self._log_select().where(L.c.client_id == client_id, L.c.id == log_id))).first()
        return _log(row) if row else None

    async def retry(self, client_id: int, log_id: int) -> str | None:
        """Queue the log's delivery once more, now, with one more attempt (a finished delivery too:
        the integrator asked). None if there is no such log; the delivery id otherwise."""
        now = datetime.now(timezone.utc)
        async with self._engine.begin() as conn:
            row = (await conn.execute(sa.select(L.c.delivery_id).where(
                L.c.client_id == client_id, L.c.id == log_id))).first()
            if row is None:
                return None
            await conn.execute(D.update().where(D.c.id == row.delivery_id, D.c.status != "in_progress").values(
                status="pending", next_attempt_at=now, lease_until=None, max_attempts=D.c.attempts + 1))
            await audit.write(conn, client_id, audit.AuditEntry(
                "webhook", "webhook.retry_requested", "info", row.delivery_id, {"log_id": log_id}))
        return str(row.delivery_id)
