"""Errors a stream session raises to signaling (kept apart so callers need not import aiortc)."""

from __future__ import annotations


class SessionStateError(Exception):
    """The request does not fit the session's state (closed, already connected...)."""


class InvalidSignal(ValueError):
    """Malformed SDP or ICE candidate."""
