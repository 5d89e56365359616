"""A camera's decoded video as an aiortc track: the source aiortc's MediaRelay fans out to viewers.

Newest frame wins here too: a viewer that cannot keep up skips frames rather than queueing them,
and the camera's one decode feeds every viewer (MediaRelay reads this track once per frame).
"""

from __future__ import annotations

import asyncio
import fractions

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = fractions.Fraction(1, 90000)


class CameraTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._frame: av.VideoFrame | None = None
        self._wake = asyncio.Event()
        self._start: float | None = None
        self.delivered = 0

    def push(self, frame: av.VideoFrame) -> None:
        self._frame = frame
        self._wake.set()

    async def recv(self) -> av.VideoFrame:
        while self._frame is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._wake.clear()
            await self._wake.wait()
        if self.readyState != "live":
            raise MediaStreamError
        frame, self._frame = self._frame, None
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        out = frame  # re-stamp on a 90 kHz wall clock: camera timestamps restart at every reconnect
        out.pts = int((loop.time() - self._start) * 90000)
        out.time_base = VIDEO_CLOCK
        self.delivered += 1
        return out

    def stop(self) -> None:
        super().stop()
        self._wake.set()
