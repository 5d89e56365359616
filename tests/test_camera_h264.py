"""H.264 passthrough helpers on real data: the parameter sets of the shared blink video (avcC in
MP4) become Annex B, an IDR without them gets them in front, and a viewer's track starts at a
keyframe and restarts at one when it falls behind."""

from __future__ import annotations

import av
import pytest

from streaming.h264 import NAL_IDR, NAL_PPS, NAL_SPS, PacketTrack, access_unit, nal_types, parameter_sets
from testkit.rtsp_server import VIDEO


def test_avcc_extradata_becomes_annexb_parameter_sets() -> None:
    with av.open(str(VIDEO)) as container:
        extradata = container.streams.video[0].codec_context.extradata
    assert extradata is not None and extradata[0] == 1  # MP4: avcC
    params = parameter_sets(extradata)
    assert params.startswith(b"\x00\x00\x00\x01") and nal_types(params) == {NAL_SPS, NAL_PPS}
    assert parameter_sets(params) == params  # Annex B already (RTSP extradata): unchanged
    assert parameter_sets(b"") == b"" and parameter_sets(b"\x05junk") == b""


def test_idr_gets_parameter_sets_and_others_do_not() -> None:
    params = b"\x00\x00\x00\x01\x67\x42\x00\x1f" + b"\x00\x00\x00\x01\x68\xce\x38\x80"
    idr = b"\x00\x00\x00\x01\x65\x88\x84\x00"
    p_slice = b"\x00\x00\x00\x01\x41\x9a\x02"
    unit = access_unit(idr, params, 1.0)
    assert unit.keyframe and unit.data == params + idr and nal_types(unit.data) == {NAL_SPS, NAL_PPS, NAL_IDR}
    inband = access_unit(params + idr, params, 1.0)
    assert inband.data == params + idr  # already in band: not doubled
    other = access_unit(p_slice, params, 1.0)
    assert not other.keyframe and other.data == p_slice


async def test_viewer_track_starts_at_a_keyframe_and_resyncs_when_behind() -> None:
    idr, p_slice = b"\x00\x00\x01\x65\x88", b"\x00\x00\x01\x41\x9a"
    track = PacketTrack(max_queue=3)
    track.feed(access_unit(p_slice, b"", 0.0))  # joined mid-GOP: nothing to decode from
    track.feed(access_unit(idr, b"", 0.5))
    track.feed(access_unit(p_slice, b"", 0.54))
    first, second = await track.recv(), await track.recv()
    assert bytes(first) == idr and first.pts == 0 and bytes(second) == p_slice and second.pts == 3600
    assert track.skipped == 1 and track.sent == 2
    for t in (1.0, 1.04, 1.08):
        track.feed(access_unit(p_slice if t > 1.0 else idr, b"", t))
    track.feed(access_unit(p_slice, b"", 1.12))  # a 4th unit while 3 wait: behind, drop to the next keyframe
    track.feed(access_unit(idr, b"", 1.5))
    packet = await track.recv()
    assert bytes(packet) == idr and packet.pts == 90000 and track.skipped == 5
    track.stop()
    with pytest.raises(Exception):
        await track.recv()


async def test_late_viewer_is_primed_with_the_current_gop() -> None:
    idr, p_slice = b"\x00\x00\x01\x65\x88", b"\x00\x00\x01\x41\x9a"
    gop = [access_unit(idr, b"", 10.0), access_unit(p_slice, b"", 10.04), access_unit(p_slice, b"", 10.08)]
    track = PacketTrack()
    track.prime(gop[1:], 20.0)  # not from a keyframe: nothing
    assert track.skipped == 0 and track.sent == 0
    track.prime(gop, 20.0)
    track.feed(access_unit(p_slice, b"", 20.04))  # live again
    got = [await track.recv() for _ in range(4)]
    assert [bytes(p) for p in got] == [idr, p_slice, p_slice, p_slice]
    assert [p.pts for p in got] == [0, 90, 180, 3870]  # 1 ms apart up to the join, then the live clock
    track.stop()
