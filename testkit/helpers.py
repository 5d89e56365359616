"""Small request builders for the multipart face API."""

from __future__ import annotations

import io
from typing import Any

import aiohttp


def form(file: bytes | None = None, filename: str = "face.jpg", **fields: Any) -> aiohttp.FormData:
    fd = aiohttp.FormData()
    for key, value in fields.items():
        fd.add_field(key, str(value))
    if file is not None:
        fd.add_field("file", io.BytesIO(file), filename=filename, content_type="application/octet-stream")
    return fd
