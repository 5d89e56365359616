"""The newest-frame slot every live transport feeds (WebRTC reader, WebSocket process_frame,
camera readers): a frame arriving while another waits replaces it, so a slow machine drops
frames instead of falling behind. Counts what it received and dropped.

`fresher()` lets the model job swap, when a worker thread finally starts it, the frame the loop
took for a newer one that arrived while the job queued behind other sessions' frames: under load
the frame processed is then at most one frame interval old, not one interval plus the wait for
a free worker (which grows with the number of streams)."""

from __future__ import annotations

import asyncio
import threading
from contextlib import suppress
from typing import Generic, TypeVar

from sessions.live import FrameCounters

F = TypeVar("F")


class FrameSlot(Generic[F]):
    def __init__(self, counters: FrameCounters) -> None:
        self.counters = counters
        self.last_put: float | None = None  # loop time of the newest frame: the idle clock
        self._frame: F | None = None
        self._wake = asyncio.Event()
        self._lock = threading.Lock()  # put/take on the loop, fresher() on a worker thread

    def put(self, frame: F) -> None:
        with self._lock:
            self.counters.received += 1
            if self._frame is not None:
                self.counters.dropped += 1
            self._frame = frame
        self.last_put = asyncio.get_running_loop().time()
        self._wake.set()

    def take(self) -> F | None:
        with self._lock:
            frame, self._frame = self._frame, None
        return frame

    def fresher(self) -> F | None:
        """From any thread: the frame that arrived since the last take, if any (it is taken, and
        the frame the caller holds counts as dropped), else None."""
        with self._lock:
            frame, self._frame = self._frame, None
            if frame is not None:
                self.counters.dropped += 1
        return frame

    def wake(self) -> None:
        """Interrupt a `wait` (a state change the loop must see)."""
        self._wake.set()

    async def wait(self, seconds: float) -> None:
        """Until a frame arrives, `wake()` is called, or `seconds` pass."""
        with suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._wake.wait()
        self._wake.clear()
