"""The app in a process of its own, for benchmarks.

Workers are separate processes in production (each its own event loop and GIL). A benchmark
that runs its clients, or a second worker, on the measured worker's event loop measures that
contention instead of the server: frames wait while a client encodes, searches wait while the
other worker parses an enrollment. `app_process` starts `python bench/server_process.py` with
config overrides, waits for its first stdout line (port, and a new client's credentials when
asked) and stops it by closing its stdin.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass(frozen=True)
class Served:
    url: str
    process: psutil.Process
    authorization: str | None  # "ApiKey key:secret" of the client made at start, if asked

    def cpu_seconds(self) -> float:
        """User + system CPU of the whole server process (every thread) so far."""
        times = self.process.cpu_times()
        return times.user + times.system


@asynccontextmanager
async def app_process(overrides: dict[str, Any], client: str | None = None) -> AsyncIterator[Served]:
    spec = json.dumps({"overrides": overrides, "client": client})
    child = subprocess.Popen([sys.executable, __file__, spec], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"the bench server exited before it was ready (exit {child.wait()})")
        ready = json.loads(line)
        yield Served(f"http://127.0.0.1:{ready['port']}", psutil.Process(child.pid), ready.get("authorization"))
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        try:
            await asyncio.get_running_loop().run_in_executor(None, child.wait, 60)
        except subprocess.TimeoutExpired:
            child.kill()


async def _serve(overrides: dict[str, Any], client: str | None) -> None:
    from aiohttp import web

    from api.app import create_app
    from api.keys import STORE
    from facestream.config import load_config

    runner = web.AppRunner(create_app(load_config(env={}, overrides=overrides)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    ready: dict[str, Any] = {"port": runner.addresses[0][1]}
    if client is not None:
        made = await runner.app[STORE].create_client(client)
        ready["authorization"] = f"ApiKey {made.client.api_key}:{made.api_secret}"
    print(json.dumps(ready), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
    await runner.cleanup()


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    asyncio.run(_serve(spec["overrides"], spec["client"]))
