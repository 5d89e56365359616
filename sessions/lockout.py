"""Lockouts after repeated failed verifications of one user, on every path.

Why attempts are rows, not counters: the lockout must hold across sessions, transports and worker
processes (a client cannot reset it by opening a new session, switching to WebRTC or hitting
another worker), so it is computed from the recorded failures of (client, user) within
`failure_window_s`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from recognition.decision import LOCKOUT_REASONS
from events.audit import record_security_event
from sessions.errors import SessionError
from sessions.settings import SessionSettings
from storage.session_store import SessionStore, now_utc


async def user_locked_until(store: SessionStore, s: SessionSettings, client_id: int, user_id: str) -> datetime | None:
    now = now_utc()
    since = now - timedelta(seconds=s.failure_window_s + s.lockout_s)
    times = await store.user_failures_since(client_id, user_id, since, reasons=LOCKOUT_REASONS)
    n = s.max_failures
    for i in range(0, len(times) - n + 1):
        newest, oldest = times[i], times[i + n - 1]
        if (newest - oldest).total_seconds() <= s.failure_window_s and newest + timedelta(seconds=s.lockout_s) > now:
            return newest + timedelta(seconds=s.lockout_s)
    return None


async def ensure_unlocked(store: SessionStore, s: SessionSettings, client_id: int, user_id: str) -> None:
    until = await user_locked_until(store, s, client_id, user_id)
    if until is not None:
        retry = max(1, int((until - now_utc()).total_seconds()) + 1)
        await record_security_event(store.engine, client_id, "lockout.refused", subject=user_id,
                                    details={"scope": "user", "locked_until": until.isoformat()})
        raise SessionError("ACCOUNT_LOCKED", f"Too many failed attempts for user {user_id!r}; try later",
                           {"user_id": user_id, "scope": "user", "locked_until": until.isoformat(),
                            "retry_after": retry}, retry_after=retry)
