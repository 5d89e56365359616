"""H.264 passthrough for door camera viewers: the camera's encoded access units go to every viewer's
WebRTC sender as they came off the wire, so a viewer costs packetising, not a decode-scale-encode.

Why this works with aiortc: `RTCRtpSender` packs an `av.Packet` returned by a track's `recv()`
(`H264Encoder.pack`: Annex B split + RTP packetisation) instead of encoding a frame, when the
negotiated codec is H.264. So the viewer's transceiver is restricted to H.264
(`h264_preferences`), each viewer gets its own `PacketTrack` (its own timestamps and queue), and
a viewer starts at a keyframe (a decoder cannot start mid-GOP): it gets the camera's current GOP
at once (`prime`, held by streaming.camera_view), with timestamps squeezed into the moment it
joins, so the picture appears without waiting for the next IDR (IP cameras send one every 1-10 s).
Cameras that send SPS/PPS only out of band (RTSP `sprop-parameter-sets`, the demuxer's
extradata) get them prepended to each IDR, so a viewer joining late can decode.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, replace

import av
from aiortc import RTCRtpSender

from streaming.camera_track import VIDEO_CLOCK, PushedTrack

NAL_IDR, NAL_SPS, NAL_PPS = 5, 7, 8
START = b"\x00\x00\x00\x01"


@dataclass(frozen=True)
class EncodedUnit:
    """One H.264 access unit (Annex B) with the loop time it arrived: viewers stamp it with that."""

    data: bytes
    keyframe: bool
    arrived: float


def nal_types(data: bytes) -> set[int]:
    """NAL unit types in an Annex B buffer (start codes 00 00 01 / 00 00 00 01)."""
    types, i = set(), data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        types.add(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def parameter_sets(extradata: bytes | None) -> bytes:
    """The stream's SPS/PPS as Annex B: extradata is Annex B already (RTSP) or avcC (MP4-style)."""
    if not extradata:
        return b""
    if extradata.startswith(b"\x00\x00\x01") or extradata.startswith(START):
        return extradata
    if extradata[0] != 1 or len(extradata) < 7:  # not avcC either
        return b""
    out, pos = bytearray(), 5
    try:
        for count_mask in (0x1F, 0xFF):  # SPS count (low 5 bits), then PPS count
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                size = int.from_bytes(extradata[pos:pos + 2], "big")
                out += START + extradata[pos + 2:pos + 2 + size]
                pos += 2 + size
    except IndexError:
        return b""
    return bytes(out)


def access_unit(data: bytes, params: bytes, arrived: float) -> EncodedUnit:
    """An IDR without in-band SPS/PPS gets the stream's parameter sets in front of it."""
    types = nal_types(data)
    key = NAL_IDR in types
    if key and NAL_SPS not in types and params:
        data = params + data
    return EncodedUnit(data, key, arrived)


def h264_preferences() -> list:
    """aiortc's H.264 codecs (and RTX) for `setCodecPreferences`: the viewer must negotiate H.264."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]


def offers_h264(sdp: str) -> bool:
    return "h264/90000" in sdp.lower()


class PacketTrack(PushedTrack):
    """One viewer's H.264 passthrough track. Newest-wins at GOP granularity: a viewer that falls
    `max_queue` units behind drops what it holds and waits for the next keyframe (dropping single
    units would corrupt the picture until then)."""

    def __init__(self, max_queue: int = 60) -> None:
        super().__init__()
        self._queue: collections.deque[EncodedUnit] = collections.deque()
        self._max = max_queue
        self._waiting_key = True
        self.sent = 0
        self.skipped = 0  # units not sent: before the first keyframe, or dropped while behind

    def prime(self, gop: list[EncodedUnit], now: float) -> None:
        """Start with the current GOP (from its IDR), stamped 1 ms apart up to `now`: the decoder
        gets every reference frame, the viewer sees the live picture at once."""
        if not gop or not gop[0].keyframe:
            return
        n = len(gop)
        for i, unit in enumerate(gop):
            self.feed(replace(unit, arrived=now - 0.001 * (n - i)))

    def feed(self, unit: EncodedUnit) -> None:
        if len(self._queue) >= self._max:
            self.skipped += len(self._queue)
            self._queue.clear()
            self._waiting_key = True
        if self._waiting_key and not unit.keyframe:
            self.skipped += 1
            return
        self._waiting_key = False
        self._queue.append(unit)
        self._wake.set()

    async def recv(self) -> av.Packet:
        await self._wait_until(lambda: bool(self._queue))
        unit = self._queue.popleft()
        packet = av.Packet(unit.data)
        packet.pts = round(self._ticks(unit.arrived))  # from arrival: see PushedTrack
        packet.time_base = VIDEO_CLOCK
        self.sent += 1
        return packet
