"""Presentation attacks (a face never proven live, a failed challenge sequence) are throttled
per device address, never by locking the person they imitate.

Why: a replayed video of Pat that fails the challenges says nothing about Pat; counting it
against Pat's account let anyone with a recording lock Pat out (five replays, 300 s). So such a
failure writes a `presentation_attack` security event with the caller's address, and that
address (not the user) is refused for `lockout_s` after `max_attacks_per_address` of them within
`failure_window_s`. Face mismatches still lock the user (sessions.lockout).
"""

from __future__ import annotations

from datetime import timedelta

from events.audit import record_security_event, security_event_times
from sessions.announce import DeviceInfo
from sessions.errors import SessionError
from sessions.settings import SessionSettings
from storage.session_store import SessionStore, now_utc

EVENT = "presentation_attack"


async def record_attack(store: SessionStore, client_id: int, session_id: str, user_id: str | None, reason: str,
                        device: DeviceInfo) -> None:
    """The security event of one presentation attack (the audit log's security category)."""
    await record_security_event(store.engine, client_id, EVENT, subject=user_id, ip_address=device.ip_address,
                                details={"session_id": session_id, "reason": reason, "user_id": user_id})


async def ensure_address_unthrottled(store: SessionStore, s: SessionSettings, client_id: int,
                                     device: DeviceInfo) -> None:
    """RATE_LIMIT_EXCEEDED (scope `address`) while the caller's address is throttled for attacks."""
    ip = device.ip_address
    if not ip:
        return
    now = now_utc()
    times = await security_event_times(store.engine, client_id, EVENT, ip,
                                       now - timedelta(seconds=s.failure_window_s + s.lockout_s))
    n = s.max_attacks_per_address
    for i in range(0, len(times) - n + 1):
        newest, oldest = times[i], times[i + n - 1]
        until = newest + timedelta(seconds=s.lockout_s)
        if (newest - oldest).total_seconds() <= s.failure_window_s and until > now:
            retry = max(1, int((until - now).total_seconds()) + 1)
            raise SessionError("RATE_LIMIT_EXCEEDED", "Too many failed liveness checks from this device; try later",
                               {"scope": "address", "retry_after": retry}, retry_after=retry)
