"""In-progress state of one authentication session (verification 1:1 or identification 1:N).

Frames feed the stream sessions' FrameProcessor; the primary (largest) track is judged with
streaming.decision.decide exactly as a WebRTC session would. An attempt ends with a decision;
after a failed attempt the processor starts afresh, so the next attempt proves liveness again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from engine.face_engine import FaceEngine
from engine.liveness import LivenessSettings
from engine.matching import Gallery
from recognition.clock import FrameClock
from recognition.decision import Decision, decide
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


@dataclass
class AuthState:
    session_id: str
    client_id: int
    expires_at: float
    params: AuthParams
    engine: FaceEngine
    streaming: RecognitionSettings
    liveness_settings: LivenessSettings
    threshold: float
    max_frames: int
    processor: FrameProcessor | None = None
    clock: FrameClock = field(default_factory=FrameClock)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    attempt_frames: int = 0
    frames: int = 0

    def reset_attempt(self) -> None:
        self.processor = None
        self.attempt_frames = 0

    def process(self, pixels: np.ndarray, t: float, gallery: Gallery, final: bool = False) -> AuthFrame:
        """One frame (executor side); `final` forces a decision (end of a batch)."""
        if self.processor is None:
            self.processor = FrameProcessor(self.engine, every_frame(self.streaming), self.liveness_settings, self.params.challenges)
        self.frames += 1
        self.attempt_frames += 1
        result: FrameResult = self.processor.process(pixels, t)
        track = result.tracks[0] if result.tracks else None
        decision = None
        if track is not None:
            p = self.params
            decision = decide(
                mode=p.mode, user_id=p.user_id, gallery=gallery, embedding=track.embedding, samples=track.samples,
                live=track.liveness.passed, require_liveness=p.require_liveness, threshold=self.threshold,
                top_k=max(p.max_results, 1), settings=self.streaming,
                final=final or self.attempt_frames >= self.max_frames,
            )
            if decision is not None and decision.status == "success" and decision.confidence < p.confidence_threshold:
                decision = Decision("failure", "low_confidence", decision.user_id, decision.name, decision.distance,
                                    decision.confidence, decision.matches)
        elif final or self.attempt_frames >= self.max_frames:
            decision = Decision("failure", "no_face", None, None, None, 0.0, ())
        return AuthFrame(len(result.tracks), track, decision, result.processing_time)
