"""Frame sources the live session accepts (sessions.live.FrameSource): converted to pixels on the
executor, never on the event loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np


@dataclass(frozen=True)
class VideoFrameSource:
    """A decoded WebRTC/RTSP frame; its media time drives liveness timing."""

    frame: av.VideoFrame

    @property
    def pts(self) -> int | None:
        return self.frame.pts

    @property
    def time(self) -> float | None:
        return float(self.frame.time) if self.frame.time is not None else None

    def pixels(self) -> np.ndarray:
        return self.frame.to_ndarray(format="bgr24")


@dataclass(frozen=True)
class EncodedFrameSource:
    """A posted image (WebSocket process_frame) with the client's capture time, if it sent one."""

    data: bytes
    decode: Callable[[bytes], np.ndarray]
    time: float | None = None
    pts: int | None = None

    def pixels(self) -> np.ndarray:
        return self.decode(self.data)
