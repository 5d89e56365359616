"""WebRTC signaling over `/ws/recognition/`: the same offer and ICE messages as the REST
endpoints, for clients that already hold a socket (no extra HTTP round trips per candidate).

`{"type": "offer", "sdp": ...}` → `answer` event with `sdp`; `{"type": "answer", "sdp"}` (to the
offer of a session created with `offer_from: "server"`) → `answer_accepted`; `{"type": "ice_candidate",
"candidate", "sdpMid", "sdpMLineIndex"}` → `ice_accepted`. A session-token socket signals for its
own session; an API-key socket names `session_id`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import CONFIG, SESSIONS
from signaling.webrtc import accept_answer, add_candidate, answer_offer
from streaming.errors import SignalingError

SIGNAL_TYPES = ("offer", "answer", "ice_candidate")


class SignalRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


async def signal(
    app: web.Application, client_id: int, own_session: str | None, data: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Apply one signaling message; returns the reply (type, payload) or raises SignalRefused."""
    wanted = own_session or data.get("session_id")
    if not isinstance(wanted, str):
        raise SignalRefused("INVALID_MESSAGE", "name the 'session_id' to signal for")
    if own_session is not None and data.get("session_id") not in (None, own_session):
        raise SignalRefused("INSUFFICIENT_PERMISSIONS", "a session token may only signal for its own session")
    registry = app[SESSIONS]
    session = registry.get(wanted, client_id)
    if session is None:
        if registry.closed_snapshot(session_id=wanted, client_id=client_id) is not None:
            raise SignalRefused("SESSION_CLOSED", "Stream session is closed")
        raise SignalRefused("SESSION_NOT_FOUND", "Stream session not found")
    try:
        if data["type"] == "offer":
            answer = await answer_offer(session, data, app[CONFIG].streaming)
            return "answer", {"session_id": session.session_id, "type": answer.type, "sdp": answer.sdp}
        if data["type"] == "answer":  # to the offer of a session created with offer_from: server
            await accept_answer(session, data)
            return "answer_accepted", {"session_id": session.session_id}
        await add_candidate(session, data)
        return "ice_accepted", {"session_id": session.session_id}
    except SignalingError as exc:  # the type carries the code, the same one REST answers
        raise SignalRefused(exc.code, exc.message) from exc
