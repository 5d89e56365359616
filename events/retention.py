"""Retention: rows older than their setting are deleted, in bounded batches, by one periodic task
per process (`retention:` in config.yaml; 0 keeps rows for ever). Several processes purging at
once is harmless: each DELETE removes what is old, whoever runs it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.background import stop_tasks, stopped_within

from storage import schema
from storage.events_schema import audit_logs, webhook_deliveries, webhook_events, webhook_logs

log = logging.getLogger(__name__)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionPolicy:
    sessions_days: int = 90
    attempts_days: int = 90
    usage_days: int = 30
    audit_days: int = 365
    webhook_logs_days: int = 30


async def purge(engine: AsyncEngine, policy: RetentionPolicy, now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than the policy, one table per transaction; returns rows deleted per table."""
    now = now or datetime.now(timezone.utc)
    S, A, U, E = schema.recognition_sessions, schema.recognition_attempts, schema.api_usage, schema.enrollment_embeddings
    counts: dict[str, int] = {}

    def older(days: int) -> datetime:
        return now - days * DAY

    async with engine.begin() as conn:
        if policy.attempts_days:
            res = await conn.execute(A.delete().where(A.c.created_at < older(policy.attempts_days)))
            counts["recognition_attempts"] = int(res.rowcount or 0)
        if policy.sessions_days:  # over and old; their attempts go too, template provenance keeps the face
            old = sa.select(S.c.id).where(S.c.created_at < older(policy.sessions_days), S.c.expires_at < now)
            await conn.execute(A.delete().where(A.c.session_id.in_(old)))
            await conn.execute(E.update().where(E.c.session_id.in_(old)).values(session_id=None))
            res = await conn.execute(S.delete().where(S.c.id.in_(old)))
            counts["recognition_sessions"] = int(res.rowcount or 0)
    async with engine.begin() as conn:
        if policy.usage_days:
            res = await conn.execute(U.delete().where(U.c.created_at < older(policy.usage_days)))
            counts["api_usage"] = int(res.rowcount or 0)
        if policy.audit_days:
            res = await conn.execute(audit_logs.delete().where(audit_logs.c.created_at < older(policy.audit_days)))
            counts["audit_logs"] = int(res.rowcount or 0)
    if policy.webhook_logs_days:
        cutoff = older(policy.webhook_logs_days)
        async with engine.begin() as conn:
            res = await conn.execute(webhook_logs.delete().where(webhook_logs.c.created_at < cutoff))
            counts["webhook_logs"] = int(res.rowcount or 0)
            # An old event goes once none of its deliveries is still to be made (with those deliveries).
            unfinished = sa.select(webhook_deliveries.c.event_id).where(
                webhook_deliveries.c.status.in_(("pending", "in_progress")))
            gone = sa.select(webhook_events.c.id).where(webhook_events.c.created_at < cutoff,
                                                        webhook_events.c.id.notin_(unfinished))
            await conn.execute(webhook_logs.delete().where(webhook_logs.c.event_id.in_(gone)))
            await conn.execute(webhook_deliveries.delete().where(webhook_deliveries.c.event_id.in_(gone)))
            res = await conn.execute(webhook_events.delete().where(webhook_events.c.created_at < cutoff,
                                                                   webhook_events.c.id.notin_(unfinished)))
            counts["webhook_events"] = int(res.rowcount or 0)
    return counts


class PurgeTask:
    """The one owner of the periodic purge: start() in the app's cleanup context, close() there too."""

    def __init__(self, engine: AsyncEngine, policy: RetentionPolicy, interval_s: float,
                 on_purge: Callable[[dict[str, int]], None] | None = None) -> None:
        self._engine = engine
        self._policy = policy
        self._interval = interval_s
        self._on_purge = on_purge
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="retention-purge")

    async def _run(self) -> None:
        # Not at the very start: startup (migrations, warm-up, first requests) goes first.
        if await stopped_within(self._stop, min(self._interval, 30.0)):
            return
        while True:
            try:
                counts = await purge(self._engine, self._policy)
                if any(counts.values()):
                    log.info("retention purge: %s", counts)
                if self._on_purge is not None:
                    self._on_purge(counts)
            except Exception:  # a failed round is retried on the next one
                log.warning("retention purge failed", exc_info=True)
            if await stopped_within(self._stop, self._interval):
                return

    async def close(self) -> None:
        self._stop.set()
        await stop_tasks([self._task])  # a purge round in progress finishes first (storage/background.py)
        self._task = None
