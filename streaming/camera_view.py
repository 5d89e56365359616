"""Live view of a door camera in browsers: each viewer is a send-only (server side) WebRTC peer
fed through aiortc's MediaRelay from the camera's one decoded track (one decode whatever the
number of viewers), plus an `events` data channel with that camera's overlay (`faces`),
recognition results and access decisions.

Ownership: `CameraViewers` (one per camera runner) owns its viewers' peer connections; a viewer
leaves when its connection fails or closes, and `close()` (camera stopped, app shutdown) closes
every one. Signaling (the SDP answer, ICE servers) is signaling/camera_view.py's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

log = logging.getLogger(__name__)


class Viewer:
    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.channel: Any = None

    def send(self, message: dict[str, Any]) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))


class CameraViewers:
    def __init__(self, source: MediaStreamTrack, listeners: list[Callable[[dict[str, Any]], None]],
                 max_viewers: int) -> None:
        self.relay = MediaRelay()
        self._source = source
        self._listeners = listeners  # the camera's event fan-out (its runner calls each)
        self._viewers: set[Viewer] = set()
        self._max = max_viewers

    def __len__(self) -> int:
        return len(self._viewers)

    def attach(self, pc: RTCPeerConnection) -> Viewer:
        """Before the remote offer is applied: the relayed video goes out on the offer's video m-line."""
        if len(self._viewers) >= self._max:
            raise OverflowError(f"this camera already has {len(self._viewers)} viewers")
        viewer = Viewer(pc)
        self._viewers.add(viewer)
        self._listeners.append(viewer.send)
        pc.addTrack(self.relay.subscribe(self._source, buffered=False))

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == "events":
                viewer.channel = channel

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.drop(viewer)

        return viewer

    async def drop(self, viewer: Viewer) -> None:
        """Idempotent; the viewer's peer connection is closed and its events stop."""
        if viewer in self._viewers:
            self._viewers.discard(viewer)
            if viewer.send in self._listeners:
                self._listeners.remove(viewer.send)
        await viewer.pc.close()

    async def close(self) -> None:
        await asyncio.gather(*(self.drop(v) for v in list(self._viewers)))
