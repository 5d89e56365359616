"""Waiting on a condition with a generous ceiling, never on a fixed sleep.

Why: the suite runs on busy machines (CI, a laptop building something else). A test that sleeps
0.3 s and then assumes the server has done something fails when the server needed 0.4 s; a test
that polls for the thing itself passes as soon as it happens and fails only when it never does.
Ceilings are generous because reaching one means a real failure, not a slow machine.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

CEILING_S = 30.0
_POLL_S = 0.05


@overload
async def wait_until(condition: Callable[[], Awaitable[T]], timeout: float = ..., message: str = ...,
                     interval: float = ...) -> T: ...


@overload
async def wait_until(condition: Callable[[], T], timeout: float = ..., message: str = ...,
                     interval: float = ...) -> T: ...


async def wait_until(condition: Callable[[], Any], timeout: float = CEILING_S,
                     message: str = "condition never held", interval: float = _POLL_S) -> Any:
    """Polls `condition` (plain or async) until it returns something truthy, and returns that;
    raises AssertionError naming `message` (and the last value seen) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        value = await result if inspect.isawaitable(result) else result
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} within {timeout:.0f} s (last: {value!r})")
        await asyncio.sleep(interval)
