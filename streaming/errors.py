"""Signaling refusals as small types that carry their code (as aiortc's exceptions name the state).

Why types: which code a client gets (INVALID_SDP or INVALID_ICE_CANDIDATE, SESSION_CLOSED or
INVALID_SESSION_STATE) used to be guessed from the message text ("sdp" in it? "closed"?), so a
candidate error mentioning `sdpMid` answered INVALID_SDP. The raiser knows what went wrong; it
picks the type, and the type holds the code. They are domain errors (recognition.errors), so
REST answers them through the error middleware (api/errors.py DOMAIN_STATUS: the invalid ones
400, the state ones 409) and the WebSocket sends the same code. Kept apart from the session so
callers need not import aiortc.
"""

from __future__ import annotations

from typing import ClassVar

from recognition.errors import RecognitionError


class SignalingError(RecognitionError):
    """A refused signaling step; subclasses fix the code."""

    CODE: ClassVar[str] = "INVALID_SESSION_STATE"

    def __init__(self, message: str) -> None:
        super().__init__(self.CODE, message)


class SessionStateError(SignalingError):
    """The request does not fit the session's state (already connected, no offer pending...)."""


class SessionClosedError(SessionStateError):
    """The session has ended; nothing more can be negotiated on it."""

    CODE = "SESSION_CLOSED"


class InvalidSignal(SignalingError, ValueError):
    """Malformed SDP (offer or answer)."""

    CODE = "INVALID_SDP"


class InvalidCandidate(InvalidSignal):
    """A malformed ICE candidate, or one the peer connection refused."""

    CODE = "INVALID_ICE_CANDIDATE"
