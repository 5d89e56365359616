"""Stopping a background loop that talks to a database: ask first, cancel last.

Why: a cancellation that lands inside an async database call can leave the connection in the
middle of its transaction (seen: a rollback failing with PendingRollbackError and an aiosqlite
thread outliving the app) or come back as an ordinary exception that the loop swallows and goes
on. So loops check a stop event between rounds, and their owners give them a grace period to
finish the round they are in before cancelling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

STOP_GRACE_S = 5.0  # a database round or a bounded webhook request ends well within this


async def stop_tasks(tasks: Iterable[asyncio.Task[object] | None], grace_s: float = STOP_GRACE_S) -> None:
    """Wait up to `grace_s` for tasks already asked to stop, cancel what is left, and reap all."""
    live = [t for t in tasks if t is not None]
    pending = [t for t in live if not t.done()]
    if pending:
        _, still = await asyncio.wait(pending, timeout=grace_s)
        for task in still:
            task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Sleeps up to `seconds`; True as soon as `stop` is set.

    `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` wraps `stop.wait()` in a task of
    its own each round, so every idle loop kept minting short-lived tasks that looked like leaks
    to anyone counting the app's tasks (the fifty-sessions test, once it ran past a 30 s round)."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True
