"""The browser pages (kiosk at `/`, people management at `/people`, door cameras at `/cameras/`)
and their static assets, served by the app itself (no CDN, no build step). The pages extend one
template (web/templates/base.html: head, header, sign-in) and are served with one set of security
headers. They talk to the public API through the SDK module web/static/sdk/facestream.js; the
server only renders the settings they need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from api.keys import CONFIG

WEB = Path(__file__).resolve().parent.parent / "web"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(WEB / "templates"), autoescape=True)
    app.router.add_get("/", index)
    app.router.add_get("/people", people)
    app.router.add_get("/cameras/", cameras)
    app.router.add_static("/static/", WEB / "static", name="static", append_version=True)


def _render(request: web.Request, template: str, extra: dict[str, Any] | None = None) -> web.Response:
    config = request.app[CONFIG]
    context = {"static": "/static", "pages": config.pages, "challenge_timeout_s": config.liveness.challenge_timeout_s,
               **(extra or {})}
    response = aiohttp_jinja2.render_template(template, request, context)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def index(request: web.Request) -> web.Response:
    return _render(request, "index.html")


async def people(request: web.Request) -> web.Response:
    return _render(request, "people.html")


async def cameras(request: web.Request) -> web.Response:
    """Door cameras: list, status, live view, decision log."""
    return _render(request, "cameras.html")
