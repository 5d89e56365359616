"""The one guarded reader of request bodies: forms (urlencoded and multipart), text and JSON.

Why one: a body is the client's to get wrong, and every way of getting it wrong must be a 400 in
the surface's error format (api/errors.py picks `{"error": {...}}` or `{"detail": ...}` by path),
never a 500 from deep inside a handler: a charset Python does not know (`charset=nope-1`, on the
request or on one multipart part: LookupError), bytes that are not valid in the charset
(UnicodeDecodeError), JSON nested deeper than the parser's recursion (RecursionError), and
integers beyond float range that a float conversion later overflows (OverflowError).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from api.errors import MAX_UPLOAD, ApiError

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_MAX_INT_DIGITS = 309  # 10**309 > the largest float: such an integer is no embedding value, only a crash


class BodyError(ValueError):
    """What is wrong with the body, in words for the client (the caller picks status and code)."""


def _charset(request: web.Request) -> str:
    name = request.charset or "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        raise ApiError(400, f"Unknown charset {name[:40]!r} in Content-Type", "VALIDATION_ERROR") from None
    return name


async def read_post(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """`request.post()` with every malformed-body failure as a 400."""
    _charset(request)
    try:
        return await request.post()
    except LookupError as exc:  # a multipart part's own charset
        raise ApiError(400, f"Malformed form body: unknown charset ({str(exc)[:80]})", "VALIDATION_ERROR") from None
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"Malformed form body: not valid {exc.encoding}", "VALIDATION_ERROR") from None
    except (ValueError, AssertionError) as exc:
        raise ApiError(400, f"Malformed form body: {str(exc)[:200]}", "VALIDATION_ERROR") from None


async def read_text(request: web.Request, max_bytes: int | None = None) -> str:
    """The body decoded with its declared charset (UTF-8 by default), strictly. `max_bytes`: a
    route's own limit in place of server.max_upload_bytes (a bulk import at full float precision
    is larger than any image upload)."""
    charset = _charset(request)
    raw = await request.read() if max_bytes is None else await _read_limited(request, max_bytes)
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        raise ApiError(400, f"Request body is not valid {charset}", "VALIDATION_ERROR") from None


async def _read_limited(request: web.Request, max_bytes: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise ApiError(413, f"Request body too large; the limit is {max_bytes} bytes", "PAYLOAD_TOO_LARGE")
    if declared is None or declared <= request.app.get(MAX_UPLOAD, 0):
        return await request.read()  # within the server's limit: read (or already read) the usual way
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"Request body too large; the limit is {max_bytes} bytes", "PAYLOAD_TOO_LARGE")
        chunks.append(chunk)


def _parse_int(text: str) -> int:
    if len(text) > _MAX_INT_DIGITS + 1:
        raise BodyError("a number is beyond the range of a float")
    value = int(text)
    if len(text) > 300:
        try:
            float(value)
        except OverflowError:
            raise BodyError("a number is beyond the range of a float") from None
    return value


def loads(text: str | bytes) -> Any:
    """json.loads that raises BodyError (with the parser's message) for anything a client can
    get wrong: invalid JSON, nesting beyond the recursion limit, oversized integers."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except BodyError:
        raise
    except json.JSONDecodeError as exc:
        raise BodyError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except RecursionError:
        raise BodyError("JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise BodyError("not valid UTF-8") from None
    except ValueError as exc:  # e.g. int digit limits
        raise BodyError(f"not valid JSON: {str(exc)[:120]}") from None
