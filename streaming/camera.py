"""One door camera, kept running: connect (streaming.rtsp), feed the newest-frame slot and the one
frame loop (streaming.frame_loop.run_frames) into a live session of the one session service
(sessions.live.open_live, transport "rtsp"), turn its settled tracks into door decisions
(doors.gate, fed through doors.inbox), and reconnect with exponential backoff and jitter when the
stream fails. The session's envelopes reach the camera's viewers and topic through the one
outbound adapter (the session knows its camera id); the runner only forwards them to its viewers.

Ownership: the runner owns exactly one supervisor task (`_run`); each connection's reader
thread, live session and decision task are created and closed inside it, in its `finally`,
so every way a connection ends (stall, camera gone, app shutdown, camera edited or deleted)
tears down the same way. `close()` is idempotent.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from doors.camera_config import CameraConfig
from doors.directory import CameraDirectory
from doors.gate import DoorGate, record_decision
from doors.inbox import GateInbox
from sessions.live import LiveSession, open_live
from sessions.live_events import LiveEvent
from sessions.service import SessionServices
from streaming.camera_settings import IngestSettings
from streaming.camera_track import CameraTrack
from streaming.camera_view import CameraViewers
from streaming.frame_loop import run_frames
from streaming.rtsp import IngestError, RtspReader, backoff_delay, mask_url
from streaming.slot import FrameSlot

log = logging.getLogger(__name__)

CameraPublish = Callable[[int, str, dict[str, Any]], None]  # (client_id, camera_id, camera_status payload)


@dataclass(frozen=True)
class CameraFrame:
    """A decoded camera frame with its media time fixed at arrival (the relay re-stamps the
    shared av.VideoFrame for viewers; liveness timing must not see that)."""

    frame: av.VideoFrame
    pts: int | None
    time: float | None
    arrived: float  # loop time the frame left the decoder: what arrival -> decision is timed from

    def pixels(self) -> np.ndarray:
        return self.frame.to_ndarray(format="bgr24")


class CameraRunner:
    def __init__(self, camera: CameraConfig, svc: SessionServices, ingest: IngestSettings, store: CameraDirectory,
                 publish: CameraPublish, status_interval_s: float = 1.0) -> None:
        self.camera = camera
        self.svc = svc
        self.ingest = ingest
        self.store = store
        self.publish = publish
        self.status_interval_s = status_interval_s
        self.state = "connecting"
        self.last_error: str | None = None
        self.reconnects = 0
        self.frames_decoded = 0  # decoder output over every connection: one decode per camera
        self.packets_demuxed = 0  # decoder input: frames_decoded <= packets_demuxed, whatever the viewers
        self.frames_dropped = 0  # not handed to the models (max_fps, or a newer frame won the slot)
        self.frames_processed = 0
        self.fps = 0.0
        self.online_since: float | None = None
        self.decisions: collections.deque[dict[str, Any]] = collections.deque(maxlen=ingest.decision_log_size)
        self.video = CameraTrack()  # the relay source for live viewers
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # viewers' data channels
        self.decoded_hooks: list[Callable[[av.VideoFrame, float], None]] = []  # (frame, loop time): bench/door.py
        self.viewers = CameraViewers(self.video, self.listeners, ingest.max_viewers)
        self.live: LiveSession | None = None
        self.gate = DoorGate(camera, ingest.liveness_timeout_s)  # one per camera: cooldowns span reconnects
        self.inbox = GateInbox()  # the gate's events: overlay may be dropped when the door falls behind, decisions never
        self._slot: FrameSlot[CameraFrame] | None = None
        self._reader: RtspReader | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._last_slot_put = 0.0
        self._fps_window: collections.deque[float] = collections.deque(maxlen=60)
        self._rand = random.Random()

    @property
    def client_id(self) -> int:
        return self.camera.client_id

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"camera-{self.camera.id}")

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._slot is not None:
            self._slot.wake()
        if self._task is not None and self._task is not asyncio.current_task():
            await asyncio.wait([self._task])
        await self.viewers.close()
        self.video.stop()

    async def _run(self) -> None:
        attempt = 0
        try:
            while not self._stopping:
                self.state = "connecting"
                try:
                    await self._connection()
                    attempt = 0  # it was up: the next failure starts the backoff afresh
                except IngestError as exc:
                    self.last_error = str(exc)
                except Exception as exc:  # never let one camera's bug end its supervisor
                    log.exception("camera %s: connection failed", self.camera.id)
                    self.last_error = mask_url(f"{type(exc).__name__}: {exc}", self.camera.url)[:300]
                if self._stopping:
                    break
                self.state = "offline"
                self.online_since = None
                self.fps = 0.0
                delay = backoff_delay(attempt, self.ingest.backoff_initial_s, self.ingest.backoff_max_s,
                                      self.ingest.backoff_jitter, self._rand.random)
                attempt += 1
                self.reconnects += 1
                log.info("camera %s offline (%s); reconnecting in %.1fs", self.camera.id, self.last_error, delay)
                self._publish_status()
                with suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            self.state = "stopped" if self._stopping else "offline"
            self.online_since = None

    async def _connection(self) -> None:
        cam = self.camera
        reader = RtspReader(cam.url, cam.transport or self.ingest.transport, self.ingest.open_timeout_s,
                            self.ingest.read_timeout_s, self._on_frame, cam.id, on_packet=self.viewers.feed,
                            allow_private=self.ingest.allow_private_targets)
        decider: asyncio.Task[None] | None = None
        self._reader = reader
        reader.start()
        try:
            _, _, codec = await reader.opened
            await self.viewers.set_codec(codec)
            self.state, self.online_since, self.last_error = "online", time.time(), None
            log.info("camera %s online: %s", cam.id, mask_url(cam.url, cam.url))
            decider = asyncio.create_task(self._decide(), name=f"camera-decisions-{cam.id}")
            while not self._stopping and not reader.finished.done():
                ended = await self._session(reader)
                if ended != "expired":
                    break
            if reader.finished.done() and not self._stopping:
                raise IngestError(reader.finished.result())
            if not self._stopping:
                raise IngestError("stalled: no frame within read_timeout_s")
        finally:
            await reader.close()
            self._reader = None
            self.frames_decoded += reader.frames
            self.packets_demuxed += reader.packets
            if decider is not None:
                decider.cancel()
                await asyncio.wait([decider])

    async def _session(self, reader: RtspReader) -> str | None:
        """One live session (renewed every session_rollover_s): the same frame loop as WebRTC."""
        cam = self.camera
        live = await open_live(self.svc, cam.client_id, mode=cam.mode, user_ref=None,
                               require_liveness=cam.require_liveness, challenges=(),
                               timeout_s=self.ingest.session_rollover_s, transport="rtsp", continuous=True,
                               recognition=self.ingest.recognition.apply(self.svc.recognition, cam.det_size),
                               camera_id=cam.id)
        slot: FrameSlot[CameraFrame] = FrameSlot(live.counters)
        self._slot = slot
        self.attach(live)
        loop = asyncio.get_running_loop()
        reason: str | None = "closed"
        try:
            reason = await run_frames(
                live, slot, deadline=loop.time() + self.ingest.session_rollover_s, idle_s=self.ingest.read_timeout_s,
                status_interval_s=self.status_interval_s, stopped=lambda: self._stopping or reader.finished.done())
            return reason
        finally:
            self._slot = None
            self.frames_processed += live.counters.processed
            self.frames_dropped += live.counters.dropped
            await live.close("server_shutdown" if self._stopping else (reason or "camera_offline"))
            self.detach(live)

    # -- frames ------------------------------------------------------------------------------

    def _on_frame(self, frame: av.VideoFrame) -> None:
        """On the loop, per decoded frame: viewers get every frame, the models at most max_fps."""
        now = asyncio.get_running_loop().time()
        self._fps_window.append(now)
        if len(self._fps_window) > 1 and now - self._fps_window[0] > 0:
            self.fps = round((len(self._fps_window) - 1) / (now - self._fps_window[0]), 2)
        for hook in self.decoded_hooks:
            hook(frame, now)
        self.video.push(frame)
        slot = self._slot
        if slot is None:
            return
        if self.camera.max_fps > 0 and now - self._last_slot_put < 1.0 / self.camera.max_fps:
            self.frames_dropped += 1
            slot.last_put = now  # frames are arriving: not a stall
            return
        self._last_slot_put = now
        slot.put(CameraFrame(frame, frame.pts, float(frame.time) if frame.time is not None else None, now))

    # -- events and decisions ----------------------------------------------------------------

    def attach(self, live: LiveSession) -> None:
        """The door's live session: its typed events to the gate's inbox, its envelopes (built once
        by the outbound adapter, tagged with the camera id) to the viewers."""
        self.live = live
        live.subscribe(self.inbox.put)
        live.add_listener(self._to_viewers)

    def detach(self, live: LiveSession) -> None:
        live.unsubscribe(self.inbox.put)
        live.remove_listener(self._to_viewers)

    def _to_viewers(self, message: dict[str, Any]) -> None:
        """The session's envelope (already tagged with the camera id) to each viewer's data channel."""
        for fn in list(self.listeners):
            fn(message)

    async def _decide(self) -> None:
        """The connection's decision task: the door's rules over the session's events, in order."""
        while True:
            await self.decide_next()

    async def decide_next(self) -> None:
        """The next event through the gate; a decision is recorded and published once."""
        event: LiveEvent = await self.inbox.get()
        try:
            decision = self.gate.handle(event)
            if decision is not None and self.live is not None:
                self.decisions.appendleft(decision.payload())
                await record_decision(self.store.store, self.client_id, self.live, decision, self.svc.events)
        except Exception:
            log.exception("camera %s: decision failed", self.camera.id)

    def _publish_status(self) -> None:
        self.publish(self.client_id, self.camera.id, self.status())

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        live = self.live
        counters = live.counters if live is not None and self._slot is not None else None
        return {
            "camera_id": self.camera.id,
            "door_id": self.camera.door_id,
            "status": self.state,
            "last_error": self.last_error,
            "fps": self.fps if self.state == "online" else 0.0,
            "frames_decoded": self.frames_decoded + (self._reader.frames if self._reader is not None else 0),
            "packets_demuxed": self.packets_demuxed + (self._reader.packets if self._reader is not None else 0),
            "codec": self.viewers.codec,
            "frames_processed": self.frames_processed + (counters.processed if counters else 0),
            "frames_dropped": self.frames_dropped + (counters.dropped if counters else 0),
            "reconnects": self.reconnects,
            "online_since": self.online_since,
            "session_id": live.session_id if live is not None and self._slot is not None else None,
            "pending": self.gate.pending if self.state == "online" else None,
            "viewers": len(self.listeners),
            "viewers_passthrough": len(self.viewers.packets_sent()),  # the rest get the re-encode fallback
            "recent_decisions": list(self.decisions)[:10],
        }
