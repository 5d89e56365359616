"""Input limits checked at the edge, before any handler sees a request.

Why here: credential headers reach hashing, JWT decoding and SQL parameters; a header that can
never be a credential (a non-ASCII byte, a megabyte of text) must be refused as a credential
error (401), not discovered as an encoding failure deep inside (500). Path ids are checked
against the integer column they address, so a 20-digit id is a 4xx on SQLite (64-bit) and on
PostgreSQL (32-bit INTEGER columns) alike.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Handler

from api.errors import ApiError

CREDENTIAL_HEADERS = ("Authorization", "X-Session-Token")
MAX_CREDENTIAL_CHARS = 4096

_INT = re.compile(r"-?[0-9]+")
INT32 = 31  # sa.Integer on PostgreSQL: enrollment, attempt and usage ids
INT63 = 62  # sa.BigInteger tenant ids (the form fields use the same bound)


def is_credential_text(value: str, max_chars: int = MAX_CREDENTIAL_CHARS) -> bool:
    """True when `value` could be a credential: printable ASCII of a sane length."""
    return len(value) <= max_chars and value.isascii() and value.isprintable()


@web.middleware
async def credential_header_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    for name in CREDENTIAL_HEADERS:
        value = request.headers.get(name)
        if value is not None and not is_credential_text(value):
            # Never echo the value: it may be a secret (or a megabyte of one).
            raise ApiError(401, f"Malformed {name} header: expected printable ASCII of at most "
                                f"{MAX_CREDENTIAL_CHARS} characters", "AUTHENTICATION_REQUIRED")
    if any("\x00" in k or "\x00" in v for k, v in request.query.items()):
        # PostgreSQL text cannot hold NUL; refuse it on every database alike.
        raise ApiError(422, "Query parameters must not contain NUL characters", "VALIDATION_ERROR")
    return await handler(request)


def bounded_int(raw: str, name: str, bits: int) -> int:
    """An integer path or form value that fits a signed column of `bits`+1 bits, or a 422."""
    text = raw.strip()
    if len(text) > 40 or not _INT.fullmatch(text):
        raise ApiError(422, f"'{name}' must be an integer, got {raw[:40]!r}", "VALIDATION_ERROR")
    value = int(text)
    if not -(2**bits) <= value < 2**bits:
        raise ApiError(422, f"'{name}' is out of range (|{name}| < 2^{bits})", "VALIDATION_ERROR")
    return value


def path_int(request: web.Request, name: str, bits: int) -> int:
    return bounded_int(request.match_info[name], name, bits)
