"""The process's live stream sessions, scoped by client, plus a short memory of closed ones.

Live sessions remove themselves when their loop ends; the registry keeps a bounded record of
recently closed sessions so `GET` still answers their final status and a late offer gets a clear
"closed" error rather than a 404. `close_all()` runs at app shutdown (cleanup_ctx).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from typing import Any

from sessions.replacement import NO_REPLACE, ReplaceRequest
from sessions.errors import TooManySessions
from sessions.live import open_live
from sessions.registry import per_client_share
from sessions.service import SessionServices
from streaming.session import StreamSession
from streaming.settings import StreamingSettings

CLOSED_MEMORY = 512


class SessionRegistry:
    def __init__(self, services: SessionServices, settings: StreamingSettings) -> None:
        self.services = services
        self.settings = settings
        self._live: dict[str, StreamSession] = {}
        self._tokens: dict[str, str] = {}
        self._closed: OrderedDict[str, tuple[int, str, dict[str, Any]]] = OrderedDict()
        self._opening: dict[int, int] = {}  # per client: creations that passed the caps, still awaiting open_live

    def __len__(self) -> int:
        return len(self._live)

    async def create(self, client_id: int, *, mode: str, user_ref: str | None, require_liveness: bool,
                     challenges: tuple[str, ...], timeout_s: float, name: str | None = None,
                     takeover: ReplaceRequest = NO_REPLACE) -> StreamSession:
        """Checks the user rules (sessions.live.open_live), records the session, starts its loop."""
        opening = sum(self._opening.values())
        if len(self._live) + opening >= self.settings.max_sessions:
            raise TooManySessions(f"this server already runs {len(self._live) + opening} stream sessions")
        share = per_client_share(self.settings.max_sessions, self.settings.max_sessions_per_client)
        held = len(self.sessions_of(client_id)) + self._opening.get(client_id, 0)
        if held >= share:
            raise TooManySessions(f"this client already runs {held} stream sessions, its share of this server "
                                  f"(streaming.max_sessions_per_client = {share})")
        self._opening[client_id] = self._opening.get(client_id, 0) + 1  # counted while open_live awaits
        try:
            live = await open_live(self.services, client_id, mode=mode, user_ref=user_ref,
                                   require_liveness=require_liveness, challenges=challenges, timeout_s=timeout_s,
                                   transport="webrtc", continuous=True, name=name, takeover=takeover)
        finally:
            left = self._opening.pop(client_id) - 1
            if left:
                self._opening[client_id] = left
        session = StreamSession(live, self.settings, self._forget)
        self._live[session.session_id] = session
        self._tokens[session.token] = session.session_id
        session.start()
        return session

    def get(self, session_id: str, client_id: int) -> StreamSession | None:
        session = self._live.get(session_id)
        return session if session is not None and session.client_id == client_id else None

    def by_token(self, token: str) -> StreamSession | None:
        sid = self._tokens.get(token)
        return self._live.get(sid) if sid else None

    def closed_snapshot(self, session_id: str | None = None, token: str | None = None, client_id: int | None = None) -> dict[str, Any] | None:
        """Final snapshot of a recently closed session, by id (scoped to client_id) or by token."""
        for sid, (owner, tok, snap) in self._closed.items():
            if (session_id == sid and owner == client_id) or (token is not None and secrets.compare_digest(token.encode(), tok.encode())):
                return snap
        return None

    def sessions_of(self, client_id: int) -> list[StreamSession]:
        return [s for s in self._live.values() if s.client_id == client_id]

    def _forget(self, session: StreamSession) -> None:
        self._live.pop(session.session_id, None)
        self._tokens.pop(session.token, None)
        self._closed[session.session_id] = (session.client_id, session.token, session.snapshot())
        while len(self._closed) > CLOSED_MEMORY:
            self._closed.popitem(last=False)

    async def close_all(self, reason: str = "server_shutdown") -> None:
        await asyncio.gather(*(s.close(reason) for s in list(self._live.values())))
