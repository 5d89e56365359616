"""Aggregations behind `/api/analytics/`: every figure is a SQL aggregate (COUNT / SUM / AVG /
GROUP BY day or hour) over recorded rows of one client, never a Python loop over rows.

Sources: recognition_attempts (authentications), recognition_sessions (enrollments, session
kinds), audit_logs (enrollment failures, security events), api_usage (requests, latency, errors).
Indexes on (client_id, created_at) of each (schema v7 adds the attempts one) serve the range scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import schema
from storage.events_schema import audit_logs
from storage.timestamps import iso_precise

A, S, U = schema.recognition_attempts, schema.recognition_sessions, schema.api_usage


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def _rate(part: int | float, whole: int | float) -> float:
    return round(part / whole, 4) if whole else 0.0


class AnalyticsStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pg = engine.dialect.name == "postgresql"

    # -- dialect helpers: UTC day and hour of a timestamp column ----------------------------

    def day(self, col: Any) -> Any:
        if self._pg:
            return sa.func.to_char(sa.func.timezone("UTC", col), "YYYY-MM-DD")
        return sa.func.strftime("%Y-%m-%d", col)

    def hour(self, col: Any) -> Any:
        if self._pg:
            return sa.cast(sa.func.to_char(sa.func.timezone("UTC", col), "HH24"), sa.Integer)
        return sa.cast(sa.func.strftime("%H", col), sa.Integer)

    def weekday(self, col: Any) -> Any:  # 0 = Sunday on both
        if self._pg:
            return sa.cast(sa.func.to_char(sa.func.timezone("UTC", col), "D"), sa.Integer) - 1
        return sa.cast(sa.func.strftime("%w", col), sa.Integer)

    async def _rows(self, stmt: Any) -> list[Any]:
        async with self._engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    async def _one(self, stmt: Any) -> Any:
        async with self._engine.connect() as conn:
            return (await conn.execute(stmt)).one()

    # -- authentications -------------------------------------------------------------------

    def _attempts(self, client_id: int, w: Window) -> list[Any]:
        return [A.c.client_id == client_id, A.c.created_at >= w.start, A.c.created_at < w.end]

    async def authentications(self, client_id: int, w: Window, liveness_threshold: float) -> dict[str, Any]:
        success = sa.case((A.c.result == "success", 1), else_=0)
        live = sa.case((A.c.liveness_score >= liveness_threshold, 1), else_=0)
        row = await self._one(sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(success), 0),
            sa.func.count(sa.distinct(sa.case((A.c.result == "success", A.c.user_id)))),
            sa.func.avg(A.c.confidence), sa.func.coalesce(sa.func.sum(live), 0),
            sa.func.coalesce(sa.func.sum(sa.case((A.c.mode == "verification", 1), else_=0)), 0),
        ).where(*self._attempts(client_id, w)))
        total, ok = int(row[0]), int(row[1])
        return {"total": total, "successful": ok, "failed": total - ok, "success_rate": _rate(ok, total),
                "unique_users": int(row[2]), "average_confidence": round(float(row[3] or 0.0), 4),
                "liveness_passed": int(row[4]), "verification": int(row[5]), "identification": total - int(row[5])}

    async def failure_reasons(self, client_id: int, w: Window) -> dict[str, int]:
        rows = await self._rows(sa.select(A.c.reason, sa.func.count()).where(
            *self._attempts(client_id, w), A.c.result == "failure").group_by(A.c.reason).order_by(A.c.reason))
        return {r[0]: int(r[1]) for r in rows}

    async def by_mode(self, client_id: int, w: Window) -> dict[str, dict[str, Any]]:
        rows = await self._rows(sa.select(
            A.c.mode, sa.func.count(), sa.func.sum(sa.case((A.c.result == "success", 1), else_=0)),
            sa.func.avg(A.c.confidence),
        ).where(*self._attempts(client_id, w)).group_by(A.c.mode))
        return {r[0]: {"attempts": int(r[1]), "successful": int(r[2] or 0), "failed": int(r[1]) - int(r[2] or 0),
                       "success_rate": _rate(int(r[2] or 0), int(r[1])), "average_confidence": round(float(r[3] or 0), 4)}
                for r in rows}

    async def auth_by_hour(self, client_id: int, w: Window) -> list[dict[str, int]]:
        h = self.hour(A.c.created_at).label("h")
        rows = await self._rows(sa.select(h, sa.func.count(), sa.func.sum(sa.case((A.c.result == "success", 1),
                                                                                    else_=0)))
                                .where(*self._attempts(client_id, w)).group_by(h))
        found = {int(r[0]): (int(r[1]), int(r[2] or 0)) for r in rows}
        return [{"hour": hr, "attempts": found.get(hr, (0, 0))[0], "successful": found.get(hr, (0, 0))[1]}
                for hr in range(24)]

    async def auth_by_weekday(self, client_id: int, w: Window) -> dict[str, int]:
        d = self.weekday(A.c.created_at).label("d")
        rows = await self._rows(sa.select(d, sa.func.count()).where(*self._attempts(client_id, w)).group_by(d))
        names = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
        found = {int(r[0]): int(r[1]) for r in rows}
        return {names[i]: found.get(i, 0) for i in range(7)}

    async def most_active_users(self, client_id: int, w: Window, limit: int = 10) -> list[dict[str, Any]]:
        ok = sa.func.sum(sa.case((A.c.result == "success", 1), else_=0))
        rows = await self._rows(sa.select(A.c.user_id, sa.func.count().label("n"), ok, sa.func.max(A.c.created_at))
                                .where(*self._attempts(client_id, w), A.c.user_id.is_not(None))
                                .group_by(A.c.user_id).order_by(sa.desc("n"), A.c.user_id).limit(limit))
        return [{"user_id": r[0], "authentications": int(r[1]), "successful": int(r[2] or 0),
                 "failed": int(r[1]) - int(r[2] or 0), "last_attempt": iso_precise(r[3])} for r in rows]

    async def daily_attempts(self, client_id: int, w: Window, liveness_threshold: float) -> list[dict[str, Any]]:
        d = self.day(A.c.created_at).label("d")
        rows = await self._rows(sa.select(
            d, sa.func.count(), sa.func.sum(sa.case((A.c.result == "success", 1), else_=0)),
            sa.func.sum(sa.case((A.c.liveness_score >= liveness_threshold, 1), else_=0)), sa.func.avg(A.c.confidence),
        ).where(*self._attempts(client_id, w)).group_by(d).order_by(d))
        return [{"date": r[0], "attempts": int(r[1]), "accepted": int(r[2] or 0), "rejected": int(r[1]) - int(r[2] or 0),
                 "accept_rate": _rate(int(r[2] or 0), int(r[1])), "liveness_passed": int(r[3] or 0),
                 "liveness_pass_rate": _rate(int(r[3] or 0), int(r[1])), "average_confidence": round(float(r[4] or 0), 4)}
                for r in rows]

    async def score_distribution(self, client_id: int, w: Window, column: str) -> list[dict[str, Any]]:
        """Counts per 0.1-wide bucket of `confidence` or `liveness_score` (1.0 joins the top bucket)."""
        col = A.c[column]
        bucket = sa.case((col >= 1.0, 9), else_=sa.cast(sa.func.floor(col * 10), sa.Integer)).label("b")
        rows = await self._rows(sa.select(bucket, sa.func.count()).where(*self._attempts(client_id, w)).group_by(bucket))
        found = {int(r[0]): int(r[1]) for r in rows}
        return [{"range": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "count": found.get(b, 0)} for b in range(10)]

    # -- enrollments and sessions ----------------------------------------------------------

    async def enrollments(self, client_id: int, w: Window) -> dict[str, Any]:
        completed = await self._one(sa.select(sa.func.count(), sa.func.count(sa.distinct(S.c.user_id))).where(
            S.c.client_id == client_id, S.c.kind == "enrollment", S.c.status == "completed",
            S.c.completed_at >= w.start, S.c.completed_at < w.end))
        failed = await self._one(sa.select(sa.func.count()).where(
            audit_logs.c.client_id == client_id, audit_logs.c.event_type == "enrollment.failed",
            audit_logs.c.created_at >= w.start, audit_logs.c.created_at < w.end))
        started = await self._one(sa.select(sa.func.count()).where(
            S.c.client_id == client_id, S.c.kind == "enrollment", S.c.created_at >= w.start, S.c.created_at < w.end))
        done, bad = int(completed[0]), int(failed[0])
        return {"started": int(started[0]), "completed": done, "failed": bad, "users_enrolled": int(completed[1]),
                "success_rate": _rate(done, done + bad)}

    async def session_types(self, client_id: int, w: Window) -> dict[str, int]:
        rows = await self._rows(sa.select(S.c.session_type, sa.func.count()).where(
            S.c.client_id == client_id, S.c.created_at >= w.start, S.c.created_at < w.end)
            .group_by(S.c.session_type).order_by(S.c.session_type))
        return {r[0]: int(r[1]) for r in rows}

    async def peak_concurrent_sessions(self, client_id: int, w: Window) -> int:
        """Most sessions of the client alive at one session's start (a self-join count, in SQL)."""
        s2 = S.alias("s2")
        overlap = (sa.select(sa.func.count()).where(
            s2.c.client_id == client_id, s2.c.created_at <= S.c.created_at,
            sa.func.coalesce(s2.c.completed_at, s2.c.expires_at) > S.c.created_at).scalar_subquery())
        row = await self._one(sa.select(sa.func.max(overlap)).where(
            S.c.client_id == client_id, S.c.created_at >= w.start, S.c.created_at < w.end))
        return int(row[0] or 0)

    # -- API usage ---------------------------------------------------------------------------

    def _usage(self, client_id: int, w: Window) -> list[Any]:
        return [U.c.client_id == client_id, U.c.created_at >= w.start, U.c.created_at < w.end]

    async def api_summary(self, client_id: int, w: Window) -> dict[str, Any]:
        row = await self._one(sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((U.c.status >= 400, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((U.c.status >= 500, 1), else_=0)), 0), sa.func.avg(U.c.duration_ms),
        ).where(*self._usage(client_id, w)))
        total = int(row[0])
        return {"total_requests": total, "errors": int(row[1]), "server_errors": int(row[2]),
                "error_rate": _rate(int(row[1]), total), "avg_response_time_ms": round(float(row[3] or 0.0), 3),
                "p50_response_time_ms": await self.percentile(client_id, w, 0.50, total),
                "p95_response_time_ms": await self.percentile(client_id, w, 0.95, total)}

    async def percentile(self, client_id: int, w: Window, q: float, total: int) -> float:
        """Nearest-rank percentile of request durations: ORDER BY ... OFFSET in SQL (both dialects)."""
        if total == 0:
            return 0.0
        rank = max(0, min(total - 1, int(round(q * total + 0.5)) - 1))
        row = (await self._rows(sa.select(U.c.duration_ms).where(*self._usage(client_id, w))
                                .order_by(U.c.duration_ms).offset(rank).limit(1)))
        return round(float(row[0][0]), 3) if row else 0.0

    async def top_endpoints(self, client_id: int, w: Window, limit: int = 10) -> list[dict[str, Any]]:
        rows = await self._rows(sa.select(U.c.method, U.c.path, sa.func.count().label("n"), sa.func.avg(U.c.duration_ms),
                                          sa.func.sum(sa.case((U.c.status >= 400, 1), else_=0)))
                                .where(*self._usage(client_id, w)).group_by(U.c.method, U.c.path)
                                .order_by(sa.desc("n"), U.c.path).limit(limit))
        return [{"method": r[0], "endpoint": r[1], "requests": int(r[2]), "avg_response_time_ms": round(float(r[3]), 3),
                 "errors": int(r[4] or 0)} for r in rows]

    async def status_codes(self, client_id: int, w: Window) -> dict[str, int]:
        rows = await self._rows(sa.select(U.c.status, sa.func.count()).where(*self._usage(client_id, w))
                                .group_by(U.c.status).order_by(U.c.status))
        return {str(r[0]): int(r[1]) for r in rows}

    async def api_daily(self, client_id: int, w: Window) -> list[dict[str, Any]]:
        d = self.day(U.c.created_at).label("d")
        rows = await self._rows(sa.select(d, sa.func.count(), sa.func.sum(sa.case((U.c.status >= 400, 1), else_=0)),
                                          sa.func.avg(U.c.duration_ms), sa.func.max(U.c.duration_ms))
                                .where(*self._usage(client_id, w)).group_by(d).order_by(d))
        return [{"date": r[0], "requests": int(r[1]), "errors": int(r[2] or 0),
                 "error_rate": _rate(int(r[2] or 0), int(r[1])), "avg_response_time_ms": round(float(r[3] or 0), 3),
                 "max_response_time_ms": round(float(r[4] or 0), 3)} for r in rows]

    # -- audit -----------------------------------------------------------------------------

    async def audit(self, client_id: int, start: datetime | None, end: datetime | None, event_type: str | None,
                    category: str | None, security: bool | None, offset: int, limit: int
                    ) -> tuple[int, list[dict[str, Any]]]:
        L = audit_logs
        where: list[Any] = [L.c.client_id == client_id]
        if start is not None:
            where.append(L.c.created_at >= start)
        if end is not None:
            where.append(L.c.created_at < end)
        if event_type:
            where.append(L.c.event_type == event_type)
        if category:
            where.append(L.c.category == category)
        if security is not None:
            where.append((L.c.category == "security") if security else (L.c.category != "security"))
        async with self._engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(L).where(*where))).scalar_one()
            rows = await conn.execute(sa.select(L).where(*where).order_by(L.c.created_at.desc(), L.c.id.desc())
                                      .offset(offset).limit(limit))
            return int(total), [{
                "id": r.id, "event_type": r.event_type, "category": r.category, "outcome": r.outcome,
                "subject": r.subject, "ip_address": r.ip_address, "details": r.details or {},
                "timestamp": iso_precise(r.created_at),
            } for r in rows]

    async def security_counts(self, client_id: int, w: Window) -> dict[str, int]:
        L = audit_logs
        rows = await self._rows(sa.select(L.c.event_type, sa.func.count()).where(
            L.c.client_id == client_id, L.c.category == "security", L.c.created_at >= w.start, L.c.created_at < w.end)
            .group_by(L.c.event_type).order_by(L.c.event_type))
        return {r[0]: int(r[1]) for r in rows}


