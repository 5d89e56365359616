"""Outermost `/api/` middleware: rate-limit headers on every authenticated response, and one
usage record per authenticated request.

It wraps the error middleware so it sees the final response, error bodies included (a 429
gets its Retry-After here). The client is whatever require_client put on the request; an
unauthenticated request is neither counted nor recorded.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from api.client_auth import CLIENT
from api.keys import USAGE
from api.rate_limit import RATE_DECISION, rate_limit_headers

log = logging.getLogger(__name__)


def _route_template(request: web.Request) -> str:
    """The matched route's template, so ids and query strings never reach the usage table."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(unmatched)"


@web.middleware
async def platform_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    started = time.perf_counter()
    response = await handler(request)
    decision = request.get(RATE_DECISION)
    if decision is not None and not response.prepared:
        response.headers.update(rate_limit_headers(decision))
    client = request.get(CLIENT)
    if client is not None:
        try:
            await request.app[USAGE].record(
                client.id, request.method, _route_template(request), response.status,
                (time.perf_counter() - started) * 1000.0,
            )
        except Exception:  # usage accounting must never fail the request it describes
            log.warning("could not record API usage for client %s", client.id, exc_info=True)
    return response
