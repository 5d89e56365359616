"""A live-view client of a door camera: a receive-only aiortc peer with an `events` data channel
that counts the video frames it decodes and keeps the camera's events."""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from typing import Any

from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class CameraViewer:
    def __init__(self, http: TestClient, headers: dict[str, str], camera_id: str, codec: str = "") -> None:
        self.http = http
        self.codec = codec  # e.g. "video/VP8": offer only that codec (a browser without H.264)
        self.headers = headers
        self.camera_id = camera_id
        self.pc = RTCPeerConnection()
        self.events: list[dict[str, Any]] = []
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> int:
        """Offer, apply the answer; returns the HTTP status of the view request."""
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        if self.codec:
            transceiver.setCodecPreferences([c for c in RTCRtpReceiver.getCapabilities("video").codecs
                                             if c.mimeType.lower() == self.codec.lower()])
        channel = self.pc.createDataChannel("events")
        channel.on("message", lambda m: self.events.append(json.loads(m)))
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        resp = await self.http.post(f"/api/streaming/cameras/{self.camera_id}/view/", headers=self.headers,
                                    json={"sdp": self.pc.localDescription.sdp, "type": "offer"})
        if resp.status != 200:
            return resp.status
        answer = await resp.json()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        return 200

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._reader is None:
            self._reader = asyncio.create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                self.frames += 1
                self.size = (frame.width, frame.height)  # type: ignore[union-attr]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e["payload"] for e in self.events if e["type"] == kind]

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader])
