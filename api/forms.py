"""Multipart form parsing with clear 4xx errors for missing, mistyped and oversized fields."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.body_reader import loads, read_post
from api.errors import ApiError


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]
    files: dict[str, bytes]

    def file(self, name: str = "file") -> bytes:
        if name not in self.files:
            if name in self.fields:
                raise ApiError(422, f"'{name}' must be an uploaded file (multipart/form-data file part)")
            raise ApiError(422, f"'{name}' is required: upload an image file")
        return self.files[name]

    def int(self, name: str, required: bool = True) -> int | None:
        raw = self.fields.get(name)
        if raw is None or raw.strip() == "":
            if required:
                raise ApiError(422, f"'{name}' is required")
            return None
        try:
            value = int(raw.strip())
        except ValueError:
            raise ApiError(422, f"'{name}' must be an integer, got {raw[:40]!r}") from None
        if not -(2**62) < value < 2**62:
            raise ApiError(422, f"'{name}' is out of range")
        return value

    def user_id(self, name: str = "user_id") -> str:
        """An integer (the seed's form) or a platform user's UUID (their faces live in these
        galleries too, tenant 0); returned in the canonical string form stored in the gallery."""
        raw = (self.fields.get(name) or "").strip()
        try:
            return str(uuid.UUID(raw)) if len(raw) == 36 else str(self.int(name))
        except ValueError:
            raise ApiError(422, f"'{name}' must be an integer or a user UUID, got {raw[:40]!r}") from None

    def text(self, name: str, max_len: int = 200) -> str:
        raw = (self.fields.get(name) or "").strip()
        if not raw:
            raise ApiError(422, f"'{name}' is required")
        if len(raw) > max_len:
            raise ApiError(422, f"'{name}' is longer than {max_len} characters")
        return raw

    def threshold(self, default: float) -> float:
        raw = self.fields.get("threshold")
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ApiError(422, f"'threshold' must be a number, got {raw[:40]!r}") from None
        if not math.isfinite(value) or not 0.0 < value <= 2.0:
            raise ApiError(422, "'threshold' must be a distance in (0, 2]")
        return value

    def json(self, name: str, max_chars: int = 64 * 1024) -> Any:
        """A small JSON value (an encoding is 512 numbers: ~10 KB); nesting that overflows the
        parser's recursion and oversized text are the caller's 422, never a crash."""
        raw = self.fields.get(name)
        if raw is None:
            raise ApiError(422, f"'{name}' is required")
        if len(raw) > max_chars:
            raise ApiError(422, f"'{name}' is longer than {max_chars} characters")
        try:
            return loads(raw)
        except ValueError:  # body_reader.BodyError: invalid, too deep, a number beyond float range
            raise ApiError(422, f"'{name}' must be a JSON array") from None


async def read_form(request: web.Request) -> Form:
    ctype = request.content_type
    if ctype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ApiError(415, f"Content-Type must be multipart/form-data (got {ctype or 'none'})")
    data = await read_post(request)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for key, value in data.items():
        if isinstance(value, web.FileField):
            files[key] = value.file.read()
            value.file.close()
        else:
            fields[key] = str(value)
    return Form(fields, files)
