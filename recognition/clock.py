"""Frame times for liveness over posted frames.

Why not the arrival time alone: blinks are judged by their duration, and HTTP round trips
stretch or bunch frames. A client that sends `frame_metadata.timestamp` (capture time) gets its
capture timeline; otherwise the server's arrival time is used. Either way time never runs
backwards within a session.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class FrameClock:
    started: float = field(default_factory=time.monotonic)
    first_client_ts: float | None = None
    last: float = -1.0

    def next(self, client_ts: float | None) -> float:
        if client_ts is not None:
            if self.first_client_ts is None:
                self.first_client_ts = client_ts - max(self.last, 0.0)
            t = client_ts - self.first_client_ts
        else:
            t = time.monotonic() - self.started
        t = max(t, self.last + 1e-3)
        self.last = t
        return t
