"""Is face recognition actually working? `/api/core/status/` runs the detector once on a blank
frame (at most every PROBE_EVERY_S seconds, on the inference pool) instead of only checking that
an engine object exists: a model that fails at run time shows as "offline" there, beside the
500 PROCESSING_ERROR its requests get."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import numpy as np
from aiohttp import web

from api.keys import ENGINE, EXECUTOR

log = logging.getLogger(__name__)

PROBE_EVERY_S = 10.0


@dataclass
class ProbeResult:
    online: bool = False
    at: float = float("-inf")


PROBE = web.AppKey("engine_probe", ProbeResult)


async def engine_state(app: web.Application) -> str:
    if ENGINE not in app:
        return "offline"
    result = app[PROBE]
    now = time.monotonic()
    if now - result.at >= PROBE_EVERY_S:
        engine = app[ENGINE]
        blank = np.full((64, 64, 3), 127, np.uint8)
        try:
            await asyncio.get_running_loop().run_in_executor(app[EXECUTOR], engine.detector.detect, blank)
            result.online = True
        except Exception as exc:
            log.warning("face recognition probe failed: %s", type(exc).__name__)
            result.online = False
        result.at = now
    return "online" if result.online else "offline"
