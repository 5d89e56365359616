"""Run blocking engine work in the app's bounded thread pool, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Callable, ParamSpec, TypeVar

from aiohttp import web

from api.dependency_errors import ProcessingFailed
from api.keys import EXECUTOR
from engine.errors import EngineError
from recognition.errors import RecognitionError

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)


async def run_inference(request: web.Request, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Engine errors (no face, bad image) pass through as the caller's; anything else the models
    or OpenCV raise becomes ProcessingFailed (500 PROCESSING_ERROR), logged here with its cause."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(request.app[EXECUTOR], functools.partial(fn, *args, **kwargs))
    except (EngineError, RecognitionError):
        raise
    except Exception as exc:
        log.exception("face processing failed on %s %s", request.method, request.path)
        raise ProcessingFailed(type(exc).__name__) from exc
