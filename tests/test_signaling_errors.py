"""Signaling refusals are types that carry their code (streaming/errors.py): REST and the
WebSocket answer the same code for the same mistake, whatever words the message uses."""

from __future__ import annotations

from typing import Any

import pytest

from recognition.errors import RecognitionError
from signaling.webrtc import parse_candidate, parse_offer
from streaming.errors import (
    InvalidCandidate, InvalidSignal, SessionClosedError, SessionStateError, SignalingError,
)
from tests.conftest import FaceClient

CANDIDATE = "candidate:1 1 udp 2122260223 192.0.2.10 54321 typ host"


def test_each_type_holds_its_code() -> None:
    assert InvalidSignal("x").code == "INVALID_SDP"
    assert InvalidCandidate("mentions sdpMid").code == "INVALID_ICE_CANDIDATE"
    assert SessionStateError("closed-looking words").code == "INVALID_SESSION_STATE"
    assert SessionClosedError("x").code == "SESSION_CLOSED"
    for cls in (InvalidSignal, InvalidCandidate, SessionStateError, SessionClosedError):
        assert issubclass(cls, SignalingError) and issubclass(cls, RecognitionError)
    assert issubclass(InvalidSignal, ValueError)


@pytest.mark.parametrize("body, code", [
    ({"candidate": CANDIDATE}, "INVALID_ICE_CANDIDATE"),  # "needs sdpMid or sdpMLineIndex": not an SDP error
    ({"candidate": CANDIDATE, "sdpMLineIndex": "0"}, "INVALID_ICE_CANDIDATE"),
    ({"candidate": "candidate:sdp garbage", "sdpMid": "0"}, "INVALID_ICE_CANDIDATE"),
    ({"candidate": 7, "sdpMid": "0"}, "INVALID_ICE_CANDIDATE"),
])
def test_candidate_errors_are_candidate_errors(body: dict[str, Any], code: str) -> None:
    with pytest.raises(SignalingError) as caught:
        parse_candidate(body)
    assert caught.value.code == code


def test_offer_errors_are_sdp_errors() -> None:
    for body in ({"sdp": ""}, {"sdp": "v=0", "type": "answer"}):
        with pytest.raises(SignalingError) as caught:
            parse_offer(body)
        assert caught.value.code == "INVALID_SDP"


async def _error(resp: Any) -> tuple[int, str]:
    return resp.status, (await resp.json())["error"]["code"]


async def test_rest_and_socket_answer_the_same_codes(face_client: FaceClient) -> None:
    http, headers = await face_client()
    created = await http.post("/api/streaming/sessions/", json={"mode": "identification"}, headers=headers)
    assert created.status == 201
    session = await created.json()
    token = {"session_token": session["session_token"]}
    ice = "/api/streaming/webrtc/ice/"
    assert await _error(await http.post(ice, json={**token, "candidate": CANDIDATE})) == (400, "INVALID_ICE_CANDIDATE")
    assert await _error(await http.post(ice, json={**token, "candidate": CANDIDATE, "sdpMid": "0"})) == (
        409, "INVALID_SESSION_STATE")  # no offer yet
    offer = "/api/streaming/webrtc/offer/"
    assert await _error(await http.post(offer, json={**token, "sdp": "v=0\r\n", "type": "offer"})) == (400, "INVALID_SDP")
    assert await _error(await http.post("/api/streaming/webrtc/answer/", json={**token, "sdp": "v=0\r\n"})) == (
        409, "INVALID_SESSION_STATE")  # no server offer waiting

    ws = await http.ws_connect("/ws/recognition/")
    try:
        await ws.send_json({"type": "authenticate", "token": session["session_token"]})
        assert (await ws.receive_json(timeout=30))["type"] == "authenticated"
        sent = [({"type": "ice_candidate", "candidate": CANDIDATE}, "INVALID_ICE_CANDIDATE"),
                ({"type": "ice_candidate", "candidate": CANDIDATE, "sdpMid": "0"}, "INVALID_SESSION_STATE"),
                ({"type": "offer", "sdp": "v=0\r\n"}, "INVALID_SDP"),
                ({"type": "answer", "sdp": "v=0\r\n"}, "INVALID_SESSION_STATE")]
        for message, code in sent:
            await ws.send_json(message)
            reply = await ws.receive_json(timeout=30)
            while reply["type"] != "error":  # the session's own events share the socket
                reply = await ws.receive_json(timeout=30)
            assert reply["payload"]["code"] == code, (message, reply)
    finally:
        await ws.close()
    closed = await http.post(f"/api/streaming/sessions/{session['session_id']}/close/", headers=headers)
    assert closed.status == 200
