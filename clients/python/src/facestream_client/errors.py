"""The server's error envelope as an exception."""

from __future__ import annotations

from typing import Any


class FacestreamError(Exception):
    """An error answer: `{"error": {"code", "message", "details", "request_id"}}` (the root face
    API's `{"detail"}` becomes code "ERROR")."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 request_id: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.request_id = request_id
        self.retry_after = retry_after

    @classmethod
    def from_body(cls, status: int, body: Any, retry_after: float | None) -> "FacestreamError":
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            err = body["error"]
            return cls(status, str(err.get("code", "ERROR")), str(err.get("message", "")), err.get("details") or {},
                       err.get("request_id"), retry_after)
        if isinstance(body, dict) and "detail" in body:
            return cls(status, "ERROR", str(body["detail"]), None, None, retry_after)
        return cls(status, "ERROR", str(body)[:500], None, None, retry_after)
