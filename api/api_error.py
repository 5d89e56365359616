"""The one exception every handler raises for a refusal: an HTTP status, a seed error code, a
message and details.

Why its own module: the error middleware (api/errors.py) maps dependency failures through
api/dependency_errors.py, which builds ApiErrors; with the class in errors.py the two imported
each other. Both now import it from here; `from api.errors import ApiError` keeps working.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A client error with an HTTP status, a seed error code and a message."""

    def __init__(self, status: int, message: str, code: str = "BAD_REQUEST", details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
