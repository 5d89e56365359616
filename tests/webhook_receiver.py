"""A real local HTTP receiver for webhook tests (aiohttp on 127.0.0.1): records every request's
raw body and headers, answers with a scripted status sequence."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)  # path -> statuses to answer, then 200
    hold: asyncio.Event | None = None  # requests wait for it, never answered if it never fires
    held: list[Received] = field(default_factory=list)  # requests that arrived while holding
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    delay_s: dict[str, float] = field(default_factory=dict)  # path -> seconds to wait before answering
    big_body: set[str] = field(default_factory=set)  # paths answered with a 1 MiB body
    inflight: dict[str, int] = field(default_factory=dict)
    max_inflight: dict[str, int] = field(default_factory=dict)

    def at(self, path: str) -> str:
        return self.url + path

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_held(self, count: int, timeout: float = 30.0) -> list[Received]:
        async def enough() -> None:
            async with self.arrived:
                await self.arrived.wait_for(lambda: len(self.held) >= count)
        await asyncio.wait_for(enough(), timeout)
        return list(self.held)

    async def wait_for(self, count: int, path: str | None = None, timeout: float = 20.0) -> list[Received]:
        async def enough() -> None:
            async with self.arrived:
                await self.arrived.wait_for(lambda: len(self.to(path) if path else self.requests) >= count)
        await asyncio.wait_for(enough(), timeout)
        return self.to(path) if path else list(self.requests)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    box: dict[str, Receiver] = {}

    async def handle(request: web.Request) -> web.Response:
        rec = box["r"]
        body = await request.read()
        if rec.hold is not None:
            async with rec.arrived:
                rec.held.append(Received(request.path, dict(request.headers), body, time.monotonic(), 0))
                rec.arrived.notify_all()
            await rec.hold.wait()
            raise web.HTTPServiceUnavailable()  # released at teardown only
        queue = rec.script.get(request.path, [])
        status = queue.pop(0) if queue else 200
        rec.inflight[request.path] = rec.inflight.get(request.path, 0) + 1
        rec.max_inflight[request.path] = max(rec.max_inflight.get(request.path, 0), rec.inflight[request.path])
        try:
            await asyncio.sleep(rec.delay_s.get(request.path, 0.0))
        finally:
            rec.inflight[request.path] -= 1
        async with rec.arrived:
            rec.requests.append(Received(request.path, dict(request.headers), body, time.monotonic(), status))
            rec.arrived.notify_all()
        if request.path in rec.big_body:
            return web.Response(body=b"x" * (1 << 20), status=status)
        return web.json_response({"received": status < 300}, status=status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    box["r"] = Receiver(f"http://127.0.0.1:{port}")
    try:
        yield box["r"]
    finally:
        if box["r"].hold is not None:
            box["r"].hold.set()
        await runner.cleanup()
