"""`/api/analytics/` (tag `Analytics`): figures computed in SQL from what was recorded
(storage/analytics_store.py), always for the calling client only."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psutil
from aiohttp import web

from api.analytics_schemas import (
    ApiDaily, ApiOverview, ApiSummary, AuditPage, AuditQuery, Dashboard, DailyQuery, ModelPerformance, PeriodQuery,
    RecognitionStats, SecurityPage, Statistics, SystemMetrics, UserBehavior,
)
from api.client_auth import require_client
from api.errors import ApiError
from api.keys import CONFIG, SESSION_SERVICES, SESSIONS, STORE
from api.metrics import METRICS
from api.openapi import operation, query_params
from api.user_routes import page_links
from events.delivery import outbox_depth
from storage.analytics_store import AnalyticsStore, Window
from storage.timestamps import iso_seconds

routes = web.RouteTableDef()
TAG = "Analytics"
BASE = "/api/analytics/"
DAYS = {"last_7_days": 7, "last_30_days": 30, "last_90_days": 90, "last_365_days": 365}


def window(period: str, now: datetime | None = None) -> Window:
    now = now or datetime.now(timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "today":
        return Window(midnight, now + timedelta(seconds=1))
    if period == "yesterday":
        return Window(midnight - timedelta(days=1), midnight)
    if period == "this_month":
        return Window(midnight.replace(day=1), now + timedelta(seconds=1))
    return Window(now - timedelta(days=DAYS[period]), now + timedelta(seconds=1))


def previous(w: Window) -> Window:
    return Window(w.start - (w.end - w.start), w.start)


def trend(now: float, before: float) -> str:
    if not before:
        return "+0%" if not now else "+100%"
    change = round((now - before) / before * 100)
    return f"{change:+d}%"


def analytics(request: web.Request) -> AnalyticsStore:
    return AnalyticsStore(request.app[STORE].engine)


def live_threshold(request: web.Request) -> float:
    return request.app[CONFIG].liveness.threshold


@routes.get(BASE + "dashboard/")
@operation("Dashboard overview (last 30 days by default) with trends against the period before", tags=TAG,
           query=PeriodQuery, responses={200: Dashboard})
async def dashboard(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, PeriodQuery)
    db, w = analytics(request), window(q.period)
    auth = await db.authentications(client.id, w, live_threshold(request))
    before = await db.authentications(client.id, previous(w), live_threshold(request))
    api_now, api_before = await db.api_summary(client.id, w), await db.api_summary(client.id, previous(w))
    enroll = await db.enrollments(client.id, w)
    return web.json_response({
        "period": q.period,
        "metrics": {
            "total_authentications": auth["total"], "successful_rate": auth["success_rate"],
            "average_response_time": round(api_now["avg_response_time_ms"] / 1000.0, 4),
            "unique_users": auth["unique_users"], "peak_concurrent_sessions": await db.peak_concurrent_sessions(client.id, w),
            "total_enrollments": enroll["completed"], "failed_enrollments": enroll["failed"],
        },
        "trends": {
            "authentications_trend": trend(auth["total"], before["total"]),
            "success_rate_trend": trend(auth["success_rate"], before["success_rate"]),
            "response_time_trend": trend(api_now["avg_response_time_ms"], api_before["avg_response_time_ms"]),
        },
    })


@routes.get(BASE + "statistics/")
@operation("Usage statistics for a period (?period=today|last_7_days|last_30_days|...)", tags=TAG,
           query=PeriodQuery, responses={200: Statistics})
async def statistics(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, PeriodQuery)
    db, w, lt = analytics(request), window(q.period), live_threshold(request)
    auth = await db.authentications(client.id, w, lt)
    return web.json_response({
        "period": q.period, "start": iso_seconds(w.start), "end": iso_seconds(w.end),
        "authentications": {k: auth[k] for k in ("total", "successful", "failed", "success_rate", "unique_users",
                                                 "average_confidence")},
        "by_mode": await db.by_mode(client.id, w),
        "enrollments": await db.enrollments(client.id, w),
        "liveness": {"checks": auth["total"], "passed": auth["liveness_passed"],
                     "failed": auth["total"] - auth["liveness_passed"],
                     "pass_rate": round(auth["liveness_passed"] / auth["total"], 4) if auth["total"] else 0.0,
                     "threshold": lt},
        "failure_reasons": await db.failure_reasons(client.id, w),
        "api": await db.api_summary(client.id, w),
        "daily": await db.daily_attempts(client.id, w, lt),
    })


@routes.get(BASE + "user-behavior/")
@operation("Authentication patterns by hour and weekday, most active users, outcomes, session types", tags=TAG,
           query=PeriodQuery, responses={200: UserBehavior})
async def user_behavior(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, PeriodQuery)
    db, w = analytics(request), window(q.period)
    auth = await db.authentications(client.id, w, live_threshold(request))
    return web.json_response({
        "period": q.period,
        "authentication_by_hour": await db.auth_by_hour(client.id, w),
        "authentication_by_weekday": await db.auth_by_weekday(client.id, w),
        "most_active_users": await db.most_active_users(client.id, w),
        "success_failure_patterns": {"successful": auth["successful"], "failed": auth["failed"],
                                     "success_rate": auth["success_rate"],
                                     "failure_reasons": await db.failure_reasons(client.id, w)},
        "device_distribution": await db.session_types(client.id, w),
    })


@routes.get(BASE + "face-recognition-stats/")
@operation("Enrollment and recognition statistics", tags=TAG, query=PeriodQuery, responses={200: RecognitionStats})
async def recognition_stats(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, PeriodQuery)
    db, w = analytics(request), window(q.period)
    auth = await db.authentications(client.id, w, live_threshold(request))
    modes = await db.by_mode(client.id, w)
    empty = {"attempts": 0, "successful": 0, "failed": 0, "success_rate": 0.0, "average_confidence": 0.0}
    return web.json_response({
        "period": q.period, "enrollments": await db.enrollments(client.id, w),
        "authentications": {k: auth[k] for k in ("total", "successful", "failed", "success_rate")},
        "verification": modes.get("verification", empty), "identification": modes.get("identification", empty),
        "failure_reasons": await db.failure_reasons(client.id, w), "average_confidence": auth["average_confidence"],
    })


@routes.get(BASE + "system-metrics/")
@operation("This process's health (CPU, memory, frames/s); the caller's own sessions, queue and error rate",
           tags=TAG, responses={200: SystemMetrics})
async def system_metrics(request: web.Request) -> web.Response:
    client = await require_client(request)
    db = analytics(request)
    hour = Window(datetime.now(timezone.utc) - timedelta(hours=1), datetime.now(timezone.utc) + timedelta(seconds=1))
    api = await db.api_summary(client.id, hour)
    m = request.app[METRICS]
    frames = m.frame_stats()
    disk = shutil.disk_usage(os.getcwd())
    engine = request.app[STORE].engine
    pool = engine.pool
    checked_out = getattr(pool, "checkedout", lambda: 0)()
    return web.json_response({
        "timestamp": iso_seconds(datetime.now(timezone.utc)),
        "metrics": {
            "cpu_usage": round(psutil.cpu_percent(interval=None) / 100.0, 4),
            "memory_usage": round(psutil.virtual_memory().percent / 100.0, 4),
            "process_memory_bytes": psutil.Process().memory_info().rss,
            "disk_usage": round(disk.used / disk.total, 4) if disk.total else 0.0,
            # The caller's own work only (issue 24): other clients' sessions and webhooks are theirs.
            "active_sessions": request.app[SESSION_SERVICES].live.count(client.id)
            + len(request.app[SESSIONS].sessions_of(client.id)),
            "queue_size": await outbox_depth(engine, client.id),
            "database_connections": int(checked_out),
        },
        "performance": {
            "avg_response_time": round(api["avg_response_time_ms"] / 1000.0, 4),
            "p50_response_time": round(api["p50_response_time_ms"] / 1000.0, 4),
            "p95_response_time": round(api["p95_response_time_ms"] / 1000.0, 4),
            "requests_per_second": round(api["total_requests"] / 3600.0, 4),
            "error_rate": api["error_rate"],
            **frames,
        },
    })


def _date_range(q: AuditQuery) -> tuple[datetime | None, datetime | None]:
    start = datetime(q.start_date.year, q.start_date.month, q.start_date.day, tzinfo=timezone.utc) if q.start_date else None
    # inclusive: up to the next midnight; the last representable day (9999-12-31) has none, and
    # nothing can be recorded after it anyway: no upper bound
    end = (datetime(q.end_date.year, q.end_date.month, q.end_date.day, tzinfo=timezone.utc) + timedelta(days=1)
           if q.end_date and q.end_date < date.max else None)
    if start and end and end <= start:
        raise ApiError(400, "end_date: must not be before start_date", "VALIDATION_ERROR",
                       {"end_date": ["must not be before start_date"]})
    return start, end


@routes.get(BASE + "audit-logs/")
@operation("Audit trail: enrollments, authentications, user, credential, webhook and security events", tags=TAG,
           query=AuditQuery, responses={200: AuditPage})
async def audit_logs(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, AuditQuery)
    start, end = _date_range(q)
    count, rows = await analytics(request).audit(client.id, start, end, q.event_type, q.category, None,
                                                 (q.page - 1) * q.page_size, q.page_size)
    return web.json_response({**page_links(request, q.page, q.page_size, count), "results": rows})


@routes.get(BASE + "security-events/")
@operation("Security events: bad credentials, lockouts, liveness failures, brute-force blocks", tags=TAG,
           query=AuditQuery, responses={200: SecurityPage})
async def security_events(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, AuditQuery)
    start, end = _date_range(q)
    db = analytics(request)
    count, rows = await db.audit(client.id, start, end, q.event_type, None, True, (q.page - 1) * q.page_size,
                                 q.page_size)
    w = Window(start or datetime(1970, 1, 1, tzinfo=timezone.utc), end or datetime.now(timezone.utc) + timedelta(seconds=1))
    return web.json_response({**page_links(request, q.page, q.page_size, count), "results": rows,
                              "summary": await db.security_counts(client.id, w)})


@routes.get(BASE + "model-performance/")
@operation("Score distributions, accept/reject and liveness pass rates per day", tags=TAG, query=PeriodQuery,
           responses={200: ModelPerformance})
async def model_performance(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, PeriodQuery)
    db, w, lt = analytics(request), window(q.period), live_threshold(request)
    auth = await db.authentications(client.id, w, lt)
    total = auth["total"]
    return web.json_response({
        "period": q.period,
        "accept_rate": auth["success_rate"], "reject_rate": round(auth["failed"] / total, 4) if total else 0.0,
        "liveness_pass_rate": round(auth["liveness_passed"] / total, 4) if total else 0.0,
        "score_distributions": {"confidence": await db.score_distribution(client.id, w, "confidence"),
                                "liveness_score": await db.score_distribution(client.id, w, "liveness_score")},
        "daily": await db.daily_attempts(client.id, w, lt),
    })


@routes.get(BASE + "api/daily/")
@operation("Daily API usage report", tags=TAG, query=DailyQuery, responses={200: ApiDaily})
async def api_daily(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, DailyQuery)
    now = datetime.now(timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=q.days - 1)
    rows = await analytics(request).api_daily(client.id, Window(start, now + timedelta(seconds=1)))
    return web.json_response({"days": q.days, "results": rows})


async def _summary(request: web.Request, client_id: int, period: str) -> dict[str, Any]:
    db, w = analytics(request), window(period)
    return {"period": period, **await db.api_summary(client_id, w), "top_endpoints": await db.top_endpoints(client_id, w),
            "status_codes": await db.status_codes(client_id, w)}


@routes.get(BASE + "api/summary/")
@operation("API usage summary for a period", tags=TAG, query=PeriodQuery, responses={200: ApiSummary})
async def api_summary(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, PeriodQuery)
    return web.json_response(await _summary(request, client.id, q.period))


@routes.get(BASE + "api/overview/")
@operation("API usage over today, the last 7 and the last 30 days", tags=TAG, responses={200: ApiOverview})
async def api_overview(request: web.Request) -> web.Response:
    client = await require_client(request)
    db = analytics(request)
    periods = {}
    for period in ("today", "last_7_days", "last_30_days"):
        s = await db.api_summary(client.id, window(period))
        periods[period] = {k: s[k] for k in ("total_requests", "errors", "error_rate", "avg_response_time_ms",
                                             "p95_response_time_ms")}
    return web.json_response({"periods": periods, "generated_at": iso_seconds(datetime.now(timezone.utc))})
