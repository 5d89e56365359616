"""The browser page and its static assets, served by the app itself (no CDN, no build step)."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

WEB = Path(__file__).resolve().parent.parent / "web"


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(WEB / "templates"), autoescape=True)
    app.router.add_get("/", index)
    app.router.add_static("/static/", WEB / "static", name="static", append_version=True)


async def index(request: web.Request) -> web.Response:
    response = aiohttp_jinja2.render_template("index.html", request, {"static": "/static"})
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
        "connect-src 'self'; style-src 'self'; script-src 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
