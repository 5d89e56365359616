"""Error middleware: every failure becomes a JSON body in the format of its surface.

The root-level face API answers `{"detail": "..."}`; the `/api/` platform surface answers
`{"error": {"code", "message", "details", "timestamp", "request_id"}}`. Unexpected exceptions
are logged with the request id and answered 500 without internals.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from api.api_error import ApiError
from api.dependency_errors import dependency_error
from recognition.errors import RecognitionError
from engine.errors import (
    GalleryModelMismatchError,
    ImageDecodeError,
    ImageTooLargeError,
    InvalidEmbeddingError,
    NoFaceError,
    UnsupportedImageError,
)
from storage.timestamps import iso_seconds

__all__ = ["ApiError", "DOMAIN_STATUS", "MAX_UPLOAD", "REQUEST_ID", "domain_error", "engine_error", "error_middleware",
           "error_response"]

log = logging.getLogger(__name__)

REQUEST_ID = web.RequestKey("request_id", str)
MAX_UPLOAD = web.AppKey("max_upload_bytes", int)


_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "AUTHENTICATION_REQUIRED",
    403: "INSUFFICIENT_PERMISSIONS",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
}


# Domain error codes (recognition.errors.RecognitionError) and the HTTP status each answers.
DOMAIN_STATUS = {
    "VALIDATION_ERROR": 400, "INSUFFICIENT_QUALITY": 400, "INVALID_FACE_QUALITY": 400, "LIVENESS_CHECK_FAILED": 400,
    "MULTIPLE_FACES_DETECTED": 400, "NO_FACE_DETECTED": 400, "INVALID_IMAGE": 400, "INVALID_FRAME": 400,
    "INVALID_SDP": 400, "INVALID_ICE_CANDIDATE": 400,  # streaming.errors: signaling refusals
    "AUTHENTICATION_REQUIRED": 401, "USER_INACTIVE": 403, "SESSION_NOT_FOUND": 404, "USER_NOT_FOUND": 404,
    "USER_NOT_ENROLLED": 404, "FACE_ALREADY_ENROLLED": 409, "FACE_MISMATCH": 409, "INVALID_SESSION_STATE": 409,
    "SESSION_ALREADY_COMPLETED": 409, "SESSION_CLOSED": 409, "SESSION_EXPIRED": 410, "ACCOUNT_LOCKED": 429,
    "RATE_LIMIT_EXCEEDED": 429,
    "PROCESSING_ERROR": 500, "STORAGE_ERROR": 503, "SERVICE_UNAVAILABLE": 503,  # issue 9: dependency failures
    # issue 29: a frame too poor to use; a session that timed out while its frame waited or ran
    "POOR_IMAGE_QUALITY": 400, "SESSION_TIMEOUT": 410,
}


def domain_error(exc: RecognitionError) -> tuple[ApiError, dict[str, str] | None]:
    """A domain refusal as the API error it answers, with Retry-After where it has one."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return ApiError(DOMAIN_STATUS.get(exc.code, 400), exc.message, exc.code, exc.details), headers


def engine_error(exc: Exception) -> ApiError | None:
    """Map engine exceptions to client errors; None for anything that is our fault."""
    if isinstance(exc, NoFaceError):
        return ApiError(400, str(exc), "NO_FACE_DETECTED")
    if isinstance(exc, ImageTooLargeError):
        return ApiError(413, str(exc), "IMAGE_TOO_LARGE")
    if isinstance(exc, UnsupportedImageError):
        return ApiError(415, str(exc), "UNSUPPORTED_MEDIA_TYPE")
    if isinstance(exc, ImageDecodeError):
        return ApiError(400, str(exc), "INVALID_IMAGE")
    if isinstance(exc, InvalidEmbeddingError):
        return ApiError(422, str(exc), "VALIDATION_ERROR")
    if isinstance(exc, GalleryModelMismatchError):  # a gallery of another recogniser: re-enroll (README)
        details = {"tenant_id": exc.tenant_id, "stored_models": exc.stored, "server_model": exc.current}
        return ApiError(409, str(exc), "MODEL_MISMATCH", details)
    return None


def _is_platform(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def error_response(request: web.Request, err: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    rid = request.get(REQUEST_ID, "")
    if _is_platform(request):
        body: dict[str, Any] = {
            "error": {
                "code": err.code,
                "message": err.message,
                "details": err.details,
                "timestamp": iso_seconds(),
                "request_id": rid,
            }
        }
    else:
        body = {"detail": err.message}
    resp = web.json_response(body, status=err.status, headers=headers)
    resp.headers["X-Request-ID"] = rid
    return resp


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-ID", "")
    if not rid or len(rid) > 128 or not rid.isprintable():
        rid = uuid.uuid4().hex
    request[REQUEST_ID] = rid
    try:
        response = await handler(request)
    except ApiError as err:
        return error_response(request, err)
    except RecognitionError as exc:
        return error_response(request, *domain_error(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 413:
            limit = request.app.get(MAX_UPLOAD)
            message = f"Request body too large; the limit is {limit} bytes" if limit else "Request body too large"
        err = ApiError(exc.status, message, _STATUS_CODES.get(exc.status, "HTTP_ERROR"))
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(request, err, headers)
    except HttpProcessingError as exc:  # a malformed multipart part header, bad chunking, ...
        message = str(exc.message or "Malformed request").strip().splitlines()[0][:200]
        return error_response(request, ApiError(400, f"Malformed request body: {message}", "BAD_REQUEST"))
    except Exception as exc:  # the server keeps serving; the client gets no internals
        mapped = engine_error(exc)
        if mapped is not None:
            return error_response(request, mapped)
        mapped = dependency_error(exc)  # issue 9: storage / model failures
        if mapped is not None:
            if mapped.status >= 500:
                log.warning("%s on %s %s [request_id=%s]: %s", mapped.code, request.method, request.path, rid,
                            type(exc).__name__)
            return error_response(request, mapped)
        log.exception("unhandled error on %s %s [request_id=%s]", request.method, request.path, rid)
        return error_response(request, ApiError(500, "Internal server error", "INTERNAL_ERROR"))
    response.headers["X-Request-ID"] = rid
    return response

