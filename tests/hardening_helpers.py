"""Drivers for the hardening tests (issue 9): apps on SQLite and on a throwaway PostgreSQL
database, raw HTTP requests (bytes aiohttp's client would never send), hostile images."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from PIL import Image

from api.app import create_app
from api.keys import STORE
from engine.face_engine import FaceEngine
from facestream.config import load_config
from tests.conftest import CLIP_CHALLENGES, POSTGRES_ADMIN_URL


@asynccontextmanager
async def database_url(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database of `kind` (sqlite / postgresql), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/hardening-{uuid.uuid4().hex[:6]}.db"
        return
    name = f"facestream_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def start_app(aiohttp_client: Callable[..., Awaitable[TestClient]], engine: FaceEngine, url: str,
                    **overrides: Any) -> tuple[TestClient, dict[str, str]]:
    config = load_config(env={}, overrides={"storage.database_url": url, **CLIP_CHALLENGES, **overrides})
    http = await aiohttp_client(create_app(config, engine=engine))
    made = await http.app[STORE].create_client("hardening")
    return http, {"Authorization": f"ApiKey {made.client.api_key}:{made.api_secret}"}


async def raw_request(http: TestClient, head: bytes) -> tuple[int, bytes]:
    """Send raw request bytes (e.g. a non-UTF-8 header) and read the status and body."""
    reader, writer = await asyncio.open_connection(http.server.host, http.server.port)
    try:
        writer.write(head)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@cache
def long_thin_png() -> bytes:
    """The issue's PNG: 10 x 3,999,999 (40 MP, under the 40 MP limit), about 120 KB."""
    buf = io.BytesIO()
    Image.new("L", (10, 3_999_999), 128).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
