"""Webhook outbox throughput: N events enqueued for one endpoint, one delivery worker (or two
sharing the database), a local aiohttp receiver answering 200; prints deliveries/s and the
enqueue cost per event. No models are loaded.

    python bench/webhooks.py --events 500 [--database postgresql://postgres@127.0.0.1/db] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web  # noqa: E402

from events.delivery import DeliveryWorker  # noqa: E402
from events.settings import WorkerSettings  # noqa: E402
from events.outbox import enqueue  # noqa: E402
from storage.events_schema import webhook_endpoints  # noqa: E402
from storage.sql_store import SqlStore  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4, help="webhooks.per_endpoint_concurrency")
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    store = SqlStore(url)
    await store.open()
    got: list[float] = []
    done = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        got.append(time.perf_counter())
        if len(got) >= args.events:
            done.set()
        return web.json_response({"received": True})

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    client = (await store.create_client("bench")).client
    now = datetime.now(timezone.utc)
    async with store.engine.begin() as conn:
        await conn.execute(webhook_endpoints.insert().values(
            id=str(uuid.uuid4()), client_id=client.id, url=f"http://127.0.0.1:{port}/hook", events=["*"],
            secret="bench", description="", is_active=True, max_retries=3, backoff_strategy="exponential",
            retry_delay=1.0, created_at=now, updated_at=now))
    costs = []
    started = time.perf_counter()
    for i in range(args.events):
        t0 = time.perf_counter()
        async with store.engine.begin() as conn:
            await enqueue(conn, client.id, "user.created", {"user_id": f"u{i}", "name": "bench"})
        costs.append((time.perf_counter() - t0) * 1000)
    enqueued = time.perf_counter()
    settings = WorkerSettings(allow_private_targets=True, poll_interval_s=0.05, per_endpoint_concurrency=args.concurrency,
                              per_client_concurrency=max(16, args.concurrency))  # one client here: its share is the endpoint's
    workers = [DeliveryWorker(store.engine, settings, store.cipher) for _ in range(args.workers)]
    for w in workers:
        w.start()
    await asyncio.wait_for(done.wait(), 600)
    finished = time.perf_counter()
    for w in workers:
        await w.close()
    await runner.cleanup()
    await store.close()
    print(f"database={store.dialect} events={args.events} workers={args.workers} concurrency={args.concurrency}")
    print(f"enqueue (own transaction each): median {statistics.median(costs):.2f} ms, "
          f"p95 {sorted(costs)[int(0.95 * len(costs))]:.2f} ms ({enqueued - started:.1f} s total)")
    print(f"delivery: {args.events / (finished - enqueued):.0f} deliveries/s ({finished - enqueued:.2f} s)")


if __name__ == "__main__":
    asyncio.run(main())
