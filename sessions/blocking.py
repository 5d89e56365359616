"""Blocking model work in the app's bounded thread pool, never on the event loop (DESIGN §4).

The one runner every path uses: REST handlers through api/inference.run_inference, session
frames (REST, WebRTC, WebSocket, cameras) through SessionServices.run. Both used to carry their
own copy of the same error rule; it lives here once:
- engine refusals (bad image, no face) and domain errors pass through as the caller's;
- anything else the models or OpenCV raise is logged here with its traceback and becomes
  ProcessingFailed (PROCESSING_ERROR, 500) with the caller's message, never the cause.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

from engine.errors import EngineError
from recognition.errors import RecognitionError
from sessions.errors import ProcessingFailed

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger(__name__)


async def run_blocking(executor: Executor, where: str, message: str,
                       fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(*args, **kwargs)` in `executor`. `where` names the work in the log ("on POST /detect",
    "in _step"); `message` is what the client reads if it fails for a reason of ours."""
    try:
        return await asyncio.get_running_loop().run_in_executor(executor, functools.partial(fn, *args, **kwargs))
    except (EngineError, RecognitionError):
        raise
    except Exception as exc:
        log.exception("face processing failed %s", where)
        raise ProcessingFailed(message) from exc
