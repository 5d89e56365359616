"""The newest-frame slot every live transport feeds (WebRTC reader, WebSocket process_frame,
camera readers): a frame arriving while another waits replaces it, so a slow machine drops
frames instead of falling behind. Counts what it received and dropped."""

from __future__ import annotations

import asyncio
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

    def put(self, frame: F) -> None:
        self.counters.received += 1
        if self._frame is not None:
            self.counters.dropped += 1
        self._frame = frame
        self.last_put = asyncio.get_running_loop().time()
        self._wake.set()

    def take(self) -> F | None:
        frame, self._frame = self._frame, None
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
