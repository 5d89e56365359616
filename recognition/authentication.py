"""Authentication state machines (verification 1:1 or identification 1:N) over the frame processor.

Two shapes of the same rule (recognition.decision.Judge):
- `AuthState` (posted frames: REST sessions, batches) judges the primary (largest) track; an
  attempt ends with a decision, and after a failed attempt the processor starts afresh so the next
  attempt proves liveness again.
- `StreamRecognizer` (continuous video: WebRTC, WebSocket, cameras) judges every track once, and
  at the end of the session answers the tracks still undecided.
"""

from __future__ import annotations

import time

from dataclasses import dataclass, field, replace

import numpy as np

from engine.face_engine import FaceEngine
from engine.liveness_settings import LivenessSettings
from engine.matching import Gallery
from recognition.clock import FrameClock
from recognition.decision import Decision, Judge
from recognition.processor import FrameProcessor, FrameResult, TrackObservation, every_frame
from recognition.settings import RecognitionSettings


@dataclass(frozen=True)
class AuthParams:
    mode: str  # verification | identification
    user_id: str | None
    require_liveness: bool
    confidence_threshold: float  # minimum confidence (0.5 = exactly at the matching threshold)
    search_threshold: float  # identification: minimum confidence for a listed match
    max_results: int
    challenges: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthFrame:
    faces: int
    track: TrackObservation | None
    decision: Decision | None
    processing_time: float
    result: FrameResult | None = None
    timings: dict[str, float | None] = field(default_factory=dict)  # ms per stage (engine/timings.py)


@dataclass
class AuthState:
    session_id: str
    client_id: int
    expires_at: float
    params: AuthParams
    engine: FaceEngine
    recognition: RecognitionSettings
    liveness_settings: LivenessSettings
    threshold: float
    max_frames: int
    processor: FrameProcessor | None = None
    clock: FrameClock = field(default_factory=FrameClock)
    attempt_frames: int = 0
    frames: int = 0
    liveness_window_s: float = 30.0  # an attempt not yet live is forced to a decision after this (media time)
    attempt_started: float | None = None

    @property
    def judge(self) -> Judge:
        """Without liveness there is nothing to wait for: posted frames are each a full detection,
        so the first good frame decides (a clear match or mismatch; a distance within the unsure
        margin still waits for more). With liveness, `decide_samples` embeddings as on a stream."""
        p = self.params
        settings = self.recognition if p.require_liveness else replace(self.recognition, decide_samples=1)
        return Judge(p.mode, p.user_id, p.require_liveness, self.threshold, max(p.max_results, 1), settings,
                     p.confidence_threshold)

    def reset_attempt(self) -> None:
        self.close()
        self.attempt_frames = 0
        self.attempt_started = None

    def close(self) -> None:
        """Frees the attempt's processor (its per-track landmarkers); the registry calls it."""
        if self.processor is not None:
            self.processor.close()
            self.processor = None

    def process(self, pixels: np.ndarray, t: float, gallery: Gallery, final: bool = False) -> AuthFrame:
        """One frame (executor side); `final` forces a decision (end of a batch)."""
        if self.processor is None:
            self.processor = FrameProcessor(self.engine, every_frame(self.recognition), self.liveness_settings,
                                            self.params.challenges)
        self.frames += 1
        self.attempt_frames += 1
        if self.attempt_started is None:
            self.attempt_started = t
        result = self.processor.process(pixels, t)
        track = result.tracks[0] if result.tracks else None
        # "Not live yet" is not a failure: the attempt stays open for the whole liveness window.
        final = final or self.attempt_frames >= self.max_frames or t - self.attempt_started >= self.liveness_window_s
        decision = None
        searched = time.perf_counter()
        if track is not None:
            decision = self.judge.judge(track, gallery, final)
        elif final:
            decision = Decision("failure", "no_face", None, None, None, 0.0, ())
        timings = {**result.timings, "search": round((time.perf_counter() - searched) * 1000, 3)}
        return AuthFrame(len(result.tracks), track, decision, result.processing_time, result, timings)


class StreamRecognizer:
    """Every track of a continuous stream judged once (executor side, one frame at a time)."""

    def __init__(self, processor: FrameProcessor, judge: Judge) -> None:
        self.processor = processor
        self.judge = judge
        self.decided: set[int] = set()
        self._last_seen: dict[int, TrackObservation] = {}
        self._judged: dict[int, tuple[int, bool, bool]] = {}  # what each undecided track was judged on

    def observe(self, pixels: np.ndarray, t: float) -> FrameResult:
        """One frame through the models; remembers every track for the final answers."""
        result = self.processor.process(pixels, t)
        for track in result.tracks:
            self._last_seen[track.track_id] = track
        for tid in result.dropped_tracks:
            self._judged.pop(tid, None)
        return result

    def ready(self, result: FrameResult) -> list[TrackObservation]:
        """Undecided tracks with enough samples to be judged: only these need the gallery, so a
        frame without any skips the gallery lookup altogether."""
        s = self.judge.settings
        need = 1 if s.early_match_margin > 0 else s.decide_samples  # a clear early match is judged at once
        return [tr for tr in result.tracks
                if tr.track_id not in self.decided and tr.embedding is not None and tr.samples >= need
                and self._judged.get(tr.track_id) != _evidence(tr)]

    def judge_tracks(self, tracks: list[TrackObservation], gallery: Gallery
                     ) -> list[tuple[TrackObservation, Decision]]:
        decisions = []
        for track in tracks:
            decision = self.judge.judge(track, gallery, final=False)
            if decision is None:  # waiting for liveness or more samples: judged again when either moves
                self._judged[track.track_id] = _evidence(track)
                continue
            self.decided.add(track.track_id)
            self._judged.pop(track.track_id, None)
            decisions.append((track, decision))
        return decisions

    def close(self) -> None:
        self.processor.close()

    def finish(self, gallery: Gallery) -> list[tuple[TrackObservation, Decision]]:
        """At the end of the session, the final (possibly unknown) answer of every undecided track."""
        out = []
        for tid, track in self._last_seen.items():
            if tid not in self.decided:
                decision = self.judge.judge(track, gallery, final=True)
                if decision is not None:
                    self.decided.add(tid)
                    out.append((track, decision))
        return out

    @property
    def undecided(self) -> bool:
        return any(tid not in self.decided for tid in self._last_seen)


def _evidence(track: TrackObservation) -> tuple[int, bool, bool]:
    """What an undecided track's decision depends on besides the gallery: its samples and its
    liveness verdict. A track waiting for liveness is not re-judged (a gallery fetch and a
    search) on every frame, only when one of these moves."""
    return (track.samples, track.liveness.passed, track.liveness.sequence_failed)
