"""A video jitter buffer that hands a frame on as soon as its last packet is in.

aiortc's `JitterBuffer` only knows a frame is complete when a packet of the *next* frame
arrives, which holds every frame back one frame interval (67 ms at 15 fps), the largest part of
our frame-to-event latency (BENCHMARKS.md). VP8 (RFC 7741) and H.264 (RFC 6184) senders set the
RTP marker bit on the last packet of each frame, so a contiguous run from the buffer's origin
that ends in a marker packet is a whole frame. Without a marker, aiortc's rule still applies.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame

log = logging.getLogger(__name__)


class MarkerJitterBuffer(JitterBuffer):
    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        origin = self._origin
        if origin is None:
            return None
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(origin + count) % self.capacity]
            if packet is None or (timestamp is not None and packet.timestamp != timestamp):
                break
            timestamp = packet.timestamp
            if packet.marker:
                packets = [self._packets[(origin + i) % self.capacity] for i in range(count + 1)]
                self.remove(count + 1)
                return JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)  # type: ignore[union-attr]
        return super()._remove_frame(sequence_number)


def use_marker_jitter_buffer(receiver: Any) -> bool:
    """Swap a fresh video receiver's buffer (before any RTP arrived); False if not possible.

    aiortc keeps the buffer in a private attribute; if a release renames it we log and keep
    aiortc's own buffer, which is correct, only one frame slower.
    """
    attr = "_RTCRtpReceiver__jitter_buffer"
    current = getattr(receiver, attr, None)
    if type(current) is not JitterBuffer or current._origin is not None:
        log.warning("cannot install the low-latency jitter buffer on %r; keeping aiortc's", receiver)
        return False
    setattr(receiver, attr, MarkerJitterBuffer(capacity=current.capacity, is_video=True))
    return True
