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
import re
import threading
from collections.abc import Callable

import av

log = logging.getLogger(__name__)

_CREDENTIALS = re.compile(r"(?i)(rtsps?://)[^/@\s]*@")


def mask_url(text: str) -> str:
    """rtsp://user:pass@host/... -> rtsp://***@host/... anywhere in a text (URLs, error messages)."""
    return _CREDENTIALS.sub(r"\1***@", text)


class IngestError(Exception):
    """The stream could not be opened or stopped delivering; the message never holds credentials."""


class RtspReader:
    """One connection: open, decode until stopped or the stream fails. `frames` counts decoder
    output (one decode per camera, whatever consumes the frames)."""

    def __init__(self, url: str, transport: str, open_timeout_s: float, read_timeout_s: float,
                 on_frame: Callable[[av.VideoFrame], None], name: str) -> None:
        self._url = url
        self._transport = transport
        self._timeouts = (open_timeout_s, read_timeout_s)
        self._on_frame = on_frame
        self._name = name
        self._stop = threading.Event()
        self._loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[tuple[int, int]] = self._loop.create_future()
        self.finished: asyncio.Future[str] = self._loop.create_future()  # why it ended (masked)
        self.frames = 0
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
            with av.open(self._url, options=options, timeout=self._timeouts) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                self._resolve(self.opened, (stream.codec_context.width, stream.codec_context.height))
                for frame in container.decode(stream):
                    if self._stop.is_set():
                        break
                    self.frames += 1
                    self._loop.call_soon_threadsafe(self._on_frame, frame)
                else:
                    reason = "stream ended"
        except Exception as exc:  # av.error.* (timeouts, refused, 404), anything from the demuxer
            reason = mask_url(f"{type(exc).__name__}: {exc}")[:300]
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
