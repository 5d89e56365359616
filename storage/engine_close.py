"""Closing an SQLAlchemy async engine so that, when `close()` returns, its connections are closed
and the driver's threads have ended.

Why: `AsyncEngine.dispose()` is not enough on its own for a long-running server or its tests.
- It closes only the connections checked in to the pool. One still checked out (a write that an
  owner shielded from cancellation, finishing on its own) goes back to the disposed pool later and
  stays open, with its aiosqlite worker thread, until the garbage collector finds it. So we first
  give checked-out connections a grace period to come back.
- aiosqlite (0.22) resolves `Connection.close()` from its worker thread *before* that thread
  exits, so `dispose()` returns while the threads are still running. On a busy machine they lived
  on after the app had shut down (a quarter of 100 closes under two busy loops; seen as a leaked
  `_connection_worker_thread` in tests/test_stream_lifecycle.py). So we wait for them to end.
Both waits poll a condition with a ceiling and never hang shutdown: what is left is logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

RETURN_GRACE_S = 5.0  # a query in flight at shutdown ends well within this (storage/background.py)
THREAD_END_S = 10.0  # a closed connection's worker thread ends in microseconds; ceiling for loaded CI
_POLL_S = 0.01


class DriverThreads:
    """The worker threads of the connections an engine opened (aiosqlite runs one per connection;
    asyncpg runs none, so for PostgreSQL this stays empty)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._threads: list[threading.Thread] = []
        sa.event.listen(engine.sync_engine, "connect", self._on_connect)

    def _on_connect(self, _dbapi_conn: Any, record: Any) -> None:
        thread = _worker_thread(record.driver_connection)
        if thread is not None:
            self._threads = [t for t in self._threads if t.is_alive()]  # closed connections' threads
            self._threads.append(thread)

    def alive(self) -> list[threading.Thread]:
        return [t for t in self._threads if t.is_alive()]


def _worker_thread(driver_connection: Any) -> threading.Thread | None:
    """aiosqlite >= 0.20 keeps its worker in `_thread`; before, the connection was the thread."""
    if isinstance(driver_connection, threading.Thread):
        return driver_connection
    thread = getattr(driver_connection, "_thread", None)
    return thread if isinstance(thread, threading.Thread) else None


async def close_engine(engine: AsyncEngine, threads: DriverThreads | None = None,
                       return_grace_s: float = RETURN_GRACE_S, thread_end_s: float = THREAD_END_S) -> None:
    """Let checked-out connections come back, dispose of the pool, then wait for driver threads."""
    pool = engine.pool
    checked_out: Callable[[], int] = getattr(pool, "checkedout", lambda: 0)  # NullPool/StaticPool keep none
    if not await _until(lambda: checked_out() == 0, return_grace_s):
        log.warning("closing the database with %d connection(s) still in use after %.1f s; they close when "
                    "their owners release them", checked_out(), return_grace_s)
    await engine.dispose()
    if threads is not None and not await _until(lambda: not threads.alive(), thread_end_s):
        log.warning("%d database driver thread(s) still running %.1f s after the pool closed",
                    len(threads.alive()), thread_end_s)


async def _until(condition: Callable[[], bool], ceiling_s: float) -> bool:
    """Polls `condition` on the event loop (no extra thread) until it holds or `ceiling_s` passes."""
    deadline = time.monotonic() + ceiling_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True
