"""The audit writer: who did what to which record, kept for the auditor (`/api/analytics/audit-logs/`)
and, for the `security` category, `/api/analytics/security-events/`.

Rows are written in the transaction of the change they record where there is one (`write`), else
in their own (`record`). Details carry ids and outcomes, never names or face data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.events_schema import audit_logs

log = logging.getLogger(__name__)

CATEGORIES = ("enrollment", "authentication", "user", "credential", "webhook", "configuration", "security", "access")


@dataclass(frozen=True)
class AuditEntry:
    category: str
    event_type: str
    outcome: str = "info"  # success | failure | info
    subject: str | None = None  # the user, session or endpoint id the entry is about
    details: dict[str, Any] = field(default_factory=dict)
    ip_address: str | None = None


def category_of(event: str) -> str:
    """The audit category of a webhook event name."""
    head = event.split(".", 1)[0]
    return "security" if event == "liveness.failed" else head if head in CATEGORIES else "configuration"


def outcome_of(event: str) -> str:
    tail = event.rsplit(".", 1)[-1]
    return "failure" if tail in ("failed", "denied") else "success" if tail in ("success", "completed", "granted") else "info"


async def write(conn: AsyncConnection, client_id: int | None, entry: AuditEntry, at: datetime | None = None) -> None:
    await conn.execute(audit_logs.insert().values(
        client_id=client_id, category=entry.category, event_type=entry.event_type, outcome=entry.outcome,
        subject=entry.subject, ip_address=entry.ip_address, details=entry.details,
        created_at=at or datetime.now(timezone.utc),
    ))


async def record(engine: AsyncEngine, client_id: int | None, entry: AuditEntry) -> None:
    """An entry in its own transaction; a failure is logged, never raised into the request."""
    try:
        async with engine.begin() as conn:
            await write(conn, client_id, entry)
    except Exception:  # the audit trail must not turn a served request into a 500
        log.exception("audit: could not record %s for client %s", entry.event_type, client_id)


async def record_security_event(engine: AsyncEngine, client_id: int | None, event_type: str, *,
                                subject: str | None = None, ip_address: str | None = None,
                                details: dict[str, Any] | None = None) -> None:
    """Bad credentials, lockouts, liveness failures, brute-force blocks: one call from wherever
    they are detected (e.g. `record_security_event(engine, client.id, "bruteforce.blocked", ip_address=ip)`)."""
    await record(engine, client_id, AuditEntry("security", event_type, "failure", subject, details or {}, ip_address))


async def security_event_times(engine: AsyncEngine, client_id: int, event_type: str, ip_address: str,
                               since: datetime) -> list[datetime]:
    """When `event_type` security events from one address happened since `since`, newest first:
    what a per-address throttle counts (sessions/attack_throttle.py)."""
    query = sa.select(audit_logs.c.created_at).where(
        audit_logs.c.client_id == client_id, audit_logs.c.category == "security",
        audit_logs.c.event_type == event_type, audit_logs.c.ip_address == ip_address,
        audit_logs.c.created_at >= since,
    ).order_by(audit_logs.c.created_at.desc())
    async with engine.connect() as conn:
        rows = await conn.execute(query)
        return [r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=timezone.utc) for r in rows]
