"""The low-latency jitter buffer: a frame leaves at its marker packet, not one frame later."""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from streaming.jitter import MarkerJitterBuffer


def _packet(seq: int, ts: int, marker: bool, data: bytes) -> RtpPacket:
    packet = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=ts)
    packet._data = data  # type: ignore[attr-defined]  # what the receiver's depayloader sets
    return packet


def _feed(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, int, bytes]]:
    """(index of the packet that released a frame, frame timestamp, frame bytes)."""
    out = []
    for i, packet in enumerate(packets):
        _, frame = buffer.add(packet)
        if frame is not None:
            out.append((i, frame.timestamp, frame.data))
    return out


FRAMES = [
    _packet(100, 9000, False, b"a1"), _packet(101, 9000, False, b"a2"), _packet(102, 9000, True, b"a3"),
    _packet(103, 15000, False, b"b1"), _packet(104, 15000, True, b"b2"),
    _packet(105, 21000, True, b"c1"),
]


def test_frames_leave_at_their_marker_packet() -> None:
    released = _feed(MarkerJitterBuffer(capacity=512, is_video=True), FRAMES)
    assert released == [(2, 9000, b"a1a2a3"), (4, 15000, b"b1b2"), (5, 21000, b"c1")]
    # aiortc's own rule releases each frame only when the next one starts, and never the last.
    assert _feed(JitterBuffer(capacity=512, is_video=True), FRAMES) == [(3, 9000, b"a1a2a3"), (5, 15000, b"b1b2")]


def test_a_frame_with_a_missing_packet_is_held_until_it_arrives() -> None:
    buffer = MarkerJitterBuffer(capacity=512, is_video=True)
    order = [FRAMES[0], FRAMES[2], FRAMES[1]]  # 101 arrives late (a NACKed retransmission)
    assert _feed(buffer, order) == [(2, 9000, b"a1a2a3")]


def test_without_markers_it_falls_back_to_aiortcs_rule() -> None:
    packets = [_packet(1, 100, False, b"x"), _packet(2, 100, False, b"y"), _packet(3, 200, False, b"z")]
    assert _feed(MarkerJitterBuffer(capacity=512, is_video=True), packets) == [(2, 100, b"xy")]
