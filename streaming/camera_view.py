"""Live view of a door camera in browsers: each viewer is a send-only (server side) WebRTC peer,
plus an `events` data channel with that camera's overlay (`faces`), recognition results and
access decisions.

Video, two ways:
- H.264 passthrough (the camera's codec is H.264 and the viewer's offer can receive it): the
  camera's encoded access units go to each viewer's `PacketTrack` (streaming.h264), aiortc only
  packetises them. No decode, scale or encode per viewer; a new viewer starts with the camera's
  current GOP (held here, from its last IDR, at most `GOP_LIMIT` units).
- Re-encode fallback (any other camera codec, or a viewer without H.264): aiortc's MediaRelay
  fans the camera's one decoded track out and aiortc encodes it per viewer (VP8 or H.264).
Either way the camera is decoded once, for recognition.

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

from streaming.h264 import EncodedUnit, PacketTrack, h264_preferences

log = logging.getLogger(__name__)

GOP_LIMIT = 300  # access units held for new viewers (~12 s at 25 fps); a longer GOP: they wait for the next IDR


class Viewer:
    def __init__(self, pc: RTCPeerConnection, packets: PacketTrack | None) -> None:
        self.pc = pc
        self.packets = packets  # None: the re-encode fallback
        self.channel: Any = None

    def send(self, message: dict[str, Any]) -> None:
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))


class CameraViewers:
    def __init__(self, source: MediaStreamTrack, listeners: list[Callable[[dict[str, Any]], None]],
                 max_viewers: int) -> None:
        self.relay = MediaRelay()
        self.codec: str | None = None  # the camera stream's codec, once a connection opened
        self._source = source
        self._listeners = listeners  # the camera's event fan-out (its runner calls each)
        self._viewers: set[Viewer] = set()
        self._max = max_viewers
        self._gop: list[EncodedUnit] = []  # the camera's current GOP, from its IDR: a new viewer starts with it

    def __len__(self) -> int:
        return len(self._viewers)

    def packets_sent(self) -> list[int]:
        """Per passthrough viewer, the access units its sender has taken (status, tests)."""
        return [v.packets.sent for v in self._viewers if v.packets is not None]

    @property
    def passthrough(self) -> bool:
        """Until the camera first connects its codec is unknown: assume H.264 (what IP cameras send)."""
        return self.codec in (None, "h264")

    def attach(self, pc: RTCPeerConnection, h264_ok: bool = True) -> Viewer:
        """Before the remote offer is applied: the video goes out on the offer's video m-line.
        `h264_ok`: the viewer's offer can receive H.264."""
        if len(self._viewers) >= self._max:
            raise OverflowError(f"this camera already has {len(self._viewers)} viewers")
        # room for a held GOP plus a second of live units (a viewer further behind resyncs at an IDR)
        packets = PacketTrack(GOP_LIMIT + 30) if h264_ok and self.passthrough else None
        viewer = Viewer(pc, packets)
        self._viewers.add(viewer)
        self._listeners.append(viewer.send)
        track = packets if packets is not None else self.relay.subscribe(self._source, buffered=False)
        if packets is not None:
            packets.prime(self._gop, asyncio.get_running_loop().time())
        sender = pc.addTrack(track)
        if packets is not None:  # aiortc packs av.Packets only for the codec they are in
            next(t for t in pc.getTransceivers() if t.sender is sender).setCodecPreferences(h264_preferences())

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == "events":
                viewer.channel = channel

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.drop(viewer)

        return viewer

    def feed(self, unit: EncodedUnit) -> None:
        """On the loop, per H.264 access unit off the wire: to every passthrough viewer."""
        if unit.keyframe:
            self._gop = [unit]
        elif self._gop and len(self._gop) < GOP_LIMIT:
            self._gop.append(unit)
        else:
            self._gop = []  # too long to hold: new viewers wait for the next IDR
        for viewer in self._viewers:
            if viewer.packets is not None:
                viewer.packets.feed(unit)

    async def set_codec(self, codec: str) -> None:
        """A connection opened. Passthrough viewers of a camera that now sends another codec can
        get no video: they are closed (the page reconnects and gets the re-encode fallback)."""
        self.codec = codec
        self._gop = []  # a new connection: the old GOP does not continue
        if not self.passthrough:
            stale = [v for v in self._viewers if v.packets is not None]
            if stale:
                log.info("camera stream is %s, not H.264: closing %d passthrough viewers", codec, len(stale))
            await asyncio.gather(*(self.drop(v) for v in stale))

    async def drop(self, viewer: Viewer) -> None:
        """Idempotent; the viewer's peer connection is closed and its events stop."""
        if viewer in self._viewers:
            self._viewers.discard(viewer)
            if viewer.send in self._listeners:
                self._listeners.remove(viewer.send)
        if viewer.packets is not None:
            viewer.packets.stop()
        await viewer.pc.close()

    async def close(self) -> None:
        await asyncio.gather(*(self.drop(v) for v in list(self._viewers)))
