"""Multipart bodies sent under a forced `Content-Type: application/json`.

The documents' JavaScript and PHP clients set `Content-Type: application/json` on every request,
then post `FormData` / a cURL field array: the body is multipart, but the header that should
carry its boundary says JSON. A body that is recognisably multipart (first line `--<boundary>`,
a `Content-Disposition: form-data` (or, from libcurl, `attachment`) part header with a name, and the closing `--<boundary>--`) is read as
`multipart/form-data` with that boundary: there is no other way to read it, and answering "must be
JSON" to a request whose every byte says multipart helps nobody. Anything else under
application/json stays JSON (and is refused as malformed JSON if it is not).
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import hdrs, web
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Handler

from api.errors import MAX_UPLOAD

_FIRST_LINE = re.compile(rb"--([0-9A-Za-z'()+_,\-./:=?]{1,70})\r\n")
# libcurl (PHP's CURLOPT_POSTFIELDS array) writes `attachment` parts once the type is overridden.
_PART = re.compile(rb"content-disposition:\s*(?:form-data|attachment)\s*;\s*name=", re.IGNORECASE)


def sniff_boundary(body: bytes) -> str | None:
    """The boundary of a body that is multipart/form-data whatever its header says, else None."""
    match = _FIRST_LINE.match(body)
    if match is None:
        return None
    boundary = match.group(1)
    head_end = body.find(b"\r\n\r\n", match.end())
    if head_end < 0 or not _PART.search(body, match.end(), head_end):
        return None
    if not body.rstrip(b"\r\n").endswith(b"--" + boundary + b"--"):
        return None
    return boundary.decode("ascii")


@web.middleware
async def multipart_sniff_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.content_type != "application/json" or not request.body_exists:
        return await handler(request)
    limit = request.app.get(MAX_UPLOAD)
    if limit and request.content_length is not None and request.content_length > limit:
        return await handler(request)  # not a mislabelled upload; a route with its own limit (import) decides
    body = await request.read()  # cached: the JSON handlers read the same bytes
    boundary = sniff_boundary(body)
    if boundary is None:
        return await handler(request)
    headers = request.headers.copy()
    headers[hdrs.CONTENT_TYPE] = f"multipart/form-data; boundary={boundary}"
    # aiohttp refuses to clone a request whose body was read; the clone gets a fresh stream of
    # the same bytes, so both flags are private-attribute steps kept to these lines.
    request._read_bytes = None
    try:
        fixed = request.clone(headers=headers)
    finally:
        request._read_bytes = body
    payload = StreamReader(request.protocol, len(body) + 1, loop=asyncio.get_running_loop())  # never pauses the socket
    payload.feed_data(body)
    payload.feed_eof()
    fixed._payload = payload
    return await handler(fixed)
