"""A real aiortc peer for streaming tests: sends frames at a fixed rate over WebRTC and collects
the server's events from the `events` data channel."""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from functools import cache
from typing import Any

import av
import numpy as np
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from testkit.media import letterbox, plane_warp, still_image, video_frames

CLOCK = 90000


class FrameTrack(VideoStreamTrack):
    """Frames from `source(i)` at `fps`, real time, pts in a 90 kHz clock from 0; loops forever.

    A source may give encoded frames (bytes in the codec the offer will negotiate, e.g. VP8):
    aiortc then only packetises them, so a benchmark's clients do not spend the CPU on encoding
    that a phone spends on its own. `sent` records the wall time each pts left, so a benchmark
    can measure frame -> event latency.
    """

    def __init__(self, source: Callable[[int], av.VideoFrame | bytes], fps: float = 15.0, lead_s: float = 0.0) -> None:
        """`lead_s`: a pause after the first frame, so that frame is surely processed (a server
        that picks the newest frame at the last moment would otherwise skip it under load)."""
        super().__init__()
        self._source = source
        self._fps = fps
        self._lead = lead_s
        self._index = 0
        self._start: float | None = None
        self.sent: dict[int, float] = {}

    async def recv(self) -> av.VideoFrame | av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._index / self._fps + (self._lead if self._index else 0.0)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        item = self._source(self._index)
        pts = round(self._index * CLOCK / self._fps)
        # a fresh object per send: pts/time_base are per send
        out = av.Packet(item) if isinstance(item, bytes) else item.reformat()
        out.pts, out.time_base = pts, fractions.Fraction(1, CLOCK)
        self.sent[pts] = time.monotonic()
        self._index += 1
        return out


def _to_frame(img: np.ndarray) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(letterbox(img), format="bgr24").reformat(format="yuv420p")


@cache
def video_source_frames(seconds: float = 8.0, fps: float = 15.0) -> tuple[av.VideoFrame, ...]:
    return tuple(_to_frame(img) for _, img in video_frames(fps, seconds))


def video_source(seconds: float = 8.0, fps: float = 15.0) -> Callable[[int], av.VideoFrame]:
    frames = video_source_frames(seconds, fps)
    return lambda i: frames[i % len(frames)]


def still_source(moving: bool, fps: float = 15.0) -> Callable[[int], av.VideoFrame]:
    static = _to_frame(still_image())
    return (lambda i: _to_frame(plane_warp(still_image(), i / fps))) if moving else (lambda i: static)


class RtcPeer:
    """Create a session over REST, offer video + the `events` channel, collect events."""

    def __init__(self, http: TestClient, headers: dict[str, str]) -> None:
        self.http = http
        self.headers = headers
        self.pc = RTCPeerConnection()
        self.events: list[dict[str, Any]] = []
        self.session: dict[str, Any] = {}
        self._changed = asyncio.Event()

    async def create(self, **body: Any) -> dict[str, Any]:
        resp = await self.http.post("/api/streaming/sessions/", json={"session_type": "webrtc", **body}, headers=self.headers)
        assert resp.status == 201, await resp.text()
        self.session = await resp.json()
        return self.session

    async def connect(self, track: FrameTrack, events: bool = True) -> None:
        """`events=False`: offer a data channel of another name (so SCTP is negotiated) and open
        the `events` channel later with `open_events`, as a slow client might."""
        if events:
            self.open_events()
        else:
            self.pc.createDataChannel("hello")
        self.pc.addTrack(track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        resp = await self.http.post(
            "/api/streaming/webrtc/offer/",
            json={"session_token": self.session["session_token"], "sdp": self.pc.localDescription.sdp, "type": "offer"},
        )
        assert resp.status == 200, await resp.text()
        answer = await resp.json()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))

    def open_events(self) -> None:
        channel = self.pc.createDataChannel("events")
        channel.on("message", self._on_message)

    def _on_message(self, message: str) -> None:
        self.events.append(json.loads(message))
        self._changed.set()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in self.events if e["type"] == kind]

    async def wait_for(self, predicate: Callable[[Sequence[dict[str, Any]]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate(self.events):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
        return True

    async def close(self) -> None:
        await self.pc.close()
