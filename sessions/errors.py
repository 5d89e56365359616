"""The session layer's refusals: domain errors with the seeds' codes (no HTTP here)."""

from __future__ import annotations

from recognition.errors import RecognitionError


class SessionError(RecognitionError):
    """A session refusal (code + message); api/ maps the code to an HTTP status."""
