"""A live session: continuous frames from any transport (WebRTC, WebSocket process_frame, door
cameras), judged by the same rules as REST sessions.

The transport owns the media (it decodes nothing here: a frame source converts itself to pixels
on the executor) and the pacing (streaming.frame_loop); this object owns what frames mean:
the state machine (enrollment or authentication), the events, the session row, the settled
decisions. One frame at a time: the transport's loop awaits `handle()` before the next frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from engine.errors import EngineError, GalleryModelMismatchError
from engine.matching import Gallery
from recognition import payloads
from recognition.authentication import StreamRecognizer
from recognition.clock import FrameClock
from recognition.decision import Decision, Judge
from recognition.enrollment import EnrollFrame, EnrollmentParams, EnrollmentState
from recognition.processor import FrameProcessor, FrameResult, TrackObservation, every_frame
from recognition.settings import RecognitionSettings
from sessions.errors import SessionError
from sessions.live_events import (
    EnrollmentProgressed, FacesSeen, Listener, LiveEvent, LivenessChanged, SessionFault, SessionStatus, Subscriber,
    TrackSettled,
)
from sessions.lockout import ensure_unlocked
from sessions.outcomes import complete_enrollment, enrollment_failed, settle
from sessions.replacement import NO_REPLACE, ReplaceRequest
from sessions.service import TENANT_ID, SessionServices, UserInfo
from storage.session_store import now_utc
from storage.timestamps import iso_seconds

log = logging.getLogger(__name__)

TERMINAL = ("completed", "failed", "closed", "expired")


class FrameSource(Protocol):
    """One frame as a transport received it; `pixels()` runs on the executor (decoding is work)."""

    @property
    def pts(self) -> int | None: ...

    @property
    def time(self) -> float | None:
        """Capture or media time in seconds, when the transport knows it."""

    def pixels(self) -> np.ndarray: ...


Fresher = Callable[[], "FrameSource | None"]  # thread-safe: a newer frame than the one in hand, if any


@dataclass
class FrameCounters:
    received: int = 0  # counted by the transport's newest-frame slot
    dropped: int = 0
    processed: int = 0


@dataclass(frozen=True)
class LiveParams:
    mode: str  # verification | identification | enrollment
    user: UserInfo | None
    require_liveness: bool
    challenges: tuple[str, ...]
    timeout_s: float
    transport: str  # webrtc | websocket | rtsp
    continuous: bool  # consecutive frames show one scene: track between detector runs
    policy: str = "challenge"  # liveness: challenge-response on screens, passive for door cameras (rtsp)
    recognition: RecognitionSettings | None = None  # the transport's own frame logic (doors); None = the service's
    camera_id: str | None = None  # a door camera's session: its events also reach the camera's topic and viewers
    takeover: ReplaceRequest = NO_REPLACE  # enrollment: an explicit request to replace the user's faces


async def open_live(svc: SessionServices, client_id: int, *, mode: str, user_ref: str | None,
                    require_liveness: bool, challenges: tuple[str, ...], timeout_s: float, transport: str,
                    continuous: bool, recognition: RecognitionSettings | None = None,
                    camera_id: str | None = None, name: str | None = None,
                    takeover: ReplaceRequest = NO_REPLACE) -> "LiveSession":
    """Check the request against the user rules every path shares, then record the session.
    `recognition`: frame-logic settings for this session instead of the service's (door cameras
    decide from fewer samples; browser sessions keep the global ones)."""
    user: UserInfo | None = None
    if mode in ("verification", "enrollment") and not user_ref:
        raise SessionError("VALIDATION_ERROR", f"user_id: is required in {mode} mode",
                           {"user_id": [f"is required in {mode} mode"]})
    if mode == "verification":
        user = await svc.enrolled_user(client_id, user_ref or "")
        await ensure_unlocked(svc.store, svc.settings, client_id, user.user_id)
    elif mode == "enrollment":
        user = await svc.enrolling_user(client_id, user_ref or "", name)
    elif mode != "identification":
        raise SessionError("VALIDATION_ERROR", f"mode: unknown mode {mode[:40]!r}", {"mode": ["unknown mode"]})
    policy = svc.liveness_policy(transport)
    params = LiveParams(mode, user, require_liveness, svc.challenges(challenges, require_liveness, policy), timeout_s,
                        transport, continuous, policy, recognition, camera_id, takeover)
    stored = {"mode": mode, "require_liveness": require_liveness, "challenges": list(params.challenges),
              "timeout": timeout_s, "external_id": user.external_id if user else None, "transport": transport,
              "liveness_policy": policy}
    row, token = await svc.create_row(
        client_id=client_id, kind="enrollment" if mode == "enrollment" else "authentication",
        user_id=user.user_id if user else None, session_type=transport, mode=None if mode == "enrollment" else mode,
        timeout_s=timeout_s, params=stored, status="active",
    )
    return LiveSession(svc, row.id, token, client_id, params)


class LiveSession:
    def __init__(self, svc: SessionServices, session_id: str, token: str, client_id: int, params: LiveParams) -> None:
        self.session_id = session_id
        self.token = token
        self.client_id = client_id
        self.params = params
        self.status = "active"  # recorded and ready for frames (a transport may add its own connecting state)
        self.close_reason: str | None = None
        self.result: dict[str, Any] | None = None
        self.created_at = time.time()
        self.expires_at = self.created_at + params.timeout_s
        self.counters = FrameCounters()
        self._svc = svc
        self._listeners: list[Listener] = []  # wire consumers: the envelope, built once by svc.outbound
        self._subscribers: list[Subscriber] = []  # typed consumers (a door's gate)
        self._clock = FrameClock()
        self._first_frame_at: float | None = None
        self._labels: dict[int, str] = {}
        self._dropped_reported = 0
        self._failures = 0  # failed decisions so far: the `attempts` of authentication.failed
        self._enrollment: EnrollmentState | None = None
        self._recognizer: StreamRecognizer | None = None
        s = svc.settings
        if params.mode == "enrollment":
            assert params.user is not None
            enroll = EnrollmentParams(params.user.user_id, s.target_samples, s.quality_threshold, False,
                                      params.require_liveness, True)
            self._enrollment = EnrollmentState.new(session_id, client_id, self.expires_at, enroll, svc.engine,
                                                   svc.recognition, svc.liveness, params.challenges, params.continuous,
                                                   params.policy)
        else:
            base = params.recognition or svc.recognition
            settings = base if params.continuous else every_frame(base)
            judge = Judge(params.mode, params.user.user_id if params.user else None, params.require_liveness,
                          svc.threshold, svc.top_k, base)
            processor = FrameProcessor(svc.engine, settings, svc.liveness, params.challenges, policy=params.policy)
            self._recognizer = StreamRecognizer(processor, judge)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    # -- events ------------------------------------------------------------------------------

    def add_listener(self, fn: Listener) -> None:
        """A wire consumer (a data channel, a socket): gets each event's §5 envelope."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        with suppress(ValueError):
            self._listeners.remove(fn)

    def subscribe(self, fn: Subscriber) -> None:
        """A typed consumer: gets each event as its value (sessions.live_events), synchronously;
        one that has async work to do queues it (doors.inbox)."""
        self._subscribers.append(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        with suppress(ValueError):
            self._subscribers.remove(fn)

    def publish(self, event: LiveEvent) -> None:
        """To the typed subscribers, then once through the edge's adapter to the wire listeners and
        the bus (every WebSocket subscriber)."""
        for fn in list(self._subscribers):
            fn(event)
        if self._svc.outbound is not None:
            self._svc.outbound.live(self.client_id, event, list(self._listeners), self.params.camera_id)

    def send_to(self, listener: Listener, event: LiveEvent) -> None:
        """One event to one wire consumer only, not the subscribers or the bus: a transport's view
        of its own state (a WebRTC session's connection status on its data channel)."""
        if self._svc.outbound is not None:
            listener(self._svc.outbound.envelope(event))

    def _fault(self, code: str, message: str) -> None:
        self.publish(SessionFault(self.session_id, code, message))

    def report_status(self) -> None:
        """A `session_status` event now (the transport's frame loop reports at its interval)."""
        self.publish(self.status_now())

    def status_now(self) -> SessionStatus:
        c = self.counters
        elapsed = time.monotonic() - self._first_frame_at if self._first_frame_at else 0.0
        return SessionStatus(
            session_id=self.session_id,
            status=self.status,
            expires_in=max(0, round(self.expires_at - time.time())),
            frame_count=c.received,
            processed_frames=c.processed,
            processed_fps=round(c.processed / elapsed, 2) if elapsed > 0.5 else 0.0,
            dropped_frames=c.dropped,
            close_reason=self.close_reason,
            result=self.result,
        )

    def status_payload(self) -> dict[str, Any]:
        return asdict(self.status_now())

    def snapshot(self) -> dict[str, Any]:
        p = self.params
        return {
            **self.status_payload(),
            "session_type": p.transport,
            "mode": p.mode,
            "user_id": p.user.user_id if p.user else None,
            "require_liveness": p.require_liveness,
            "liveness_challenges": list(p.challenges),
            "created_at": iso_seconds(self.created_at),
            "expires_at": iso_seconds(self.expires_at),
        }

    # -- frames ------------------------------------------------------------------------------

    async def handle(self, frame: FrameSource, fresher: Fresher | None = None) -> None:
        """One frame through the models (on the executor) and the session's rules. `fresher`
        (the transport's slot) may give a newer frame when the job starts: that one is processed."""
        if self.finished:
            return
        if self._first_frame_at is None:
            self._first_frame_at = time.monotonic()
        svc = self._svc
        try:
            if self._enrollment is not None:
                frame, step = await svc.run(_enroll, self._enrollment, self._clock, frame, fresher)
                await self._after_enrollment(frame, step)
            else:
                assert self._recognizer is not None
                frame, result = await svc.run(_observe, self._recognizer, self._clock, frame, fresher)
                self._publish_frame(frame, result)
                ready = self._recognizer.ready(result)
                if ready:  # most frames: no track is ready to judge, no gallery lookup
                    searched = time.perf_counter()
                    gallery = await svc.galleries.gallery(self.client_id, TENANT_ID)
                    decided = await svc.run(self._recognizer.judge_tracks, ready, gallery)
                    search_ms = round((time.perf_counter() - searched) * 1000, 3)
                    timings = {**result.timings, "search": search_ms,
                               "total": round((result.timings.get("total") or 0.0) + search_ms, 3)}
                    for track, decision in decided:
                        await self._settle(track, decision, result.processing_time, timings)
        except GalleryModelMismatchError as exc:  # the gallery is another recogniser's: nothing to match
            self._fault("MODEL_MISMATCH", str(exc))
            self.result = {"error_code": "MODEL_MISMATCH", "message": str(exc)}
            await self._end("failed")
        except EngineError as exc:  # an undecodable posted frame: say so, keep the session
            self._fault("INVALID_FRAME", str(exc))
        except SessionError as exc:
            if exc.code != "PROCESSING_ERROR":
                raise
            self._fault(exc.code, exc.message)  # logged by svc.run
        except Exception:  # one frame the models choke on must not end the stream's frame loop
            log.exception("session %s: frame processing failed", self.session_id)
            self._fault("PROCESSING_ERROR", "Frame processing failed; send the next frame")

    def _publish_frame(self, frame: FrameSource, result: FrameResult) -> None:
        self.counters.processed += 1
        telemetry = self._svc.telemetry
        telemetry.frame("detect" if result.detected else "track", result.processing_time)
        if self.counters.dropped > self._dropped_reported:
            telemetry.dropped(self.counters.dropped - self._dropped_reported)
            self._dropped_reported = self.counters.dropped
        self.publish(FacesSeen(self.session_id, result.t, frame.pts, (result.width, result.height), result.tracks,
                               dict(self._labels), result.dropped_tracks, self.counters.processed,
                               self.counters.dropped))
        for tid in result.dropped_tracks:
            self._labels.pop(tid, None)
        for track in result.tracks:
            self.publish(LivenessChanged(self.session_id, track.liveness))

    async def _after_enrollment(self, frame: FrameSource, step: EnrollFrame) -> None:
        state = self._enrollment
        assert state is not None and step.result is not None
        self._publish_frame(frame, step.result)
        self.publish(EnrollmentProgressed(self.session_id, state, step))
        if not state.ready:
            return
        try:
            self.result = await complete_enrollment(self._svc, self.client_id, self.session_id, state,
                                                    takeover=self.params.takeover)
        except SessionError as exc:
            self.publish(SessionFault(self.session_id, exc.code, exc.message, exc.details, with_details=True))
            self.result = {"error_code": exc.code, "message": exc.message}
            await self._end("failed")
            return
        self.publish(EnrollmentProgressed(self.session_id, state, step, "Enrollment complete"))
        await self._end("completed")

    async def _settle(self, track: TrackObservation, decision: Decision, took: float,
                      timings: dict[str, float | None] | None = None) -> None:
        p = self.params
        settled = await settle(self._svc, self.client_id, self.session_id, p.mode,
                               p.user.user_id if p.user else None, decision, track.liveness.liveness_score,
                               processing_time=took, failures_before=self._failures, liveness=track.liveness)
        if settled.decision.status != "success":
            self._failures += 1
        self._labels[track.track_id] = settled.name or settled.decision.status
        self.publish(TrackSettled(self.session_id, track, settled, took, timings))
        if p.mode == "verification" and self.result is None:  # a 1:1 session ends with its first decision
            self.result = payloads.recognition_payload(track.track_id, settled.decision, track.liveness.passed,
                                                       track.box.as_list(), took, settled.name, timings,
                                                       settled.attempt_user)
            await self._end("completed" if settled.decision.status == "success" else "failed")

    async def finish(self) -> None:
        """At expiry, every track seen but not decided gets its final (possibly unknown) answer,
        and an enrollment held back only by liveness fails as a liveness failure."""
        if self._enrollment is not None and not self.finished:
            await self._enrollment_expired(self._enrollment)
        if self._recognizer is None or self.finished or not self._recognizer.undecided:
            return
        gallery = await self._svc.galleries.gallery(self.client_id, TENANT_ID)
        for track, decision in await self._svc.run(_finish, self._recognizer, gallery):
            if not self.finished:
                await self._settle(track, decision, 0.0)

    async def _enrollment_expired(self, state: EnrollmentState) -> None:
        """A face that gave its samples but never proved liveness (a photo held up) is a liveness
        failure: the integrator hears enrollment.failed + liveness.failed, as from complete/."""
        if not (state.params.require_liveness and state.samples_done and not state.liveness_verified):
            return
        exc = SessionError("LIVENESS_CHECK_FAILED", "Liveness was not verified for this face before the session expired",
                           {"liveness_verified": False})
        await enrollment_failed(self._svc, self.client_id, self.session_id, state.params.user_id, exc, state.frames,
                                state.liveness)
        self.result = {"error_code": exc.code, "message": exc.message}

    # -- ending ------------------------------------------------------------------------------

    async def _end(self, status: str) -> None:
        self.status = status
        await self._svc.store.update(self.session_id, status=status, result=self.result,
                                     frames_processed=self.counters.processed,
                                     completed_at=now_utc() if status == "completed" else None)
        self.report_status()

    async def close(self, reason: str) -> None:
        """Idempotent: the first reason wins; a session that ended by itself keeps its status."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        try:
            if not self.finished:
                self.status = "closed"
                try:  # shielded: a teardown cancelled mid-write must not leak the database connection
                    await asyncio.shield(self._svc.store.update(
                        self.session_id, status="expired" if reason == "expired" else "closed",
                        frames_processed=self.counters.processed))
                except Exception:  # the database may be gone at shutdown; the session still ends
                    log.warning("session %s: could not record its end", self.session_id, exc_info=True)
            if self.params.mode == "enrollment" and self.params.user is not None and self.status != "completed":
                try:  # a user this unfinished enrollment created goes again (sessions.service)
                    await asyncio.shield(self._svc.discard_placeholder(self.client_id, self.params.user.user_id))
                except Exception:
                    log.warning("session %s: could not remove its placeholder user", self.session_id, exc_info=True)
            self.report_status()
        finally:  # even when cancelled above: the per-track landmarkers go back, after any frame in progress
            release = asyncio.ensure_future(self._svc.run(self._release))
            with suppress(Exception):  # a second cancel still propagates; the release runs on regardless
                await asyncio.shield(release)
        log.info("live session %s closed (%s): %d frames, %d processed, %d dropped", self.session_id, reason,
                 self.counters.received, self.counters.processed, self.counters.dropped)

    def _release(self) -> None:
        if self._enrollment is not None:
            self._enrollment.close()
        if self._recognizer is not None:
            self._recognizer.close()


def _newest(frame: FrameSource, fresher: Fresher | None) -> FrameSource:
    """At the start of the job (a worker thread): the newest frame the transport has."""
    newer = fresher() if fresher is not None else None
    return newer if newer is not None else frame


def _enroll(state: EnrollmentState, clock: FrameClock, frame: FrameSource,
            fresher: Fresher | None) -> tuple[FrameSource, EnrollFrame]:
    frame = _newest(frame, fresher)
    return frame, state.process(frame.pixels(), clock.next(frame.time))


def _observe(recognizer: StreamRecognizer, clock: FrameClock, frame: FrameSource,
             fresher: Fresher | None) -> tuple[FrameSource, FrameResult]:
    frame = _newest(frame, fresher)
    t = clock.next(frame.time)  # in frame order: one job of a session runs at a time
    started = time.perf_counter()
    pixels = frame.pixels()
    decode_ms = (time.perf_counter() - started) * 1000
    result = recognizer.observe(pixels, t)
    result.timings.update(decode=round(decode_ms, 3), total=round((result.timings.get("total") or 0.0) + decode_ms, 3))
    return frame, result


def _finish(recognizer: StreamRecognizer, gallery: Gallery) -> list[tuple[TrackObservation, Decision]]:
    return recognizer.finish(gallery)
