"""Signaling messages (SDP offer/answer, ICE candidates) parsed into aiortc objects.

Shared by the REST endpoints and any WebSocket signaling: parsing and validation live here, the
session applies them. Candidates are parsed with aiortc's own parser, never split by hand.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCConfiguration, RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from signaling.ice import rtc_ice_servers
from streaming.errors import InvalidCandidate, InvalidSignal, SessionStateError
from streaming.session import StreamSession
from streaming.settings import StreamingSettings


def parse_offer(body: dict[str, Any]) -> str:
    sdp, kind = body.get("sdp"), body.get("type", "offer")
    if not isinstance(sdp, str) or not sdp.strip():
        raise InvalidSignal("'sdp' must be a non-empty SDP string")
    if kind != "offer":
        raise InvalidSignal(f"'type' must be 'offer' here, got {kind!r}")
    return sdp


def parse_candidate(body: dict[str, Any]) -> RTCIceCandidate | None:
    """A browser-style candidate ({candidate, sdpMid, sdpMLineIndex}); empty = end of candidates."""
    raw = body.get("candidate")
    if isinstance(raw, dict):  # {"candidate": {"candidate": "...", "sdpMid": ...}} as JS sends it
        body, raw = raw, raw.get("candidate")
    if raw in (None, ""):
        return None
    if not isinstance(raw, str):
        raise InvalidCandidate("'candidate' must be an ICE candidate string")
    text = raw[len("candidate:"):] if raw.startswith("candidate:") else raw
    try:
        candidate = candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError) as exc:
        raise InvalidCandidate(f"malformed ICE candidate: {raw[:80]!r}") from exc
    mid, index = body.get("sdpMid"), body.get("sdpMLineIndex")
    if mid is None and index is None:
        raise InvalidCandidate("an ICE candidate needs sdpMid or sdpMLineIndex")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise InvalidCandidate("'sdpMLineIndex' must be an integer")
    candidate.sdpMid = None if mid is None else str(mid)
    candidate.sdpMLineIndex = index
    return candidate


async def answer_offer(session: StreamSession, body: dict[str, Any], settings: StreamingSettings
                       ) -> RTCSessionDescription:
    """Answer the client's offer; the client must offer video and an `events` data channel."""
    sdp = parse_offer(body)
    if not sdp.lstrip().startswith("v=0") or "\nm=video" not in sdp.replace("\r\n", "\n"):
        raise InvalidSignal("SDP offer must start with v=0 and contain a video m-line")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=rtc_ice_servers(settings)))
    try:
        session.attach(pc)
    except Exception:
        await pc.close()
        raise
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except BaseException as exc:
        # A refused offer must not leave its peer connection on the session: the next, valid
        # offer would meet "already has a peer connection" (409) forever.
        session.detach(pc)
        await pc.close()
        if isinstance(exc, (ValueError, TypeError, AssertionError, IndexError, KeyError)):
            raise InvalidSignal(f"SDP offer rejected: {exc or type(exc).__name__}") from exc
        raise
    return pc.localDescription


async def add_candidate(session: StreamSession, body: dict[str, Any]) -> None:
    await session.add_ice_candidate(parse_candidate(body))


async def make_offer(session: StreamSession, settings: StreamingSettings) -> RTCSessionDescription:
    """The server-initiated flow (`offer_from: "server"`): the server offers to receive video and
    opens the `events` channel; the client answers at /api/streaming/webrtc/answer/. aiortc gathers
    its candidates before the offer is returned, so the offer is complete (no trickle needed)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=rtc_ice_servers(settings)))
    try:
        session.attach(pc)
    except Exception:
        await pc.close()
        raise
    pc.addTransceiver("video", direction="recvonly")
    session.use_local_channel(pc.createDataChannel("events"))
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription


async def accept_answer(session: StreamSession, body: dict[str, Any]) -> None:
    """The client's answer to the server's offer; out of turn (no server offer pending) is a state error."""
    sdp, kind = body.get("sdp"), body.get("type", "answer")
    if not isinstance(sdp, str) or not sdp.lstrip().startswith("v=0"):
        raise InvalidSignal("'sdp' must be an SDP answer starting with v=0")
    if kind != "answer":
        raise InvalidSignal(f"'type' must be 'answer' here, got {kind!r}")
    pc = session.pc
    if pc is None or pc.signalingState != "have-local-offer":
        raise SessionStateError(
            "no server offer is waiting for an answer: create the session with offer_from 'server', "
            "or POST your offer to /api/streaming/webrtc/offer/")
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
    except (ValueError, TypeError, AssertionError, IndexError, KeyError) as exc:
        raise InvalidSignal(f"SDP answer rejected: {exc or type(exc).__name__}") from exc
