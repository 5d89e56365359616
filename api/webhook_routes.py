"""`/api/webhooks/` (tag `Webhooks`): endpoints, the events recorded for them, delivery logs and
manual retries; always the calling client's own."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from api.client_auth import require_client
from api.errors import ApiError
from api.keys import CONFIG, EVENT_SINK, WEBHOOKS
from api.openapi import ErrorBody, json_body, operation, query_params
from api.user_routes import page_links
from api.webhook_schemas import (
    CreateEndpoint, EndpointDeleted, EndpointOut, EndpointPage, EventOut, EventPage, EventQuery, LogOut, LogPage,
    LogQuery, PageQuery, RetryOut, UpdateEndpoint,
)
from events.targets import TargetRefused, check_url_async
from events.webhook_store import Endpoint, EventRecord, LogRecord
from storage.timestamps import iso_precise

routes = web.RouteTableDef()
TAG = "Webhooks"
BASE = "/api/webhooks/"


def endpoint_json(ep: Endpoint, secret: str | None = None) -> dict[str, Any]:
    return {
        "id": ep.id, "url": ep.url, "events": ep.events, "is_active": ep.is_active, "description": ep.description,
        "retry_policy": {"max_retries": ep.max_retries, "backoff_strategy": ep.backoff_strategy,
                         "retry_delay": ep.retry_delay},
        "secret": secret, "created_at": iso_precise(ep.created_at), "updated_at": iso_precise(ep.updated_at),
    }


def event_json(ev: EventRecord) -> dict[str, Any]:
    return {"id": ev.id, "event": ev.event_type, "event_type": ev.event_type, "data": ev.data,
            "timestamp": iso_precise(ev.created_at), "deliveries": ev.deliveries, "delivered": ev.delivered,
            "failed": ev.failed}


def log_json(lg: LogRecord) -> dict[str, Any]:
    return {"id": lg.id, "webhook_id": lg.endpoint_id, "delivery_id": lg.delivery_id, "event_id": lg.event_id,
            "event_type": lg.event_type, "url": lg.url, "attempt": lg.attempt, "status": lg.status,
            "response_status": lg.response_status, "response_body": lg.response_body, "error": lg.error,
            "duration_ms": lg.duration_ms, "delivery_status": lg.delivery_status, "created_at": iso_precise(lg.created_at)}


async def _check_url(request: web.Request, url: str) -> str:
    """The SSRF guard at creation (delivery checks again, events/delivery.py): the host as aiohttp
    will normalise it, numeric forms as the resolver reads them, names by what they resolve to."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 literal
        ok = False
    if not ok:
        raise ApiError(400, "url: must be an absolute http(s) URL", "VALIDATION_ERROR",
                       {"url": ["must be an absolute http(s) URL"]})
    if not request.app[CONFIG].webhooks.allow_private_targets:
        try:
            await check_url_async(url)
        except TargetRefused as exc:
            raise ApiError(400, f"url: {exc}", "VALIDATION_ERROR", {"url": [str(exc)]}) from None
    return url


async def _endpoint_or_404(request: web.Request, client_id: int) -> Endpoint:
    ep = await request.app[WEBHOOKS].get(client_id, request.match_info["webhook_id"][:36])
    if ep is None:
        raise ApiError(404, "Webhook endpoint not found", "NOT_FOUND")
    return ep


@routes.get(BASE + "endpoints/")
@operation("List webhook endpoints", tags=TAG, query=PageQuery, responses={200: EndpointPage})
async def list_endpoints(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, PageQuery)
    count, rows = await request.app[WEBHOOKS].list(client.id, (q.page - 1) * q.page_size, q.page_size)
    return web.json_response({**page_links(request, q.page, q.page_size, count),
                              "results": [endpoint_json(r) for r in rows]})


@routes.post(BASE + "endpoints/")
@operation("Create a webhook endpoint (the secret is returned once)", tags=TAG, body=CreateEndpoint,
           responses={201: EndpointOut, 400: ErrorBody})
async def create_endpoint(request: web.Request) -> web.Response:
    client = await require_client(request)
    body = await json_body(request, CreateEndpoint)
    settings = request.app[CONFIG].webhooks
    held, _ = await request.app[WEBHOOKS].list(client.id, 0, 0)
    if held >= settings.max_endpoints_per_client:  # each endpoint multiplies every event's deliveries
        limit = settings.max_endpoints_per_client
        raise ApiError(429, f"This client already has {held} webhook endpoints "
                            f"(webhooks.max_endpoints_per_client = {limit})", "RATE_LIMIT_EXCEEDED",
                       {"limit": limit, "endpoints": held})
    policy = body.retry_policy
    secret = body.secret or "whsec_" + secrets.token_urlsafe(32)
    ep = await request.app[WEBHOOKS].create(
        client.id, url=await _check_url(request, body.url), events=list(body.events), secret=secret,
        description=body.description, is_active=body.is_active,
        max_retries=policy.max_retries if policy else settings.default_max_retries,
        backoff_strategy=policy.backoff_strategy if policy else "exponential",
        retry_delay=policy.retry_delay if policy else settings.default_retry_delay_s,
        ip_address=request.remote,
    )
    return web.json_response(endpoint_json(ep, secret), status=201)


@routes.get(BASE + "endpoints/{webhook_id}/")
@operation("Read a webhook endpoint", tags=TAG, responses={200: EndpointOut})
async def get_endpoint(request: web.Request) -> web.Response:
    client = await require_client(request)
    return web.json_response(endpoint_json(await _endpoint_or_404(request, client.id)))


@routes.put(BASE + "endpoints/{webhook_id}/")
@routes.patch(BASE + "endpoints/{webhook_id}/")
@operation("Update a webhook endpoint (fields sent replace the stored ones)", tags=TAG, body=UpdateEndpoint,
           responses={200: EndpointOut, 400: ErrorBody})
async def update_endpoint(request: web.Request) -> web.Response:
    client = await require_client(request)
    await _endpoint_or_404(request, client.id)
    body = await json_body(request, UpdateEndpoint)
    raw = body.model_dump(exclude_unset=True)
    nulls = [k for k, v in raw.items() if v is None]
    if nulls:
        raise ApiError(400, f"{nulls[0]}: may not be null", "VALIDATION_ERROR", {k: ["may not be null"] for k in nulls})
    changes: dict[str, Any] = {k: v for k, v in raw.items() if k != "retry_policy"}
    if "url" in changes:
        await _check_url(request, changes["url"])
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    if body.retry_policy is not None:
        changes.update(body.retry_policy.model_dump())
    ep = await request.app[WEBHOOKS].update(client.id, request.match_info["webhook_id"][:36], changes,
                                            request.remote)
    if ep is None:
        raise ApiError(404, "Webhook endpoint not found", "NOT_FOUND")
    return web.json_response(endpoint_json(ep))


@routes.delete(BASE + "endpoints/{webhook_id}/")
@operation("Delete a webhook endpoint and its pending deliveries", tags=TAG, responses={200: EndpointDeleted})
async def delete_endpoint(request: web.Request) -> web.Response:
    client = await require_client(request)
    webhook_id = request.match_info["webhook_id"][:36]
    if not await request.app[WEBHOOKS].delete(client.id, webhook_id, request.remote):
        raise ApiError(404, "Webhook endpoint not found", "NOT_FOUND")
    return web.json_response({"id": webhook_id, "deleted": True})


@routes.get(BASE + "events/")
@operation("Webhook events recorded for this client, newest first", tags=TAG, query=EventQuery,
           responses={200: EventPage})
async def list_events(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, EventQuery)
    count, rows = await request.app[WEBHOOKS].events(client.id, (q.page - 1) * q.page_size, q.page_size,
                                                     q.event_type)
    return web.json_response({**page_links(request, q.page, q.page_size, count),
                              "results": [event_json(r) for r in rows]})


@routes.get(BASE + "events/{event_id}/")
@operation("One webhook event with its payload", tags=TAG, responses={200: EventOut})
async def get_event(request: web.Request) -> web.Response:
    client = await require_client(request)
    ev = await request.app[WEBHOOKS].event(client.id, request.match_info["event_id"][:36])
    if ev is None:
        raise ApiError(404, "Webhook event not found", "NOT_FOUND")
    return web.json_response(event_json(ev))


@routes.get(BASE + "logs/")
@operation("Delivery attempts, newest first (filter by event_type, status, webhook_id)", tags=TAG, query=LogQuery,
           responses={200: LogPage})
async def list_logs(request: web.Request) -> web.Response:
    client = await require_client(request)
    q = query_params(request, LogQuery)
    count, rows = await request.app[WEBHOOKS].logs(client.id, (q.page - 1) * q.page_size, q.page_size,
                                                   event_type=q.event_type, status=q.status,
                                                   endpoint_id=q.webhook_id)
    return web.json_response({**page_links(request, q.page, q.page_size, count),
                              "results": [log_json(r) for r in rows]})


def _log_id(request: web.Request) -> int:
    raw = request.match_info["log_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # "³".isdigit() is True, int("³") fails
        raise ApiError(404, "Webhook log not found", "NOT_FOUND")
    return int(raw)


@routes.get(BASE + "logs/{log_id}/")
@operation("One delivery attempt", tags=TAG, responses={200: LogOut})
async def get_log(request: web.Request) -> web.Response:
    client = await require_client(request)
    lg = await request.app[WEBHOOKS].log(client.id, _log_id(request))
    if lg is None:
        raise ApiError(404, "Webhook log not found", "NOT_FOUND")
    return web.json_response(log_json(lg))


@routes.post(BASE + "logs/{log_id}/retry/")
@operation("Deliver this log's event again, now (one more attempt)", tags=TAG, responses={202: RetryOut})
async def retry_log(request: web.Request) -> web.Response:
    client = await require_client(request)
    log_id = _log_id(request)
    delivery_id = await request.app[WEBHOOKS].retry(client.id, log_id)
    if delivery_id is None:
        raise ApiError(404, "Webhook log not found", "NOT_FOUND")
    request.app[EVENT_SINK].wake()
    return web.json_response({"log_id": log_id, "delivery_id": delivery_id, "status": "pending",
                              "message": "Delivery queued again."}, status=202)
