"""Run blocking engine work in the app's bounded thread pool, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
from typing import Callable, ParamSpec, TypeVar

from aiohttp import web

from api.keys import EXECUTOR

P = ParamSpec("P")
T = TypeVar("T")


async def run_inference(request: web.Request, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[EXECUTOR], functools.partial(fn, *args, **kwargs))
