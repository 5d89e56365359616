"""`/api/schema/` (the OpenAPI document) and Swagger UI 5 (renders OpenAPI 3.1), vendored under
web/static/vendor/swagger-ui with its licence."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from api.openapi import build_document
from facestream import __version__

ASSETS = "/api/schema/swagger-ui/assets"
SWAGGER_DIST = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor" / "swagger-ui"
DOCUMENT = web.AppKey("openapi_document", dict)


def setup_schema(app: web.Application) -> None:
    """The document is built once at startup, when every route is in the router."""
    app.on_startup.append(_build)
    app.router.add_get("/api/schema/", schema)
    app.router.add_get("/api/schema/swagger-ui/", swagger_ui)
    app.router.add_static(ASSETS, SWAGGER_DIST, name="swagger_assets")


async def _build(app: web.Application) -> None:
    app[DOCUMENT] = build_document(app, title="Facestream API", version=__version__)


async def schema(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


async def swagger_ui(request: web.Request) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "swagger.html", request, {"assets": ASSETS, "static": "/static", "spec_url": "/api/schema/"}
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'"
    )
    return response
