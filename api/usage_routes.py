"""Client statistics and per-request API usage (`Client Management`), always the caller's own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiohttp import web

from api.client_auth import require_client
from api.errors import ApiError
from api.identity_schemas import ClientStatistics, UsageOut, UsagePage, UsageQuery
from api.keys import CONFIG, USAGE, USERS
from api.openapi import operation, query_params
from api.user_routes import page_links
from storage.records import ApiUsage
from storage.timestamps import iso_precise

routes = web.RouteTableDef()
TAG = "Client Management"


def usage_json(row: ApiUsage) -> dict[str, object]:
    return {"id": row.id, "method": row.method, "path": row.path, "status": row.status,
            "duration_ms": row.duration_ms, "timestamp": iso_precise(row.created_at)}


@routes.get("/api/clients/statistics/")
@operation("Usage statistics of the calling client", tags=TAG, responses={200: ClientStatistics})
async def statistics(request: web.Request) -> web.Response:
    client = await require_client(request)
    now = datetime.now(timezone.utc)
    usage = request.app[USAGE]
    users = await request.app[USERS].stats(client.id)
    limits = request.app[CONFIG].rate_limits.for_tier(client.tier)
    today = await usage.summary_since(client.id, now.replace(hour=0, minute=0, second=0, microsecond=0))
    last_hour = await usage.summary_since(client.id, now - timedelta(hours=1))
    return web.json_response({
        "client_id": client.id,
        "tier": client.tier,
        "users": {"total": users.users, "active": users.active_users, "inactive": users.users - users.active_users,
                  "enrolled": users.enrolled_users, "face_embeddings": users.enrollments},
        "requests": {"today": today["requests"], "errors_today": today["errors"],
                     "avg_duration_ms_today": today["avg_duration_ms"], "last_hour": last_hour["requests"]},
        "rate_limits": {"hourly": limits.hourly, "daily": limits.daily, "burst_per_minute": limits.burst_per_minute,
                        "concurrent_sessions": limits.concurrent_sessions},
    })


@routes.get("/api/clients/api-usage/")
@operation("Per-request API usage records, newest first", tags=TAG, query=UsageQuery, responses={200: UsagePage})
async def list_usage(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, UsageQuery)
    count, rows = await request.app[USAGE].list(client.id, (q.page - 1) * q.page_size, q.page_size, q.method, q.status)
    links = page_links(request, q.page, q.page_size, count)
    return web.json_response({**links, "results": [usage_json(r) for r in rows]})


@routes.get("/api/clients/api-usage/{usage_id}/")
@operation("One API usage record", tags=TAG, responses={200: UsageOut})
async def get_usage(request: web.Request) -> web.Response:
    client = await require_client(request)
    raw = request.match_info["usage_id"]
    row = await request.app[USAGE].get(client.id, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 18 else None
    if row is None:
        raise ApiError(404, "Usage record not found", "NOT_FOUND")
    return web.json_response(usage_json(row))
