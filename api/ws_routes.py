"""WebSocket `/ws/recognition/`: authenticate, subscribe to events, and process frames.

Messages are JSON objects with a `type`:
- `authenticate` with `token` (a stream, enrollment or authentication session token: that
  session's events only; also accepted as `?token=` on the URL, as `signaling_url` has it), or
  `api_key` + `api_secret` (or `secret_key`), or `access_token` (a JWT from /api/auth/client-token/): the whole
  client's sessions and cameras;
- `subscribe` / `unsubscribe` with `session_id`, `camera_id` or `"scope": "client"`;
- `process_frame` with `frame` (a `data:image/jpeg;base64,...` URL), `timestamp` (capture time,
  ms or s) and `options` (`mode`, `user_id`, `require_liveness`, `liveness_challenges`): the
  first frame (or one with other options) opens a live session of the session service, exactly
  like a WebRTC stream's (sessions.live), so the socket gets the same events: `session_status`,
  `faces`, `liveness_update`, `recognition_result` / `enrollment_progress`. Frames are processed
  newest-frame-wins through the same slot and loop as WebRTC (`dropped_frames` counts the
  replaced ones). A completed session's next frame opens a new one;
- `offer` / `ice_candidate`: WebRTC signaling for a stream session (api/ws_signaling.py);
- `ping` -> `pong`.
Errors are `{"type": "error", "payload": {"code", "message"}}` and never close the socket, except
one: a socket that has not authenticated within `server.ws_auth_timeout_s` is closed (4401), and
only so many may wait unauthenticated (api/ws_admission.py).
Every connection owns its event forwarder task and, while frames flow, one live session's frame
loop task; both are cancelled and awaited when it ends (the live session is closed too); open
sockets are closed with GOING_AWAY at shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import weakref
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from api.auth_guard import source_address
from api.client_auth import client_by_token
from api import ws_guard
from api.ws_admission import Pending, UnauthenticatedSockets
from api.errors import ApiError
from api.ws_signaling import SIGNAL_TYPES, SignalRefused, signal
from api.ws_tokens import session_scope
from api.keys import BUS, CONFIG, ENGINE, SESSION_SERVICES, SESSIONS
from api.session_common import parse_timestamp
from engine.liveness_settings import CHALLENGES
from events.bus import Subscription
from events.topics import camera_topic, client_topic, session_topic
from recognition import payloads as events
from recognition.errors import RecognitionError
from sessions.live import LiveSession, open_live
from sessions.replacement import NO_REPLACE, ReplaceRequest
from streaming.frame_loop import run_frames
from streaming.frames import EncodedFrameSource
from streaming.slot import FrameSlot

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
SOCKETS = web.AppKey("recognition_sockets", weakref.WeakSet)  # type: ignore[type-arg]
UNAUTHENTICATED = web.AppKey("unauthenticated_sockets", UnauthenticatedSockets)
AUTH_TIMEOUT_CLOSE = 4401  # application close code: "did not authenticate in time"
REVOKED_CLOSE = 4403  # application close code: "the client was deactivated"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
_DATA_URL_PREFIXES = ("data:image/jpeg;base64,", "data:image/png;base64,", "data:image/webp;base64,")


@dataclass
class LiveFrames:
    """A socket's live session, its newest-frame slot and the one loop task feeding it; the task
    closes the live session when the loop ends, whatever ended it."""

    live: LiveSession
    options: FrameOptions
    slot: FrameSlot[EncodedFrameSource]
    task: asyncio.Task[None] | None = None
    stop_reason: str | None = None

    def start(self, idle_s: float, status_interval_s: float) -> None:
        self.task = asyncio.create_task(self._feed(idle_s, status_interval_s), name=f"ws-frames-{self.live.session_id}")

    async def _feed(self, idle_s: float, status_interval_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + self.live.params.timeout_s
        reason = None
        try:
            reason = await run_frames(self.live, self.slot, deadline=deadline, idle_s=idle_s,
                                      status_interval_s=status_interval_s, stopped=lambda: self.stop_reason is not None)
        finally:
            await self.live.close(self.stop_reason or reason or "closed")

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done() and not self.live.finished

    async def close(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason
        self.slot.wake()
        if self.task is not None:
            await asyncio.wait([self.task])


@dataclass(eq=False)  # hashable by identity: kept in the app's CONNECTIONS set
class Connection:
    """Per-socket state; tasks are owned here and ended in `close()`."""

    ws: web.WebSocketResponse
    subscription: Subscription
    pending: Pending | None = None  # this socket's place among the unauthenticated ones
    authenticated: asyncio.Event = field(default_factory=asyncio.Event)
    client_id: int | None = None
    session_id: str | None = None  # set when authenticated with a session token
    frames: LiveFrames | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_json(events.envelope(kind, self.session_id or "", payload))

    async def error(self, code: str, message: str) -> None:
        await self.send("error", {"code": code, "message": message})

    def authenticated_as(self, client_id: int, session_id: str | None = None) -> None:
        self.client_id, self.session_id = client_id, session_id
        self.authenticated.set()
        if self.pending is not None:
            self.pending.release()

    async def close(self) -> None:
        if self.pending is not None:
            self.pending.release()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with suppress(asyncio.CancelledError):
                await task
        if self.frames is not None:
            await self.frames.close("socket_closed")
        await self.subscription.close()


CONNECTIONS = web.AppKey("recognition_connections", set[Connection])


async def sockets_ctx(app: web.Application) -> Any:
    app[SOCKETS] = weakref.WeakSet()
    app[CONNECTIONS] = set()
    server = app[CONFIG].server
    app[UNAUTHENTICATED] = UnauthenticatedSockets(server.ws_max_unauthenticated,
                                                  server.ws_max_unauthenticated_per_address)
    yield


async def close_client_sockets(app: web.Application, client_id: int) -> int:
    """Close every socket authenticated as this client (it was deactivated)."""
    doomed = [c for c in app[CONNECTIONS] if c.client_id == client_id and not c.ws.closed]
    for conn in doomed:
        await conn.error("CLIENT_DEACTIVATED", "this client was deactivated")
        await conn.ws.close(code=REVOKED_CLOSE, message=b"client deactivated")
    return len(doomed)


async def close_sockets(app: web.Application) -> None:
    for ws in set(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


@routes.get("/ws/recognition/")
async def recognition_socket(request: web.Request) -> web.WebSocketResponse:
    pending = request.app[UNAUTHENTICATED].admit(source_address(request))  # 429/503 before the upgrade
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_MESSAGE_BYTES)
    try:
        await ws.prepare(request)
    except BaseException:
        pending.release()
        raise
    request.app[SOCKETS].add(ws)
    conn = Connection(ws, request.app[BUS].subscription(), pending)
    request.app[CONNECTIONS].add(conn)
    conn.tasks.append(asyncio.create_task(_forward(conn), name="ws-forward"))
    conn.tasks.append(asyncio.create_task(_auth_deadline(conn, request.app[CONFIG].server.ws_auth_timeout_s),
                                          name="ws-auth-deadline"))
    try:
        if request.query.get("token"):  # a signaling_url carries its session token: authenticated on connect
            await _authenticate(request, conn, {"type": "authenticate", "token": request.query["token"]})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                await conn.error("INVALID_MESSAGE", "send JSON text messages")
                continue
            try:  # issue 9: whatever a message holds, the socket answers `error` and stays open
                data = ws_guard.parse_message(msg.data)
                if data["type"] == "authenticate":
                    ws_guard.check_credentials(data)
                await _dispatch(request, conn, data)
            except Exception as exc:
                await conn.error(*ws_guard.failure_reply(exc))
    finally:
        request.app[CONNECTIONS].discard(conn)
        await conn.close()
    return ws


async def _auth_deadline(conn: Connection, timeout_s: float) -> None:
    """Close a socket that has not authenticated within the timeout (it held an fd for nothing)."""
    try:
        async with asyncio.timeout(timeout_s):  # no helper task per socket (wait_for makes one on 3.11)
            await conn.authenticated.wait()
    except TimeoutError:
        await conn.error("AUTHENTICATION_TIMEOUT", f"authenticate within {timeout_s:g} s of connecting")
        await conn.ws.close(code=AUTH_TIMEOUT_CLOSE, message=b"authentication timeout")


async def _dispatch(request: web.Request, conn: Connection, data: dict[str, Any]) -> None:
    kind = data["type"]
    if kind == "ping":
        await conn.send("pong", {"ts": data.get("ts")})
    elif kind == "authenticate":
        await _authenticate(request, conn, data)
    elif conn.client_id is None:
        await conn.error("AUTHENTICATION_REQUIRED", "send an 'authenticate' message first")
    elif kind in ("subscribe", "unsubscribe"):
        await _subscription_change(request.app, conn, data, subscribe=kind == "subscribe")
    elif kind == "process_frame":
        await _accept_frame(request.app, conn, data)
    elif kind in SIGNAL_TYPES:
        try:
            reply, payload = await signal(request.app, conn.client_id, conn.session_id, data)
        except SignalRefused as exc:
            await conn.error(exc.code, str(exc))
        else:
            await conn.send(reply, payload)
    else:
        await conn.error("UNKNOWN_TYPE", f"unknown message type {kind[:40]!r}")


async def _authenticate(request: web.Request, conn: Connection, data: dict[str, Any]) -> None:
    if conn.client_id is not None:
        await conn.error("ALREADY_AUTHENTICATED", "this connection is already authenticated")
        return
    token, key = data.get("token"), data.get("api_key")
    secret = data.get("api_secret", data.get("secret_key"))  # user_guide.md says secret_key
    jwt = data.get("access_token")
    if isinstance(jwt, str) and jwt:
        try:
            client = await client_by_token(request, jwt)
        except ApiError as exc:
            await conn.error(exc.code, exc.message)
            return
        ws_guard.refuse_kiosk(request)  # issue 25: client-wide events need an admin key
        conn.authenticated_as(client.id)
    elif isinstance(token, str) and token:
        scope = await session_scope(request.app, token)  # streaming, enrollment or authentication
        if scope is None:
            await conn.error("INVALID_SESSION_TOKEN", "invalid or expired session token")
            return
        conn.authenticated_as(*scope)
        await conn.subscription.add(session_topic(*scope))
    elif isinstance(key, str) and isinstance(secret, str) and len(key) <= 64 and len(secret) <= 128:
        client = await ws_guard.authenticate_key(request, key, secret)  # brute-force guarded (issue 9)
        if client is None or not client.is_active:
            await conn.error("INVALID_API_KEY", "invalid API key or secret")
            return
        conn.authenticated_as(client.id)
    else:
        await conn.error("INVALID_MESSAGE", "authenticate needs 'token', or 'api_key' and 'api_secret'")
        return
    await conn.send("authenticated", {"session_id": conn.session_id, "scope": "session" if conn.session_id else "client"})


def _topic_for(conn: Connection, data: dict[str, Any]) -> str | None:
    assert conn.client_id is not None
    if isinstance(data.get("session_id"), str):
        return session_topic(conn.client_id, data["session_id"])
    if isinstance(data.get("camera_id"), str):
        return camera_topic(conn.client_id, data["camera_id"])
    if data.get("scope") == "client":
        return client_topic(conn.client_id)
    return None


async def _own_session(app: web.Application, client_id: int, session_id: str) -> bool:
    """A session of this client (stream, WebSocket or REST: every one has a row), so a subscribe
    never answers `subscribed` for an id whose events could never reach it."""
    if len(session_id) > 64:
        return False
    if app[SESSIONS].get(session_id, client_id) is not None:
        return True
    return await app[SESSION_SERVICES].store.by_id(client_id, session_id) is not None


async def _subscription_change(app: web.Application, conn: Connection, data: dict[str, Any], subscribe: bool
                               ) -> None:
    topic = _topic_for(conn, data)
    if topic is None:
        await conn.error("INVALID_MESSAGE", "give 'session_id', 'camera_id' or \"scope\": \"client\"")
        return
    if conn.session_id is not None and topic != session_topic(conn.client_id or 0, conn.session_id):
        await conn.error("INSUFFICIENT_PERMISSIONS", "a session token may only follow its own session")
        return
    if subscribe and conn.session_id is None and isinstance(data.get("session_id"), str) \
            and not await _own_session(app, conn.client_id or 0, data["session_id"]):
        await conn.error("SESSION_NOT_FOUND", "no session of this client has that id")  # another client's: same answer
        return
    if subscribe:
        await conn.subscription.add(topic)
    else:
        await conn.subscription.remove(topic)
    await conn.send("subscribed" if subscribe else "unsubscribed", {"topic": topic.split(":", 2)[-1]})


async def _forward(conn: Connection) -> None:
    async for message in conn.subscription:
        if conn.ws.closed:
            return
        await conn.ws.send_json(message)


@dataclass(frozen=True)
class FrameOptions:
    """What a process_frame's `options` ask of its live session (a change opens a new one)."""

    mode: str
    user_id: str | None
    require_liveness: bool
    challenges: tuple[str, ...]
    name: str | None = None  # enrollment: the name of a user it creates
    replace: bool = False  # enrollment: explicitly replace the user's faces (sessions.replacement)


def _options(data: dict[str, Any]) -> FrameOptions | str:
    """The live-session options of a process_frame message, or what is wrong with them."""
    raw = data.get("options") or {}
    if not isinstance(raw, dict):
        return "'options' must be an object"
    mode = raw.get("mode", "identification")
    user_id = raw.get("user_id")
    live = raw.get("require_liveness", True)
    challenges = raw.get("liveness_challenges") or []
    name = raw.get("name")
    replace = raw.get("replace", raw.get("replace_existing", False))
    if mode not in ("verification", "identification", "enrollment"):
        return "options.mode must be verification, identification or enrollment"
    if user_id is not None and (not isinstance(user_id, (str, int)) or isinstance(user_id, bool) or
                                len(str(user_id)) > 128):
        return "options.user_id must be a string"
    if not isinstance(live, bool):
        return "options.require_liveness must be true or false"
    if not isinstance(challenges, list) or len(challenges) > 4 or not all(c in CHALLENGES for c in challenges):
        return f"options.liveness_challenges must be a list of at most 4 of {', '.join(CHALLENGES)}"
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        return "options.name must be a string of at most 200 characters"
    if not isinstance(replace, bool):
        return "options.replace must be true or false"
    return FrameOptions(mode, None if user_id is None else str(user_id), live, tuple(challenges), name, replace)


async def _accept_frame(app: web.Application, conn: Connection, data: dict[str, Any]) -> None:
    frame = data.get("frame")
    if not isinstance(frame, str) or not frame.startswith(_DATA_URL_PREFIXES):
        await conn.error("INVALID_FRAME", "'frame' must be a data:image/jpeg;base64 (or png/webp) URL")
        return
    try:
        raw = base64.b64decode(frame.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        await conn.error("INVALID_FRAME", "Could not decode image data: bad base64")
        return
    options = _options(data)
    if isinstance(options, str):
        await conn.error("INVALID_MESSAGE", options)
        return
    try:
        ts = parse_timestamp({"timestamp": data.get("timestamp")})
    except ApiError as exc:
        await conn.error(exc.code, exc.message)
        return
    frames = await _live_frames(app, conn, options)
    if frames is not None:
        frames.slot.put(EncodedFrameSource(raw, _decoder(app), ts))


def _takeover(conn: Connection, options: FrameOptions) -> ReplaceRequest:
    """A socket's explicit replace request, naming the client that asked (sessions.replacement)."""
    if not options.replace:
        return NO_REPLACE
    return ReplaceRequest(True, f"client:{conn.client_id}@websocket")


def _decoder(app: web.Application) -> Any:
    engine = app[ENGINE]
    return lambda data: engine.decode(data).pixels


async def _live_frames(app: web.Application, conn: Connection, options: FrameOptions) -> LiveFrames | None:
    """The socket's live session for these options: the running one, or a new one when there is
    none, its options changed, or it ended (a completed verification, an idle timeout)."""
    current = conn.frames
    if current is not None and current.options == options and current.running:
        return current
    if current is not None:
        conn.frames = None
        await current.close("replaced")
        await conn.subscription.remove(session_topic(current.live.client_id, current.live.session_id))
    settings = app[CONFIG].streaming
    assert conn.client_id is not None
    try:
        live = await open_live(app[SESSION_SERVICES], conn.client_id, mode=options.mode, user_ref=options.user_id,
                               require_liveness=options.require_liveness, challenges=options.challenges,
                               timeout_s=settings.max_session_timeout_s, transport="websocket", continuous=False,
                               name=options.name, takeover=_takeover(conn, options))
    except RecognitionError as exc:
        await conn.error(exc.code, exc.message)
        return None
    await conn.subscription.add(session_topic(live.client_id, live.session_id))
    frames = LiveFrames(live, options, FrameSlot(live.counters))
    frames.start(settings.idle_timeout_s, settings.status_interval_s)
    conn.frames = frames
    return frames
