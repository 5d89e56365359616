"""The session layer's refusals: domain errors with the seeds' codes (no HTTP here)."""

from __future__ import annotations

from recognition.errors import RecognitionError


class SessionError(RecognitionError):
    """A session refusal (code + message); api/ maps the code to an HTTP status."""


class TooManySessions(SessionError):
    """The server's cap on sessions held at once (REST state or live streams) is reached.

    One type for both registries (sessions.registry, streaming.registry), so every transport
    answers the same RATE_LIMIT_EXCEEDED (429) without catching and re-wrapping it."""

    def __init__(self, message: str) -> None:
        super().__init__("RATE_LIMIT_EXCEEDED", message)


class ProcessingFailed(SessionError):
    """The models or the image library failed on input they accepted: our fault, not the caller's
    (PROCESSING_ERROR, 500). The cause is logged where it happened and never sent."""

    def __init__(self, message: str) -> None:
        super().__init__("PROCESSING_ERROR", message)
