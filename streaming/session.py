"""One WebRTC stream session: its peer connection, `events` data channel, the reader that fills
the newest-frame slot, and one loop task that feeds the transport-neutral live session
(sessions.live.LiveSession, which owns what frames mean).

Ownership: the session owns exactly one loop task (`_run`), created by `start()`. The loop owns
the reader task it starts once video arrives and cancels and awaits it on the way out; the
loop's `finally` is the only teardown path (peer connection, audio sink, live session close,
registry removal), so every terminal cause (client close, ICE failure, track end, timeout, app
shutdown, `close()`) ends the same way. `close()` only records the reason and waits for the
loop: idempotent, and a second caller simply waits too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCIceCandidate, RTCPeerConnection
from aiortc.contrib.media import MediaBlackhole
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sessions.live import LiveSession
from streaming.errors import InvalidCandidate, SessionClosedError, SessionStateError
from streaming.frame_loop import run_frames
from streaming.frames import VideoFrameSource
from streaming.jitter import use_marker_jitter_buffer
from streaming.settings import StreamingSettings
from streaming.slot import FrameSlot

log = logging.getLogger(__name__)


HELD_MAX = 64  # one-off events kept for a channel that is not open yet (StreamSession._hold)
TEARDOWN_S = 30.0  # a started teardown (a database write, releasing models, closing the peer) ends well within this


def _state_key(message: dict[str, Any]) -> tuple[str, Any] | None:
    """What a newer message of per-frame state replaces; None for one-off events."""
    kind = message.get("type")
    if kind == "faces":
        return (kind, None)
    if kind == "liveness_update":
        return (kind, message.get("payload", {}).get("track_id"))
    return None


class StreamSession:
    def __init__(self, live: LiveSession, settings: StreamingSettings,
                 on_closed: Callable[["StreamSession"], None]) -> None:
        self.live = live
        self.session_id = live.session_id
        self.token = live.token
        self.client_id = live.client_id
        self.pc: RTCPeerConnection | None = None
        self._settings = settings
        self._on_closed = on_closed
        self._slot: FrameSlot[VideoFrameSource] = FrameSlot(live.counters)
        self._channel: Any = None
        self._held: list[dict[str, Any]] = []  # events made before the channel opened (_hold)
        self._track: MediaStreamTrack | None = None
        self._audio_sink: MediaBlackhole | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop_reason: str | None = None
        self._tearing_down = False
        self._connected = False
        live.add_listener(self._send)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stream-session-{self.session_id}")

    @property
    def closed(self) -> bool:
        return self._stop_reason is not None

    @property
    def status(self) -> str:
        status = self.live.status
        if status == "active" and not self._connected:
            return "connecting" if self.pc is not None else "created"
        return status

    async def close(self, reason: str = "closed_by_client", grace_s: float = 2.0,
                    teardown_s: float = TEARDOWN_S) -> None:
        self._stop(reason)
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait([task], timeout=grace_s)
        if not done and self._tearing_down:
            # Already tearing down (slow on a busy machine): a cancel now would land in the live
            # session's close and skip giving its tracks' landmarkers back (seen: MediaPipe
            # landmarkers left to the garbage collector). Give it longer before cancelling.
            done, _ = await asyncio.wait([task], timeout=teardown_s)
        if not done:  # stuck in a slow await: cancel; the loop's finally still tears down
            task.cancel()
            await asyncio.wait([task])

    def _stop(self, reason: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            log.info("session %s stopping: %s", self.session_id, reason)
        self._slot.wake()

    async def _run(self) -> None:
        try:
            reason = await self._main()
            if reason is not None:
                self._stop(reason)
        except Exception:
            log.exception("session %s frame loop failed", self.session_id)
            self._stop("error")
        finally:
            await self._teardown()

    async def _teardown(self) -> None:
        self._tearing_down = True
        self._stop("closed")
        try:
            await self.live.close(self._stop_reason or "closed")
        finally:
            if self._audio_sink is not None:
                await self._audio_sink.stop()
            if self.pc is not None:
                await self.pc.close()
            self._on_closed(self)

    # -- peer connection (created and negotiated by signaling/) ------------------------------

    def attach(self, pc: RTCPeerConnection) -> None:
        """Take the peer connection signaling made for this session's offer."""
        if self.closed:
            raise SessionClosedError(f"session is closed ({self._stop_reason})")
        if self.pc is not None:
            raise SessionStateError(f"session already has a peer connection ({self.pc.connectionState})")
        self.pc = pc
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_connection_state)

    def detach(self, pc: RTCPeerConnection) -> None:
        """Forget a peer connection whose offer failed, before it is closed (its "closed" state
        must not end the session), so the session takes a new offer."""
        if self.pc is pc:
            pc.remove_all_listeners()
            self.pc = None

    async def add_ice_candidate(self, candidate: RTCIceCandidate | None) -> None:
        if self.closed:
            raise SessionClosedError(f"session is closed ({self._stop_reason})")
        if self.pc is None:
            raise SessionStateError("send the SDP offer before ICE candidates")
        try:
            await self.pc.addIceCandidate(candidate)
        except ValueError as exc:
            raise InvalidCandidate(str(exc)) from exc

    def use_local_channel(self, channel: Any) -> None:
        """The `events` channel of a server-made offer: used once the browser has opened it."""
        channel.on("open", lambda: self._on_datachannel(channel))

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label == "events":
            self._channel = channel
            held, self._held = self._held, []
            for message in held:
                self._send(message)
            self._send_status()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._track is None:
            self._track = track
            if self._settings.marker_jitter_buffer and self.pc is not None:
                for receiver in self.pc.getReceivers():
                    if receiver.track is track:
                        use_marker_jitter_buffer(receiver)
            self._slot.wake()
        else:  # audio (or a second video) is drained, never left to pile up in aiortc's queue
            if self._audio_sink is None:
                self._audio_sink = MediaBlackhole()
            self._audio_sink.addTrack(track)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState if self.pc else "closed"
        if state == "connected":
            self._connected = True
        elif state in ("failed", "closed"):
            self._stop("ice_failed" if state == "failed" else "peer_closed")

    # -- events ------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))
        elif channel is None and not self.closed:
            self._hold(message)

    def _hold(self, message: dict[str, Any]) -> None:
        """Frames can be processed before the events channel is open (SCTP comes up after the
        media on a loaded machine, seconds later): what they produced is sent when it opens, not
        lost. Per-frame state is held as its newest message only (`faces`; `liveness_update` per
        track: each carries the whole state), no `session_status` (the current one follows), and
        one-off events (a recognition result, an enrollment step) up to HELD_MAX."""
        kind = message.get("type")
        if kind == "session_status":
            return
        key = _state_key(message)
        if key is not None:
            self._held = [m for m in self._held if _state_key(m) != key]
        elif len(self._held) >= HELD_MAX:
            return  # a flood before any channel: the first ones and the newest state stand
        self._held.append(message)

    def _send_status(self) -> None:
        """The live session's status with this connection's own (connecting, active...)."""
        self.live.send_to(self._send, dataclasses.replace(self.live.status_now(), status=self.status))

    def snapshot(self) -> dict[str, Any]:
        """What GET /api/streaming/sessions/{id}/ answers."""
        return {
            **self.live.snapshot(),
            "status": self.status,
            "connection_state": self.pc.connectionState if self.pc else "new",
        }

    # -- the frame loop ----------------------------------------------------------------------

    async def _main(self) -> str | None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.live.params.timeout_s
        connect_by = min(deadline, started + self._settings.connect_timeout_s)
        timed_out = "expired" if connect_by >= deadline else "connect_timeout"
        reader: asyncio.Task[None] | None = None
        try:
            # The track is announced with the offer, its first frame comes once ICE and DTLS are
            # up (seconds on a loaded machine): until then the connect timeout governs, not the
            # idle one (a peer still connecting has not vanished).
            while self._slot.last_put is None:
                if reader is None and self._track is not None:
                    reader = asyncio.create_task(self._read(self._track), name=f"stream-reader-{self.session_id}")
                if self.closed:
                    return None
                if loop.time() >= connect_by:
                    return timed_out
                await self._slot.wait(connect_by - loop.time())
            return await run_frames(self.live, self._slot, deadline=deadline, idle_s=self._settings.idle_timeout_s,
                                    status_interval_s=self._settings.status_interval_s, stopped=lambda: self.closed)
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.wait([reader])

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                self._slot.put(VideoFrameSource(await track.recv()))  # type: ignore[arg-type]
        except MediaStreamError:
            self._stop("track_ended")
