"""The one session service every transport uses: REST enrollment/authentication sessions,
process-image, batches, WebRTC streams, WebSocket process_frame and (next) door cameras.

It owns the rules that must read the same on every path: who a user reference names (platform
UUID or the client's external id), that inactive users are refused, which challenges a session
gets, the session rows, and (in sessions.outcomes) where templates go and how decisions are
settled. Raises SessionError with the seeds' codes; api/ maps codes to HTTP statuses.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from engine.face_engine import FaceEngine
from engine.challenges import draw_challenges
from engine.liveness_settings import LivenessSettings
from recognition.authentication import AuthParams, AuthState
from recognition.enrollment import EnrollmentParams, EnrollmentState
from events.outbox import EventSink
from sessions import expiry
from sessions.blocking import run_blocking
from sessions.errors import SessionError
from sessions.live_events import Outbound
from sessions.registry import LiveSessions, State
from recognition.settings import RecognitionSettings
from sessions.settings import SessionSettings
from sessions.telemetry import Telemetry
from sessions.user_events import user_event
from storage.galleries import GalleryService
from storage.records import User
from storage.session_store import ACTIVE, SessionRecord, SessionStore, now_utc
from storage.user_store import PLATFORM_TENANT, DuplicateExternalId, UserStore

log = logging.getLogger(__name__)
T = TypeVar("T")

# Platform users, and every session, match in the client's tenant 0 (the face API's default namespace).
TENANT_ID = PLATFORM_TENANT
# The metadata of a user an enrollment created (sessions.auto_create_users): the mark that lets
# the first explicit "Create User" of that external_id fill the record in (api.user_routes).
AUTO_CREATED: dict[str, str] = {"created_by": "enrollment"}


@dataclass(frozen=True)
class UserInfo:
    user_id: str  # the platform user id: what the gallery stores
    name: str
    is_active: bool
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # the client's own data about the user


def _is_uuid(ref: str) -> bool:
    try:
        uuid.UUID(ref)
    except ValueError:
        return False
    return True


@dataclass
class SessionServices:
    engine: FaceEngine
    executor: ThreadPoolExecutor
    store: SessionStore
    galleries: GalleryService
    users: UserStore
    settings: SessionSettings
    recognition: RecognitionSettings
    liveness: LivenessSettings
    threshold: float
    top_k: int
    live: LiveSessions
    outbound: Outbound | None = None  # the edge's envelope adapter (api/ wires it); None: events go nowhere
    events: EventSink | None = None  # the webhook outbox and audit writer (events/outbox.py)
    telemetry: Telemetry = field(default_factory=Telemetry)
    rng: random.Random = field(default_factory=random.SystemRandom)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """A frame's model work in the app's pool (sessions/blocking.py): engine refusals and domain
        errors pass through; anything else is PROCESSING_ERROR, logged there, never sent."""
        return await run_blocking(self.executor, f"in {getattr(fn, '__name__', 'model call')}",
                                  "Face processing failed; the frame was not processed", fn, *args)

    def emit(self, client_id: int, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        """A REST session's event to the bus (live sessions publish typed events: sessions.live)."""
        if self.outbound is not None:
            self.outbound.session_event(client_id, session_id, kind, payload)

    def announced(self) -> None:
        """After a write that carried outbox events: this process's worker delivers at once."""
        if self.events is not None:
            self.events.wake()

    async def announce(self, client_id: int, event: str, data: dict[str, Any]) -> None:
        """An event whose cause wrote nothing else (its own transaction)."""
        if self.events is not None:
            await self.events.emit(client_id, event, data)

    # -- users -----------------------------------------------------------------------------

    async def find_user(self, client_id: int, ref: str) -> UserInfo | None:
        """A user named by platform id or by the client's external id (the seeds' "EMP001")."""
        user = await self.find_user_row(client_id, ref)
        return None if user is None else UserInfo(user.id, user.name, user.is_active, user.external_id,
                                                  dict(user.metadata or {}))

    async def find_user_row(self, client_id: int, ref: str) -> User | None:
        """The whole row (metadata included: a door's allowed groups read it)."""
        return await self.users.get(client_id, ref) or await self.users.by_external_id(client_id, ref)

    async def active_user(self, client_id: int, ref: str) -> UserInfo:
        user = await self.find_user(client_id, ref)
        if user is None:
            raise SessionError("USER_NOT_FOUND", f"User {ref!r} not found", {"user_id": ref})
        if not user.is_active:
            raise SessionError("USER_INACTIVE", f"User {ref!r} is deactivated", {"user_id": ref})
        return user

    async def enrolling_user(self, client_id: int, ref: str, name: str | None = None) -> UserInfo:
        """The user an enrollment is for. With `sessions.auto_create_users` an unknown reference
        that is not a platform id (a UUID) becomes a new user with that `external_id`: the
        documents enroll "user123" without creating it first. A UUID that names nobody is a
        deleted or mistyped platform id, never a new external id, so it stays USER_NOT_FOUND."""
        if self.settings.auto_create_users and not _is_uuid(ref) and await self.find_user(client_id, ref) is None:
            try:
                # The same user.created webhook and audit row as POST /api/clients/users/ (issue 24).
                events = self.events
                hook = None if events is None else (
                    lambda made: events.hook(client_id, "user.created", user_event(made)))
                await self.users.create(client_id, ref, name or ref, None, dict(AUTO_CREATED), after=hook)
                self.announced()
                log.info("client %d: user %r created by an enrollment (sessions.auto_create_users)", client_id, ref)
            except DuplicateExternalId:
                pass  # created concurrently by another request: use that one
        return await self.active_user(client_id, ref)

    async def discard_placeholder(self, client_id: int, ref: str, session_id: str | None = None) -> bool:
        """Delete a user that an enrollment created (`AUTO_CREATED`, sessions.auto_create_users)
        when that enrollment failed or was refused and the user still has no face and no other
        enrollment in flight: a refused enrollment leaves no active, faceless person behind.
        Why delete rather than one transaction with the face: a live enrollment spans many
        requests (the session row names the user from the start); the marker plus "no face"
        makes the delete safe to repeat and never touches a user anybody created on purpose."""
        user = await self.find_user_row(client_id, ref)
        if user is None or dict(user.metadata or {}) != AUTO_CREATED:
            return False
        if await self.users.embeddings(user) or await self.store.open_enrollments(client_id, user.id, session_id) > 0:
            return False
        if await self.users.delete(client_id, user.id) is None:
            return False
        log.info("client %d: user %s (created by an enrollment that did not complete) removed", client_id, user.id)
        return True

    async def enrolled_user(self, client_id: int, ref: str) -> UserInfo:
        """An active user with a face in the gallery: what a verification needs before it starts."""
        user = await self.active_user(client_id, ref)
        gallery = await self.galleries.gallery(client_id, TENANT_ID)
        if not gallery.for_user(user.user_id):
            raise SessionError("USER_NOT_ENROLLED", f"User {ref!r} has no face enrollment", {"user_id": ref})
        return user

    # -- session parameters ----------------------------------------------------------------

    def challenges(self, requested: Sequence[str], require_liveness: bool, policy: str = "challenge"
                   ) -> tuple[str, ...]:
        """The challenges a session asked for, or, when it asks for liveness and names none, ones
        the server draws at random from `liveness.challenge_pool` (a client cannot predict them).
        The passive policy (door cameras: nobody sees a prompt) asks none."""
        if policy == "passive":
            return ()
        if requested or not require_liveness:
            return tuple(requested)
        return draw_challenges(self.liveness, self.rng)

    @staticmethod
    def liveness_policy(transport: str) -> str:
        """Door cameras (rtsp) have no screen to prompt on: passive signals. Every screen
        transport (REST, WebRTC, WebSocket) gets challenge-response."""
        return "passive" if transport == "rtsp" else "challenge"

    def timeout(self, requested: float | None, default: float, largest: float | None = None) -> float:
        value = default if requested is None else requested
        top = self.settings.max_timeout_s if largest is None else largest
        if not 1 <= value <= top:
            message = f"must be between 1 and {top:g} seconds"
            raise SessionError("VALIDATION_ERROR", f"timeout: {message}", {"timeout": [message]})
        return float(value)

    # -- creating --------------------------------------------------------------------------

    async def create_row(self, *, client_id: int, kind: str, user_id: str | None, session_type: str,
                         mode: str | None, timeout_s: float, params: dict[str, Any], session_id: str | None = None,
                         token: str | None = None, status: str | None = None) -> tuple[SessionRecord, str]:
        """The session's record of truth (status, result, attempts hang off it), for every transport."""
        session_id, token = session_id or str(uuid.uuid4()), token or secrets.token_urlsafe(32)
        row = await self.store.create_session(
            session_id=session_id, token=token, client_id=client_id, kind=kind, user_id=user_id,
            session_type=session_type, mode=mode, status=status or ("pending" if kind == "enrollment" else "active"),
            params=params, expires_at=datetime.fromtimestamp(time.time() + timeout_s, timezone.utc),
        )
        log.info("%s session %s (%s) created for client %d (user %s)", kind, session_id, session_type, client_id,
                 user_id)
        return row, token

    async def create(self, *, client_id: int, kind: str, user_id: str | None, session_type: str, mode: str | None,
                     timeout_s: float, params: dict[str, Any],
                     make_state: Callable[[str, float], State]) -> tuple[SessionRecord, str]:
        """A REST session: its row plus the in-memory state its posted frames feed."""
        session_id = str(uuid.uuid4())
        state = make_state(session_id, time.time() + timeout_s)
        self.live.add(state)  # TooManySessions (RATE_LIMIT_EXCEEDED) when the server holds its cap
        return await self.create_row(client_id=client_id, kind=kind, user_id=user_id, session_type=session_type,
                                     mode=mode, timeout_s=timeout_s, params=params, session_id=session_id)

    def enrollment_state(self, client_id: int, params: EnrollmentParams, challenges: tuple[str, ...] = ()
                         ) -> Callable[[str, float], State]:
        return lambda sid, exp: EnrollmentState.new(sid, client_id, exp, params, self.engine, self.recognition,
                                                    self.liveness, challenges)

    def auth_state(self, client_id: int, params: AuthParams, liveness: LivenessSettings
                   ) -> Callable[[str, float], State]:
        return lambda sid, exp: AuthState(sid, client_id, exp, params, self.engine, self.recognition, liveness,
                                          self.threshold, self.settings.auth_max_frames,
                                          liveness_window_s=self.settings.liveness_window_s)

    def liveness_for(self, threshold: float | None = None, challenge_timeout_s: float | None = None
                     ) -> LivenessSettings:
        settings = self.liveness
        if threshold is not None:
            settings = replace(settings, threshold=threshold)
        if challenge_timeout_s:
            settings = replace(settings, challenge_timeout_s=challenge_timeout_s)
        return settings

    # -- finding a REST session by token ---------------------------------------------------

    async def resolve(self, token: str | None, client_id: int | None, kind: str | None,
                      allow_completed: bool = False, user_id: str | None = None
                      ) -> tuple[SessionRecord, State | None]:
        """The session a token names, checked for owner, kind, state and expiry. `user_id`: the
        caller acts for that user only (a user token), so another user's session is not found."""
        if not token:
            raise SessionError("AUTHENTICATION_REQUIRED", "Session token required (X-Session-Token or session_token)")
        row = await self.store.by_token(token)
        if row is None or (client_id is not None and row.client_id != client_id) or \
                (user_id is not None and row.user_id != user_id):
            raise SessionError("SESSION_NOT_FOUND", "Session not found")
        if kind is not None and row.kind != kind:
            raise SessionError("INVALID_SESSION_STATE", f"This is an {row.kind} session, not an {kind} session",
                               {"session_id": row.id, "kind": row.kind})
        if row.status in ACTIVE and row.expires_at <= now_utc():
            await expiry.expire_one(self.store, self.events, row.id)
            row = replace(row, status="expired")
        return row, self.check_state(row, allow_completed)

    async def still_open(self, row: SessionRecord) -> None:
        """A frame accepted while its session was open, whose turn (behind the session's earlier
        frames) or processing ended after the session's expiry: SESSION_TIMEOUT, not a decision
        made after the time the session was given (SESSION_EXPIRED is a request that arrives late)."""
        if row.expires_at > now_utc():
            return
        await expiry.expire_one(self.store, self.events, row.id)
        self.live.discard(row.id)
        raise SessionError("SESSION_TIMEOUT", "The session timed out while this frame was waiting or being processed; "
                           "start a new session", {"session_id": row.id, "expired_at": row.expires_at.isoformat()})

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
