"""A camera's decoded video as an aiortc track: the source aiortc's MediaRelay fans out to viewers.

Newest frame wins here too: a viewer that cannot keep up skips frames rather than queueing them,
and the camera's one decode feeds every viewer (MediaRelay reads this track once per frame).
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = fractions.Fraction(1, 90000)


class PushedTrack(MediaStreamTrack):
    """A video track the camera's reader pushes into: `recv` waits for the next item, and items
    are re-stamped on a 90 kHz clock from the first one sent (camera timestamps restart at every
    reconnect). Decoded frames (CameraTrack) and encoded units (streaming.h264.PacketTrack)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._wake = asyncio.Event()
        self._start: float | None = None

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            if self.readyState != "live":
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        if self.readyState != "live":
            raise MediaStreamError

    def _ticks(self, at: float) -> float:
        """90 kHz ticks of `at` (seconds) since the first item sent."""
        if self._start is None:
            self._start = at
        return (at - self._start) * 90000

    def stop(self) -> None:
        super().stop()
        self._wake.set()


class CameraTrack(PushedTrack):
    def __init__(self) -> None:
        super().__init__()
        self._frame: av.VideoFrame | None = None
        self.delivered = 0

    def push(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._wake.set()

    async def recv(self) -> av.VideoFrame:
        await self._wait_until(lambda: self._frame is not None)
        out, self._frame = self._frame, None
        assert out is not None
        out.pts = int(self._ticks(asyncio.get_running_loop().time()))
        out.time_base = VIDEO_CLOCK
        self.delivered += 1
        return out
