"""Domain refusals with stable codes (the seeds' error codes). Only api/ knows HTTP: it maps each
code to a status (api/errors.py DOMAIN_STATUS), so the same refusal reads the same on REST, the
WebSocket (`error` events) and the data channel."""

from __future__ import annotations

from typing import Any


class RecognitionError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details, self.retry_after = code, message, details or {}, retry_after
