"""Failures of what the server depends on, as the documented error codes.

Why: an unexplained 500 tells an operator nothing. A database that cannot be reached answers
503 `STORAGE_ERROR` (retry later); a value the database refuses to store (an id beyond its
column, a NUL character in PostgreSQL text) is the caller's 422; a model or image-library
failure is 500 `PROCESSING_ERROR`; Redis down where nothing falls back is 503
`EXTERNAL_SERVICE_ERROR`. No message carries driver text or a traceback; the log does.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy.exc as sa_exc
from redis.exceptions import RedisError

from api.api_error import ApiError

log = logging.getLogger(__name__)


def storage_error(exc: BaseException) -> ApiError | None:
    """The API error a storage exception answers, or None when it is not one."""
    if isinstance(exc, sa_exc.DataError) or _sqlstate(exc).startswith("22"):
        return ApiError(422, "A value in this request cannot be stored (out of range, or contains a NUL character)",
                        "VALIDATION_ERROR")
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.InternalError, sa_exc.TimeoutError)) or (
        isinstance(exc, sa_exc.DBAPIError) and (exc.connection_invalidated or _sqlstate(exc)[:2] in _UNAVAILABLE)
    ):
        return ApiError(503, "The database is unavailable; retry later", "STORAGE_ERROR")
    if isinstance(exc, (ConnectionError, asyncio.TimeoutError)) and _from_storage(exc):
        return ApiError(503, "The database is unavailable; retry later", "STORAGE_ERROR")
    return None


# SQLSTATE classes of a database that cannot serve: connection exception, insufficient resources,
# operator intervention (shutdown, terminated), object not in prerequisite state (no connections).
_UNAVAILABLE = ("08", "53", "57", "55")


def _sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a wrapped driver error ('22...' = data exception), or ''."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return ""
    for err in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(code, str):
            return code
    return ""


def _from_storage(exc: BaseException) -> bool:
    """A bare socket error raised while connecting a database driver (asyncpg, aiosqlite)."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("asyncpg", "sqlalchemy", "aiosqlite", "storage.")):
            return True
        tb = tb.tb_next
    return False


def external_service_error(exc: BaseException) -> ApiError | None:
    """Redis (event bus, shared cache, counters) down where nothing falls back to the process:
    503 EXTERNAL_SERVICE_ERROR, the documents' code for a service outside this server failing."""
    if isinstance(exc, RedisError):
        return ApiError(503, "An external service (Redis) is unavailable; retry later", "EXTERNAL_SERVICE_ERROR")
    return None


def dependency_error(exc: BaseException) -> ApiError | None:
    """Model failures arrive as sessions.errors.ProcessingFailed (a domain error, sessions/blocking.py)."""
    return storage_error(exc) or external_service_error(exc)
