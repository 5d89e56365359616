"""WebSocket `/ws/recognition/`: authenticate, subscribe to events, and process frames.

Messages are JSON objects with a `type`:
- `authenticate` with `token` (a stream session token: that session's events only), or
  `api_key` + `api_secret`, or `access_token` (a JWT from /api/auth/client-token/): the whole
  client's sessions and cameras;
- `subscribe` / `unsubscribe` with `session_id`, `camera_id` or `"scope": "client"`;
- `process_frame` with `frame` (a `data:image/jpeg;base64,...` URL): processed newest-frame-wins
  (a frame arriving while one is in the models replaces the waiting one; `dropped_frames` in
  the reply counts them), answered with `faces` and `liveness_update` events;
- `offer` / `ice_candidate`: WebRTC signaling for a stream session (api/ws_signaling.py);
- `ping` -> `pong`.
Errors are `{"type": "error", "payload": {"code", "message"}}` and never close the socket.
Every connection owns two tasks (event forwarder, frame worker), cancelled and awaited when it
ends; open sockets are closed with GOING_AWAY at shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import weakref
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from api.client_auth import client_by_token
from api.errors import ApiError
from api.ws_signaling import SIGNAL_TYPES, SignalRefused, signal
from api.keys import BUS, CONFIG, ENGINE, EXECUTOR, SESSIONS, STORE
from engine.errors import EngineError
from events.bus import Subscription
from events.topics import camera_topic, client_topic, session_topic
from recognition import payloads as events
from recognition.processor import FrameProcessor, every_frame

log = logging.getLogger(__name__)

routes = web.RouteTableDef()
SOCKETS = web.AppKey("recognition_sockets", weakref.WeakSet)  # type: ignore[type-arg]
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
_DATA_URL_PREFIXES = ("data:image/jpeg;base64,", "data:image/png;base64,", "data:image/webp;base64,")


@dataclass
class Connection:
    """Per-socket state; tasks are owned here and ended in `close()`."""

    ws: web.WebSocketResponse
    subscription: Subscription
    client_id: int | None = None
    session_id: str | None = None  # set when authenticated with a session token
    processor: FrameProcessor | None = None
    latest_frame: bytes | None = None
    dropped_frames: int = 0
    processed_frames: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    async def send(self, kind: str, payload: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_json(events.envelope(kind, self.session_id or "", payload))

    async def error(self, code: str, message: str) -> None:
        await self.send("error", {"code": code, "message": message})

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self.subscription.close()


async def sockets_ctx(app: web.Application) -> Any:
    app[SOCKETS] = weakref.WeakSet()
    yield


async def close_sockets(app: web.Application) -> None:
    for ws in set(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


@routes.get("/ws/recognition/")
async def recognition_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    conn = Connection(ws, request.app[BUS].subscription())
    conn.tasks.append(asyncio.create_task(_forward(conn), name="ws-forward"))
    conn.tasks.append(asyncio.create_task(_frame_worker(request.app, conn), name="ws-frames"))
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                await conn.error("INVALID_MESSAGE", "send JSON text messages")
                continue
            try:
                data = json.loads(msg.data)
            except ValueError:
                await conn.error("INVALID_MESSAGE", "message is not JSON")
                continue
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                await conn.error("INVALID_MESSAGE", "message must be an object with a 'type'")
                continue
            await _dispatch(request, conn, data)
    finally:
        await conn.close()
    return ws


async def _dispatch(request: web.Request, conn: Connection, data: dict[str, Any]) -> None:
    kind = data["type"]
    if kind == "ping":
        await conn.send("pong", {"ts": data.get("ts")})
    elif kind == "authenticate":
        await _authenticate(request, conn, data)
    elif conn.client_id is None:
        await conn.error("AUTHENTICATION_REQUIRED", "send an 'authenticate' message first")
    elif kind in ("subscribe", "unsubscribe"):
        await _subscription_change(conn, data, subscribe=kind == "subscribe")
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
    token, key, secret = data.get("token"), data.get("api_key"), data.get("api_secret")
    jwt = data.get("access_token")
    if isinstance(jwt, str) and jwt:
        try:
            client = await client_by_token(request, jwt)
        except ApiError as exc:
            await conn.error(exc.code, exc.message)
            return
        conn.client_id = client.id
    elif isinstance(token, str) and token:
        session = request.app[SESSIONS].by_token(token)
        if session is None:
            await conn.error("INVALID_SESSION_TOKEN", "invalid or expired session token")
            return
        conn.client_id, conn.session_id = session.client_id, session.session_id
        await conn.subscription.add(session_topic(session.client_id, session.session_id))
    elif isinstance(key, str) and isinstance(secret, str) and len(key) <= 64 and len(secret) <= 128:
        client = await request.app[STORE].authenticate_client(key, secret)
        if client is None or not client.is_active:
            await conn.error("INVALID_API_KEY", "invalid API key or secret")
            return
        conn.client_id = client.id
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


async def _subscription_change(conn: Connection, data: dict[str, Any], subscribe: bool) -> None:
    topic = _topic_for(conn, data)
    if topic is None:
        await conn.error("INVALID_MESSAGE", "give 'session_id', 'camera_id' or \"scope\": \"client\"")
        return
    if conn.session_id is not None and topic != session_topic(conn.client_id or 0, conn.session_id):
        await conn.error("INSUFFICIENT_PERMISSIONS", "a session token may only follow its own session")
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
    if conn.latest_frame is not None:
        conn.dropped_frames += 1
    conn.latest_frame = raw
    conn.wake.set()


async def _frame_worker(app: web.Application, conn: Connection) -> None:
    """One frame at a time through the models; the newest waiting frame wins."""
    loop = asyncio.get_running_loop()
    engine = app[ENGINE]
    config = app[CONFIG]
    while True:
        await conn.wake.wait()
        conn.wake.clear()
        raw, conn.latest_frame = conn.latest_frame, None
        if raw is None:
            continue
        if conn.processor is None:
            conn.processor = FrameProcessor(engine, every_frame(config.streaming), config.liveness, ())
        t = time.monotonic() - conn.started

        def work(data: bytes = raw, now: float = t) -> Any:
            pixels = engine.decode(data).pixels
            return pixels.shape, conn.processor.process(pixels, now)  # type: ignore[union-attr]

        try:
            shape, result = await loop.run_in_executor(app[EXECUTOR], work)
        except EngineError as exc:
            await conn.error("INVALID_FRAME", str(exc))
            continue
        conn.processed_frames += 1
        payload = events.faces_payload(None, (shape[1], shape[0]), result.tracks, {})
        payload.update(processed_frames=conn.processed_frames, dropped_frames=conn.dropped_frames)
        await conn.send("faces", payload)
        for track in result.tracks:
            await conn.send("liveness_update", events.liveness_payload(track.liveness))
