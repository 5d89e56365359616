"""SDP for a camera's live view: the browser offers (receive video + an `events` data channel),
the server answers with the camera's video (streaming.camera_view: H.264 passthrough when the
offer can receive H.264, else the relayed, re-encoded track)."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from signaling.ice import rtc_ice_servers
from signaling.webrtc import parse_offer
from streaming.camera_view import CameraViewers
from streaming.errors import InvalidSignal
from streaming.h264 import offers_h264
from streaming.settings import StreamingSettings


async def answer_view(viewers: CameraViewers, body: dict[str, str], settings: StreamingSettings
                      ) -> RTCSessionDescription:
    sdp = parse_offer(body)
    if not sdp.lstrip().startswith("v=0") or "\nm=video" not in sdp.replace("\r\n", "\n"):
        raise InvalidSignal("SDP offer must start with v=0 and contain a video m-line (recvonly)")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=rtc_ice_servers(settings)))
    viewer = viewers.attach(pc, h264_ok=offers_h264(sdp))
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except (ValueError, TypeError, AssertionError, IndexError, KeyError) as exc:
        await viewers.drop(viewer)
        raise InvalidSignal(f"SDP offer rejected: {exc or type(exc).__name__}") from exc
    return pc.localDescription
