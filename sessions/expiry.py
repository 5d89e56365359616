"""Sessions that ran out of time: marked `expired` once, and an enrollment that expired is
announced as `enrollment.failed` (SESSION_EXPIRED) in the same transaction, so an integrator
waiting on webhooks learns that the person gave up instead of hearing nothing.

Authentication sessions expire silently: abandoned kiosk and door attempts are routine, and
`authentication.failed` is kept for attempts that were decided.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from events.outbox import EventSink, enqueue
from sessions import announce
from storage.session_store import ExpiredSession, SessionStore

EXPIRED_MESSAGE = "The enrollment session expired before it completed"


async def _announce(conn: AsyncConnection, rows: list[ExpiredSession]) -> None:
    for r in rows:
        if r.kind == "enrollment":
            await enqueue(conn, r.client_id, "enrollment.failed", announce.enrollment_failed(
                r.id, r.user_id, "SESSION_EXPIRED", EXPIRED_MESSAGE, r.frames_processed))


Discard = Callable[[int, str], Awaitable[object]]


async def expire_stale(store: SessionStore, events: EventSink | None, discard: Discard | None = None) -> int:
    """The cleanup task's sweep (every worker runs it; each row is expired and announced once).
    `discard(client_id, user_id)`: after the commit, for each expired enrollment, removes the user
    that enrollment created if it is still faceless (SessionServices.discard_placeholder)."""
    expired: list[ExpiredSession] = []

    async def after(conn: AsyncConnection, rows: list[ExpiredSession]) -> None:
        expired.extend(rows)
        if events is not None:
            await _announce(conn, rows)

    count = await store.expire_stale(after=after)
    if count and events is not None:
        events.wake()
    if discard is not None:
        for r in expired:
            if r.kind == "enrollment" and r.user_id:
                await discard(r.client_id, r.user_id)
    return count


async def expire_one(store: SessionStore, events: EventSink | None, session_id: str) -> None:
    """A session found past its expiry when a request names it."""
    if await store.expire(session_id, after=_announce if events is not None else None) and events is not None:
        events.wake()
