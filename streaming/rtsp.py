"""RTSP ingest: PyAV opens and decodes one camera stream in its own thread (demuxing and decoding
block, and must never run on the event loop or in the inference pool), handing every decoded
frame to the event loop. What the loop does with them (newest-frame slot, relay) is the camera's.

Why PyAV's `timeout=(open, read)`: it is enforced by an interrupt callback, so a camera that
goes silent (stall) or vanishes ends the read within `read_timeout_s` for TCP and UDP alike, and
stopping the reader never waits longer than that.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import av

from doors.camera_url import CameraUrlError, TargetRefused, connect_url, mask_url
from streaming.h264 import EncodedUnit, access_unit, parameter_sets

log = logging.getLogger(__name__)



class IngestError(Exception):
    """The stream could not be opened or stopped delivering; the message never holds credentials."""


class RtspReader:
    """One connection: open, demux and decode until stopped or the stream fails. `frames` counts
    decoder output, `packets` decoder input (one decode per camera, whatever consumes the
    frames). With `on_packet`, an H.264 stream's access units also go to the loop as they came
    off the wire (viewers' passthrough: streaming.h264)."""

    def __init__(self, url: str, transport: str, open_timeout_s: float, read_timeout_s: float,
                 on_frame: Callable[[av.VideoFrame], None], name: str,
                 on_packet: Callable[[EncodedUnit], None] | None = None, allow_private: bool = False) -> None:
        self._url = url
        self._allow_private = allow_private
        self._transport = transport
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._on_frame = on_frame
        self._on_packet = on_packet
        self._name = name
        self._stop = threading.Event()
        self._loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[tuple[int, int, str]] = self._loop.create_future()  # width, height, codec
        self.finished: asyncio.Future[str] = self._loop.create_future()  # why it ended (masked)
        self.frames = 0
        self.packets = 0
        self._thread = threading.Thread(target=self._run, name=f"rtsp-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        """Stop and wait for the thread (at most about read_timeout_s)."""
        self._stop.set()
        await asyncio.wait([self.finished])

    def _resolve(self, fut: asyncio.Future, value: object = None, exc: BaseException | None = None) -> None:
        def set_it() -> None:
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
                fut.exception()  # retrieved: a failed open nobody awaits must not warn at collection
            else:
                fut.set_result(value)
        try:
            self._loop.call_soon_threadsafe(set_it)
        except RuntimeError:  # the loop is closed (interpreter shutdown): nobody waits any more
            pass

    def _run(self) -> None:
        reason = "stopped"
        try:
            options = {"rtsp_transport": self._transport, "rtsp_flags": "prefer_tcp"} if self._transport == "tcp" \
                else {"rtsp_transport": self._transport}
            # checked at every connect: the URL as FFmpeg will read it, the addresses its name has now
            target = connect_url(self._url, self._allow_private)
            with av.open(target, options=options, timeout=self._timeouts) as container:
                stream = container.streams.video[0]
                # slice threads: frame threading would hold back `threads - 1` frames (latency at the door)
                stream.thread_type = "SLICE"
                ctx = stream.codec_context
                self._resolve(self.opened, (ctx.width, ctx.height, ctx.name))
                passthrough = self._on_packet if ctx.name == "h264" else None
                params = parameter_sets(ctx.extradata) if passthrough else b""
                for packet in container.demux(stream):
                    if self._stop.is_set():
                        break
                    if packet.size and passthrough is not None:
                        unit = access_unit(bytes(packet), params, self._loop.time())
                        self._loop.call_soon_threadsafe(passthrough, unit)
                    self.packets += 1
                    for frame in packet.decode():
                        self.frames += 1
                        self._loop.call_soon_threadsafe(self._on_frame, frame)
                else:
                    reason = "stream ended"
        except (CameraUrlError, TargetRefused) as exc:  # never connected
            reason = mask_url(f"target refused: {exc}", self._url)[:300]
            log.warning("camera %s: %s", self._name, reason)
        except Exception as exc:  # av.error.* (timeouts, refused, 404), anything from the demuxer
            reason = mask_url(f"{type(exc).__name__}: {exc}", self._url)[:300]
            if not self._stop.is_set():
                log.info("camera %s: stream failed: %s", self._name, reason)
        finally:
            err = IngestError(reason)
            self._resolve(self.opened, exc=err)
            self._resolve(self.finished, reason)


def backoff_delay(attempt: int, initial: float, largest: float, jitter: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with +-jitter: attempt 0 waits `initial`, then doubling up to `largest`."""
    base = min(largest, initial * (2 ** min(attempt, 30)))
    return max(0.0, base * (1 + jitter * (2 * rand() - 1)))
