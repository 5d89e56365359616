"""Closing the SQL store closes it: when `SqlStore.close()` returns, no connection of its and no
aiosqlite worker thread is left, even for a connection that was still in use when close began and
on a busy machine (issue 23: a leaked `_connection_worker_thread` after app shutdown)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import sqlalchemy as sa

from storage.sql_store import SqlStore


def _new_threads(before: set[int | None]) -> list[str]:
    return [t.name for t in threading.enumerate() if t.ident not in before]


async def test_no_driver_thread_outlives_close(tmp_path: Path) -> None:
    # Many rounds with several pooled connections each: aiosqlite resolves a close before its
    # thread exits, so a close that did not wait left threads behind in a quarter of the rounds
    # under load.
    for i in range(20):
        before = {t.ident for t in threading.enumerate()}
        store = SqlStore(f"sqlite:///{tmp_path}/round{i}.db")
        await store.open()
        made = await asyncio.gather(*(store.create_client(f"c{j}") for j in range(6)))
        assert len({m.client.id for m in made}) == 6
        assert any("_connection_worker_thread" in name for name in _new_threads(before))
        await store.close()
        assert _new_threads(before) == [], i


async def test_close_waits_for_a_connection_still_in_use(tmp_path: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    store = SqlStore(f"sqlite:///{tmp_path}/store.db")
    await store.open()
    await store.create_client("a")
    holding, release = asyncio.Event(), asyncio.Event()

    async def straggler() -> int:  # a write its owner shielded from cancellation, still going
        async with store.engine.connect() as conn:
            value: int = (await conn.execute(sa.text("SELECT count(*) FROM clients"))).scalar_one()
            holding.set()
            await release.wait()
            return int(value)

    task = asyncio.create_task(straggler())
    await asyncio.wait_for(holding.wait(), 30.0)
    closing = asyncio.create_task(store.close())
    # close() waits for the connection to come back instead of disposing of the pool around it.
    await asyncio.sleep(0)
    assert not closing.done()
    release.set()
    await asyncio.wait_for(closing, 30.0)
    assert await task == 1
    assert _new_threads(before) == []
