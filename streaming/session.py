"""One WebRTC stream session: its peer connection, `events` data channel and one frame loop.

Ownership: the session owns exactly one loop task (`_run`), created by `start()`. The loop owns
the reader task it starts once video arrives and cancels and awaits it on the way out; the
loop's `finally` is the only teardown path (peer connection, audio sink, registry removal), so
every terminal cause (client close, ICE failure, track end, timeout, app shutdown, `close()`)
ends the same way. `close()` only records the reason and waits for the loop: idempotent, and a
second caller simply waits too.

Newest frame wins: the reader awaits aiortc's (unbounded) receiver queue continuously and keeps
only the latest frame, counting the ones it overwrites as dropped; the loop processes the latest
frame when the previous one is done, in the app's bounded executor, never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import av
from aiortc import RTCConfiguration, RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from recognition import payloads as events
from streaming.jitter import use_marker_jitter_buffer
from recognition.decision import Decision, decide
from recognition.processor import FrameProcessor, FrameResult, TrackObservation
from streaming.session_inputs import (
    TENANT_ID, InvalidSignal, SessionParams, SessionServices, SessionStateError, ice_servers,
)

log = logging.getLogger(__name__)

class StreamSession:
    def __init__(
        self,
        session_id: str,
        token: str,
        client_id: int,
        params: SessionParams,
        services: SessionServices,
        on_closed: Callable[["StreamSession"], None],
    ) -> None:
        self.session_id = session_id
        self.token = token
        self.client_id = client_id
        self.params = params
        self.status = "created"
        self.close_reason: str | None = None
        self.created_at = time.time()
        self.expires_at = self.created_at + params.timeout_s
        self.frames_received = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.result: dict[str, Any] | None = None
        self.pc: RTCPeerConnection | None = None
        self._svc = services
        self._on_closed = on_closed
        self._processor = FrameProcessor(services.engine, services.settings, services.liveness, params.challenges)
        self._channel: Any = None
        self._track: MediaStreamTrack | None = None
        self._audio_sink: MediaBlackhole | None = None
        self._latest: av.VideoFrame | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._first_frame_at: float | None = None
        self._last_frame_at: float | None = None
        self._decisions: dict[int, Decision] = {}
        self._last_seen: dict[int, TrackObservation] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stream-session-{self.session_id}")

    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    async def close(self, reason: str = "closed_by_client", grace_s: float = 2.0) -> None:
        self._stop(reason)
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait([task], timeout=grace_s)
        if not done:  # stuck in a slow await: cancel; the loop's finally still tears down
            task.cancel()
            await asyncio.wait([task])

    def _stop(self, reason: str) -> None:
        if self.close_reason is None:
            self.close_reason = reason
            log.info("session %s stopping: %s", self.session_id, reason)
        self._wake.set()

    async def _run(self) -> None:
        try:
            await self._main()
        except Exception:
            log.exception("session %s frame loop failed", self.session_id)
            self._stop("error")
        finally:
            await self._teardown()

    async def _teardown(self) -> None:
        self._stop("closed")
        self.status = "closed"
        self._emit("session_status", self._status_payload())
        if self._audio_sink is not None:
            await self._audio_sink.stop()
        if self.pc is not None:
            await self.pc.close()
        self._on_closed(self)
        log.info(
            "session %s closed (%s): %d frames, %d processed, %d dropped",
            self.session_id, self.close_reason, self.frames_received, self.frames_processed, self.frames_dropped,
        )

    # -- signaling ---------------------------------------------------------------------------

    async def accept_offer(self, sdp: str) -> RTCSessionDescription:
        """Answer the client's offer; the client must offer video and an `events` data channel."""
        if self.closed:
            raise SessionStateError(f"session is {self.status} ({self.close_reason})")
        if self.pc is not None:
            raise SessionStateError(f"session already has a peer connection ({self.pc.connectionState})")
        if not sdp.lstrip().startswith("v=0") or "\nm=video" not in sdp.replace("\r\n", "\n"):
            raise InvalidSignal("SDP offer must start with v=0 and contain a video m-line")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers(self._svc.settings)))
        self.pc = pc
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_connection_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, AssertionError, IndexError, KeyError) as exc:
            raise InvalidSignal(f"SDP offer rejected: {exc or type(exc).__name__}") from exc
        self.status = "connecting"
        return pc.localDescription

    async def add_ice_candidate(self, candidate: RTCIceCandidate | None) -> None:
        if self.closed:
            raise SessionStateError(f"session is {self.status} ({self.close_reason})")
        if self.pc is None:
            raise SessionStateError("send the SDP offer before ICE candidates")
        try:
            await self.pc.addIceCandidate(candidate)
        except ValueError as exc:
            raise InvalidSignal(str(exc)) from exc

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label == "events":
            self._channel = channel
            self._emit("session_status", self._status_payload())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._track is None:
            self._track = track
            if self._svc.settings.marker_jitter_buffer and self.pc is not None:
                for receiver in self.pc.getReceivers():
                    if receiver.track is track:
                        use_marker_jitter_buffer(receiver)
            self._wake.set()
        else:  # audio (or a second video) is drained, never left to pile up in aiortc's queue
            if self._audio_sink is None:
                self._audio_sink = MediaBlackhole()
            self._audio_sink.addTrack(track)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState if self.pc else "closed"
        if state == "connected" and self.status == "connecting":
            self.status = "active"
        elif state in ("failed", "closed"):
            self._stop("ice_failed" if state == "failed" else "peer_closed")

    # -- events ------------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[dict[str, Any]], None]) -> None:
        with suppress(ValueError):
            self._listeners.remove(fn)

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        message = events.envelope(kind, self.session_id, payload)
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))
        for fn in list(self._listeners):
            fn(message)

    def _status_payload(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self._first_frame_at if self._first_frame_at else 0.0
        return {
            "session_id": self.session_id,
            "status": self.status,
            "expires_in": max(0, round(self.expires_at - time.time())),
            "frame_count": self.frames_received,
            "processed_frames": self.frames_processed,
            "processed_fps": round(self.frames_processed / elapsed, 2) if elapsed > 0.5 else 0.0,
            "dropped_frames": self.frames_dropped,
            "close_reason": self.close_reason,
            "result": self.result,
        }

    def snapshot(self) -> dict[str, Any]:
        """What GET /api/streaming/sessions/{id}/ answers."""
        p = self.params
        return {
            **self._status_payload(),
            "session_type": "webrtc",
            "mode": p.mode,
            "user_id": p.user_id,
            "require_liveness": p.require_liveness,
            "liveness_challenges": list(p.challenges),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "connection_state": self.pc.connectionState if self.pc else "new",
        }

    # -- the frame loop ----------------------------------------------------------------------

    async def _wait(self, seconds: float) -> None:
        with suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                await self._wake.wait()
        self._wake.clear()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.params.timeout_s
        connect_by = min(deadline, started + self._svc.settings.connect_timeout_s)
        while self._track is None:
            if self.closed:
                return
            if loop.time() >= connect_by:
                self._stop("expired" if connect_by >= deadline else "connect_timeout")
                return
            await self._wait(connect_by - loop.time())
        reader = asyncio.create_task(self._read(self._track), name=f"stream-reader-{self.session_id}")
        try:
            await self._process_frames(deadline)
        finally:
            reader.cancel()
            await asyncio.wait([reader])

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self._last_frame_at = asyncio.get_running_loop().time()
                self.frames_received += 1
                if self._latest is not None:
                    self.frames_dropped += 1
                self._latest = frame  # type: ignore[assignment]
                self._wake.set()
        except MediaStreamError:
            self._stop("track_ended")

    async def _process_frames(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        interval = self._svc.settings.status_interval_s
        idle = self._svc.settings.idle_timeout_s
        next_status = loop.time()
        self._last_frame_at = next_status  # the idle clock starts when the track arrives
        while not self.closed:
            now = loop.time()
            if now >= deadline:
                await self._finish_undecided()
                self._stop("expired")
                break
            if now - self._last_frame_at >= idle:
                self._stop("peer_gone")
                break
            if now >= next_status:
                self._emit("session_status", self._status_payload())
                next_status = now + interval
            frame, self._latest = self._latest, None
            if frame is None:
                await self._wait(min(deadline, next_status) - now)
                continue
            if self.status != "completed":
                await self._handle(frame)

    async def _handle(self, frame: av.VideoFrame) -> None:
        if self._first_frame_at is None:
            self._first_frame_at = time.monotonic()
        t = float(frame.time) if frame.time is not None else time.monotonic() - self._first_frame_at
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._svc.executor, _process, self._processor, frame, t)
        self.frames_processed += 1
        labels = {tid: d.name or d.status for tid, d in self._decisions.items()}
        self._emit("faces", events.faces_payload(frame.pts, (frame.width, frame.height), result.tracks, labels))
        for tr in result.tracks:
            self._last_seen[tr.track_id] = tr
            self._emit("liveness_update", events.liveness_payload(tr.liveness))
        if self.params.mode == "enrollment":
            await self._enroll_step(result)
        else:
            await self._recognize_step(result, final=False)

    async def _enroll_step(self, result: FrameResult) -> None:
        target = self._svc.settings.enrollment_samples
        obs = result.tracks[0] if result.tracks else None
        if obs is None:
            self._emit("enrollment_progress", events.enrollment_payload(None, target, "No face in view"))
            return
        waiting_liveness = self.params.require_liveness and not obs.liveness.passed
        if obs.samples < target or waiting_liveness or obs.embedding is None:
            message = "Hold still and look at the camera" if obs.samples < target else "Blink naturally"
            self._emit("enrollment_progress", events.enrollment_payload(obs, target, message))
            return
        user_id = self.params.user_id or ""
        enrollment_id, count = await self._svc.store.add_enrollment(
            self.client_id, TENANT_ID, user_id, self.params.name or user_id, obs.embedding, obs.mean_quality
        )
        await self._svc.galleries.invalidate(self.client_id, TENANT_ID)
        self.status = "completed"
        self.result = {"enrollment_id": enrollment_id, "user_id": user_id, "samples": obs.samples,
                       "liveness_verified": obs.liveness.passed}
        self._emit("enrollment_progress", events.enrollment_payload(obs, target, "Enrollment complete"))
        self._emit("session_status", self._status_payload())
        log.info("session %s enrolled user %s (enrollment %d, %d in gallery)", self.session_id, user_id, enrollment_id, count)

    async def _recognize_step(self, result: FrameResult | None, final: bool) -> None:
        tracks = result.tracks if result is not None else tuple(self._last_seen.values())
        pending = [tr for tr in tracks if tr.track_id not in self._decisions]
        if not pending:
            return
        gallery = await self._svc.galleries.gallery(self.client_id, TENANT_ID)
        for tr in pending:
            decision = decide(
                mode=self.params.mode, user_id=self.params.user_id, gallery=gallery, embedding=tr.embedding,
                samples=tr.samples, live=tr.liveness.passed, require_liveness=self.params.require_liveness,
                threshold=self._svc.threshold, top_k=self._svc.top_k, settings=self._svc.settings, final=final,
            )
            if decision is None:
                continue
            self._decisions[tr.track_id] = decision
            took = result.processing_time if result is not None else 0.0
            payload = events.recognition_payload(tr.track_id, decision, tr.liveness.passed, tr.box.as_list(), took)
            self._emit("recognition_result", payload)
            if self.params.mode == "verification" and self.result is None:
                self.result = payload
                self.status = "completed"
                self._emit("session_status", self._status_payload())

    async def _finish_undecided(self) -> None:
        """At expiry every track seen but not decided gets its final (possibly unknown) answer."""
        if self.params.mode != "enrollment" and self.status != "completed":
            await self._recognize_step(None, final=True)


def _process(processor: FrameProcessor, frame: av.VideoFrame, t: float) -> FrameResult:
    """Executor side: colour conversion and models both stay off the event loop."""
    return processor.process(frame.to_ndarray(format="bgr24"), t)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
