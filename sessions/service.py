"""Session operations shared by every REST path that serves them (several seed paths, one logic).

Raises SessionError with the seed's error codes; the api layer turns it into the `/api/` error
body. Engine work (decode, models) runs in the app's bounded executor, one frame at a time per
session (the session's lock keeps frames in order).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from engine.face_engine import FaceEngine
from engine.liveness import LivenessSettings
from recognition.errors import RecognitionError
from recognition.authentication import AuthParams, AuthState
from recognition.enrollment import EnrollmentParams, EnrollmentState
from sessions.registry import LiveSessions, State
from sessions.settings import SessionSettings
from storage.galleries import GalleryService
from storage.session_store import ACTIVE, SessionRecord, SessionStore, now_utc
from streaming.session_inputs import TENANT_ID  # noqa: F401  (re-used by the session ops)
from streaming.settings import StreamingSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class SessionError(RecognitionError):
    """A session refusal (code + message); api/ maps the code to an HTTP status."""


@dataclass(frozen=True)
class UserInfo:
    user_id: str  # the platform user id: what the gallery stores
    name: str
    is_active: bool
    external_id: str | None = None


UserLookup = Callable[[int, str], Awaitable[UserInfo | None]]
Publish = Callable[[int, str, str, dict[str, Any]], None]


async def any_user(client_id: int, user_id: str) -> UserInfo | None:
    """Default lookup while no user directory is wired: every user id is accepted."""
    return UserInfo(user_id, user_id, True)


@dataclass
class SessionServices:
    engine: FaceEngine
    executor: ThreadPoolExecutor
    store: SessionStore
    galleries: GalleryService
    settings: SessionSettings
    streaming: StreamingSettings
    liveness: LivenessSettings
    threshold: float
    top_k: int
    live: LiveSessions
    users: UserLookup = any_user
    publish: Publish | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args))

    def emit(self, client_id: int, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        if self.publish is not None:
            self.publish(client_id, session_id, kind, payload)

    # -- users -----------------------------------------------------------------------------

    async def active_user(self, client_id: int, user_id: str) -> UserInfo:
        user = await self.users(client_id, user_id)
        if user is None:
            raise SessionError("USER_NOT_FOUND", f"User {user_id!r} not found", {"user_id": user_id})
        if not user.is_active:
            raise SessionError("USER_INACTIVE", f"User {user_id!r} is deactivated", {"user_id": user_id})
        return user

    # -- creating --------------------------------------------------------------------------

    def timeout(self, requested: float | None, default: float) -> float:
        value = default if requested is None else requested
        if not 1 <= value <= self.settings.max_timeout_s:
            message = f"must be between 1 and {self.settings.max_timeout_s:g} seconds"
            raise SessionError("VALIDATION_ERROR", f"timeout: {message}", {"timeout": [message]})
        return float(value)

    async def create(self, *, client_id: int, kind: str, user_id: str | None, session_type: str, mode: str | None,
                     timeout_s: float, params: dict[str, Any],
                     make_state: Callable[[str, float], State]) -> tuple[SessionRecord, str]:
        session_id, token = str(uuid.uuid4()), secrets.token_urlsafe(32)
        expires = time.time() + timeout_s
        state = make_state(session_id, expires)
        try:
            self.live.add(state)
        except Exception as exc:
            raise SessionError("RATE_LIMIT_EXCEEDED", str(exc)) from exc
        row = await self.store.create_session(
            session_id=session_id, token=token, client_id=client_id, kind=kind, user_id=user_id,
            session_type=session_type, mode=mode, status="pending" if kind == "enrollment" else "active",
            params=params, expires_at=datetime.fromtimestamp(expires, timezone.utc),
        )
        log.info("%s session %s created for client %d (user %s)", kind, session_id, client_id, user_id)
        return row, token

    def enrollment_state(self, client_id: int, params: EnrollmentParams) -> Callable[[str, float], State]:
        return lambda sid, exp: EnrollmentState.new(sid, client_id, exp, params, self.engine, self.streaming,
                                                    self.liveness)

    def auth_state(self, client_id: int, params: AuthParams, liveness_threshold: float | None
                   ) -> Callable[[str, float], State]:
        live = self.liveness if liveness_threshold is None else replace(self.liveness, threshold=liveness_threshold)
        return lambda sid, exp: AuthState(sid, client_id, exp, params, self.engine, self.streaming, live,
                                          self.threshold, self.settings.auth_max_frames)

    # -- finding a session by token --------------------------------------------------------

    async def resolve(self, token: str | None, client_id: int | None, kind: str | None,
                      allow_completed: bool = False) -> tuple[SessionRecord, State | None]:
        """The session a token names, checked for owner, kind, state and expiry."""
        if not token:
            raise SessionError("AUTHENTICATION_REQUIRED", "Session token required (X-Session-Token or session_token)")
        row = await self.store.by_token(token)
        if row is None or (client_id is not None and row.client_id != client_id):
            raise SessionError("SESSION_NOT_FOUND", "Session not found")
        if kind is not None and row.kind != kind:
            raise SessionError("INVALID_SESSION_STATE", f"This is an {row.kind} session, not an {kind} session",
                               {"session_id": row.id, "kind": row.kind})
        if row.status in ACTIVE and row.expires_at <= now_utc():
            await self.store.update(row.id, status="expired")
            row = replace(row, status="expired")
        return row, self.check_state(row, allow_completed)

    def check_state(self, row: SessionRecord, allow_completed: bool = False) -> State | None:
        if row.status == "completed":
            if allow_completed:
                return None
            raise SessionError("SESSION_ALREADY_COMPLETED", "Session already completed",
                               {"session_id": row.id, "result": row.result})
        if row.status == "locked":
            raise SessionError("ACCOUNT_LOCKED", "Too many failed attempts in this session",
                               {"session_id": row.id, "scope": "session"}, retry_after=int(self.settings.lockout_s))
        if row.status == "expired" or row.expires_at <= now_utc():
            self.live.discard(row.id)
            raise SessionError("SESSION_EXPIRED", "Session expired", {"session_id": row.id,
                                                                           "expired_at": row.expires_at.isoformat()})
        if row.status not in ("pending", "in_progress", "ready", "active"):
            raise SessionError("INVALID_SESSION_STATE", f"Session is {row.status}", {"status": row.status})
        state = self.live.get(row.id)
        if state is None:
            raise SessionError("INVALID_SESSION_STATE",
                               "This session's frames are processed by the server process that created it",
                               {"session_id": row.id})
        return state

    # -- lockout ---------------------------------------------------------------------------

    async def user_locked_until(self, client_id: int, user_id: str) -> datetime | None:
        s = self.settings
        now = now_utc()
        since = now - timedelta(seconds=s.failure_window_s + s.lockout_s)
        times = await self.store.user_failures_since(client_id, user_id, since)
        n = s.max_failures
        for i in range(0, len(times) - n + 1):
            newest, oldest = times[i], times[i + n - 1]
            if (newest - oldest).total_seconds() <= s.failure_window_s and newest + timedelta(seconds=s.lockout_s) > now:
                return newest + timedelta(seconds=s.lockout_s)
        return None

    async def ensure_unlocked(self, client_id: int, user_id: str) -> None:
        until = await self.user_locked_until(client_id, user_id)
        if until is not None:
            retry = max(1, int((until - now_utc()).total_seconds()) + 1)
            raise SessionError("ACCOUNT_LOCKED", f"Too many failed attempts for user {user_id!r}; try later",
                               {"user_id": user_id, "scope": "user", "locked_until": until.isoformat(),
                                "retry_after": retry}, retry_after=retry)
