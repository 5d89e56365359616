"""Deactivating a client revokes what it holds open.

Why a watcher: a client is deactivated in the database (by an operator, another worker, a
script), and tokens checked per use stop at once (JWTs: api/client_auth.py; session tokens:
storage/session_store.by_token). But an open WebSocket authenticated an hour ago, a running
WebRTC stream and an in-progress REST session's state never look again. So every process checks
for deactivated clients every `auth.revocation_check_s` and closes their sockets (code 4403),
stream sessions and session states. One owner (this cleanup context) starts and stops the task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from api.keys import CONFIG, SESSION_SERVICES, SESSIONS, STORE
from api.ws_routes import CONNECTIONS, close_client_sockets
from storage.background import stop_tasks, stopped_within

log = logging.getLogger(__name__)


async def revoke_client(app: web.Application, client_id: int) -> int:
    """Close the client's sockets, stream sessions and REST session states; how many were open."""
    sockets = await close_client_sockets(app, client_id)
    streams = app[SESSIONS].sessions_of(client_id)
    await asyncio.gather(*(s.close("client_deactivated") for s in streams))
    states = app[SESSION_SERVICES].live.discard_client(client_id)
    closed = sockets + len(streams) + states
    if closed:
        log.warning("client %d is deactivated: closed %d sockets, %d streams, %d sessions", client_id, sockets,
                    len(streams), states)
    return closed


def _holds_anything(app: web.Application) -> bool:
    """Whether this process holds anything a deactivation would close: an idle worker (or test
    app) then costs the database nothing."""
    return bool(len(app[SESSIONS]) or len(app[SESSION_SERVICES].live)
                or any(c.client_id is not None for c in app[CONNECTIONS]))


async def _watch(app: web.Application, stop: asyncio.Event) -> None:
    interval = app[CONFIG].auth.revocation_check_s
    while not await stopped_within(stop, interval):
        if not _holds_anything(app):
            continue
        try:
            for client_id in await app[STORE].inactive_client_ids():
                await revoke_client(app, client_id)
        except Exception:  # a database hiccup must not end the watcher
            log.exception("revocation check failed")


async def revocation_ctx(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_watch(app, stop), name="client-revocation")
    yield
    stop.set()
    await stop_tasks([task])
