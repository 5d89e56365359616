"""Run blocking engine work for a request in the app's bounded thread pool (sessions/blocking.py)."""

from __future__ import annotations

from typing import Callable, ParamSpec, TypeVar

from aiohttp import web

from api.keys import EXECUTOR
from sessions.blocking import run_blocking

P = ParamSpec("P")
T = TypeVar("T")

NOT_PROCESSED = "Face processing failed; the request was not processed"


async def run_inference(request: web.Request, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Engine errors (no face, bad image) pass through as the caller's; anything else the models
    or OpenCV raise is logged with the request's method and path and answers 500 PROCESSING_ERROR."""
    return await run_blocking(request.app[EXECUTOR], f"on {request.method} {request.path}", NOT_PROCESSED,
                              fn, *args, **kwargs)
