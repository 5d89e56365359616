"""Which session a WebSocket `authenticate {token}` names, whatever kind it is.

The documents authenticate sockets with "YOUR_SESSION_TOKEN" without saying which session: a
streaming session's token (its live events, its signaling) or the token of a REST enrollment or
authentication session (that session's `enrollment_progress` / `authentication.*` events). Either
way the socket is scoped to that one session of its client.
"""

from __future__ import annotations

from aiohttp import web

from api.keys import SESSION_SERVICES, SESSIONS
from storage.session_store import ACTIVE


async def session_scope(app: web.Application, token: str) -> tuple[int, str] | None:
    """(client id, session id) of a live streaming session's token or an open REST session's token."""
    stream = app[SESSIONS].by_token(token)
    if stream is not None:
        return stream.client_id, stream.session_id
    row = await app[SESSION_SERVICES].store.by_token(token)
    if row is None or row.status not in ACTIVE:
        return None
    return row.client_id, row.id
