"""A write that must commit together with a storage write (an outbox event, an audit row).

Storage methods that cause events take `after: TxHook | None` and await it inside their own
transaction, so the caller's row and the store's rows commit or roll back as one. Storage never
knows what the hook writes (events/ may import storage, not the reverse).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

TxHook = Callable[[AsyncConnection], Awaitable[None]]


async def run(conn: AsyncConnection, after: TxHook | None) -> None:
    if after is not None:
        await after(conn)
