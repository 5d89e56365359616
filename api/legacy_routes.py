"""Legacy recognition listings (`/api/recognition/...`): read-only, client-scoped, paginated.

Deprecated in the OpenAPI document: new integrations read sessions through
`/api/auth/enrollment/{id}/` and `/api/auth/authentication/{id}/`. Embeddings are listed as
metadata only; the vectors never leave the server through this surface.
"""

from __future__ import annotations

from aiohttp import web

from api.client_auth import require_client
from api.errors import ApiError
from api.input_guard import INT32, bounded_int
from api.openapi import ErrorBody, operation, query_params
from api.session_common import services
from api.session_schemas import Page, PageQuery

routes = web.RouteTableDef()
TAG = "Legacy Recognition"
KINDS = {"embeddings": "Embedding", "sessions": "Session", "attempts": "Attempt"}


async def _list(request: web.Request, what: str) -> web.Response:
    client = await require_client(request)
    query = query_params(request, PageQuery)
    offset = (query.page - 1) * query.page_size
    total, rows = await services(request).store.page(what, client.id, offset, query.page_size)
    base = request.url.with_query(None)

    def link(page: int) -> str:
        return str(base.with_query(page=page, page_size=query.page_size))

    return web.json_response({
        "count": total, "page": query.page, "page_size": query.page_size,
        "next": link(query.page + 1) if offset + len(rows) < total else None,
        "previous": link(query.page - 1) if query.page > 1 else None,
        "results": rows,
    })


async def _one(request: web.Request, what: str) -> web.Response:
    client = await require_client(request)
    raw = request.match_info["item_id"]
    item_id: str | int = raw
    if what != "sessions":
        try:
            item_id = bounded_int(raw, "item_id", INT32)  # INTEGER ids: 2^31 and up exist nowhere
        except ApiError:
            raise ApiError(404, f"{KINDS[what]} not found", "NOT_FOUND") from None
    _, rows = await services(request).store.page(what, client.id, 0, 1, item_id)
    if not rows:
        raise ApiError(404, f"{KINDS[what]} not found", "SESSION_NOT_FOUND" if what == "sessions" else "NOT_FOUND")
    return web.json_response(rows[0])


def _register(what: str) -> None:
    async def listing(request: web.Request) -> web.Response:
        return await _list(request, what)

    async def detail(request: web.Request) -> web.Response:
        return await _one(request, what)

    listing.__doc__ = f"Deprecated: {what} of the calling client, newest first."
    detail.__doc__ = f"Deprecated: one {KINDS[what].lower()} of the calling client."
    operation(f"List {what} (legacy)", tags=TAG, query=PageQuery, responses={200: Page}, deprecated=True)(listing)
    operation(f"Read one {KINDS[what].lower()} (legacy)", tags=TAG, responses={200: None, 404: ErrorBody},
              deprecated=True)(detail)
    routes.get(f"/api/recognition/{what}/")(listing)
    routes.get(f"/api/recognition/{what}/{{item_id}}/")(detail)


for _what in KINDS:
    _register(_what)
