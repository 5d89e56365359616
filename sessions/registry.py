"""The process's in-progress REST sessions (enrollment and authentication state objects).

Why in memory: a session's liveness tracker and samples are per-frame state that would be
wasteful to serialise on every frame. The session row in the database is the record of truth
(status, result); this registry holds only what is needed while frames arrive, bounded in size,
and a single cleanup task (owned here, started and closed by the app) drops expired state and
marks expired rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Union

from sessions.errors import TooManySessions
from storage.background import stop_tasks, stopped_within
from recognition.authentication import AuthState
from recognition.enrollment import EnrollmentState

log = logging.getLogger(__name__)

State = Union[EnrollmentState, AuthState]


def per_client_share(total: int, configured: int) -> int:
    """A client's share of a process-wide cap: `configured` when set, else a quarter of the cap
    (at least one). Why a share: without one, a single client holding the whole cap answers every
    other client 429 for as long as its sessions live (issue 24)."""
    return min(total, configured) if configured > 0 else max(1, total // 4)


class LiveSessions:
    def __init__(self, max_live: int, cleanup_interval_s: float, expire_rows: Callable[[], Awaitable[int]],
                 max_per_client: int = 0) -> None:
        self._max = max_live
        self.max_per_client = per_client_share(max_live, max_per_client)
        self._interval = cleanup_interval_s
        self._expire_rows = expire_rows
        self._live: dict[str, State] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    def __len__(self) -> int:
        return len(self._live)

    def add(self, state: State) -> None:
        self.sweep()
        if len(self._live) >= self._max:
            raise TooManySessions(f"this server already holds {len(self._live)} sessions in progress")
        held = sum(1 for s in self._live.values() if s.client_id == state.client_id)
        if held >= self.max_per_client:
            raise TooManySessions(f"this client already holds {held} sessions in progress, its share of this "
                                  f"server (sessions.max_per_client = {self.max_per_client})")
        self._live[state.session_id] = state
        self._locks[state.session_id] = asyncio.Lock()

    def lock(self, session_id: str) -> asyncio.Lock:
        """Frames of one session run one at a time, in order."""
        return self._locks.setdefault(session_id, asyncio.Lock())

    def count(self, client_id: int) -> int:
        now = time.time()
        return sum(1 for s in self._live.values() if s.client_id == client_id and s.expires_at >= now)

    def get(self, session_id: str) -> State | None:
        return self._live.get(session_id)

    def kinds(self) -> dict[str, int]:
        """Sessions held in memory by kind (enrollment / authentication), for the metrics."""
        out: dict[str, int] = {}
        for state in self._live.values():
            kind = "enrollment" if type(state).__name__.startswith("Enrollment") else "authentication"
            out[kind] = out.get(kind, 0) + 1
        return out

    def discard(self, session_id: str) -> None:
        state = self._live.pop(session_id, None)
        self._locks.pop(session_id, None)
        if state is not None:
            state.close()  # its landmarkers: freed now, not whenever the garbage collector runs

    def discard_client(self, client_id: int) -> int:
        """Drop every state of a deactivated client (its tokens are already refused)."""
        gone = [sid for sid, s in self._live.items() if s.client_id == client_id]
        for sid in gone:
            self.discard(sid)
        return len(gone)

    def sweep(self) -> int:
        """Drop expired state that no frame is using."""
        now = time.time()
        stale = [sid for sid, s in self._live.items() if s.expires_at < now and not self.lock(sid).locked()]
        for sid in stale:
            self.discard(sid)
        return len(stale)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._cleanup(), name="rest-session-cleanup")

    async def _cleanup(self) -> None:
        while not await stopped_within(self._stop, self._interval):
            try:
                dropped = self.sweep()
                expired = await self._expire_rows()
                if dropped or expired:
                    log.info("session cleanup: %d states dropped, %d rows marked expired", dropped, expired)
            except Exception:  # a database hiccup must not kill the cleanup loop
                log.exception("session cleanup failed")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._stop.set()
            await stop_tasks([task])  # a sweep writing expiries finishes first (storage/background.py)
        for state in self._live.values():
            state.close()
        self._live.clear()
        self._locks.clear()
