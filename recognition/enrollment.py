"""In-progress state of one enrollment session: frames in, samples and liveness out.

Why samples are bound to one track: liveness is proven per tracked face, so the face whose
embeddings become the template must be the face that blinked. When the tracked face is lost or
replaced, the samples collected so far are discarded rather than mixed with another face.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.face_engine import FaceEngine
from engine.liveness import LivenessState
from engine.liveness_settings import LivenessSettings
from engine.types import FloatArray, Quality
from recognition import feedback as fb
from recognition.clock import FrameClock
from engine.types import Sample
from recognition.processor import FrameProcessor, FrameResult, TrackObservation, every_frame
from recognition.settings import RecognitionSettings


@dataclass(frozen=True)
class EnrollmentParams:
    user_id: str
    target_samples: int
    quality_threshold: float
    require_multiple_angles: bool
    require_liveness: bool
    auto_complete: bool

    @property
    def required_angles(self) -> tuple[str, ...]:
        return ("front", "left", "right") if self.require_multiple_angles else ("front",)


@dataclass(frozen=True)
class EnrollFrame:
    """What one frame did to the session."""

    faces: int
    accepted: bool
    quality: Quality | None
    liveness: LivenessState | None
    feedback: fb.Feedback
    restarted: bool = False
    result: FrameResult | None = None
    track: TrackObservation | None = None


@dataclass
class EnrollmentState:
    session_id: str
    client_id: int
    expires_at: float  # unix seconds
    params: EnrollmentParams
    processor: FrameProcessor
    clock: FrameClock = field(default_factory=FrameClock)
    samples: list[Sample] = field(default_factory=list)
    track_id: int | None = None
    liveness: LivenessState | None = None
    frames: int = 0

    @classmethod
    def new(cls, session_id: str, client_id: int, expires_at: float, params: EnrollmentParams, engine: FaceEngine,
            settings: RecognitionSettings, liveness: LivenessSettings, challenges: tuple[str, ...] = (),
            continuous: bool = False, policy: str = "challenge") -> "EnrollmentState":
        """`continuous` video (WebRTC, cameras) may track between detector runs; posted frames detect each."""
        processor = FrameProcessor(engine, settings if continuous else every_frame(settings), liveness, challenges,
                                   min_quality=params.quality_threshold, sample_cap=params.target_samples * 4 + 16,
                                   policy=policy)
        return cls(session_id, client_id, expires_at, params, processor)

    def close(self) -> None:
        """Frees the processor's per-track landmarkers (the session registry calls it)."""
        self.processor.close()

    # -- derived ---------------------------------------------------------------------------

    @property
    def angles(self) -> list[str]:
        return sorted({s.angle for s in self.samples if s.angle})

    @property
    def missing_angles(self) -> list[str]:
        have = set(self.angles)
        return [a for a in self.params.required_angles if a not in have]

    @property
    def samples_done(self) -> bool:
        return len(self.samples) >= self.params.target_samples

    @property
    def liveness_verified(self) -> bool:
        return bool(self.liveness and self.liveness.passed)

    @property
    def ready(self) -> bool:
        """Enough good samples at every required angle, and liveness if the session demands it."""
        return self.samples_done and not self.missing_angles and (
            self.liveness_verified or not self.params.require_liveness)

    @property
    def mean_quality(self) -> float:
        return float(np.mean([s.quality for s in self.samples])) if self.samples else 0.0

    def template(self) -> Sample:
        """Quality-weighted mean of the samples, re-normalised to unit length."""
        weights = np.array([max(s.quality, 1e-3) for s in self.samples], np.float32)
        stacked = np.stack([s.embedding for s in self.samples]).astype(np.float32)
        mean = (stacked * weights[:, None]).sum(axis=0)
        vec: FloatArray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return Sample(vec, round(self.mean_quality, 4), None)

    # -- one frame (executor side) ---------------------------------------------------------

    def process(self, pixels: np.ndarray, t: float) -> EnrollFrame:
        self.frames += 1
        result = self.processor.process(pixels, t)
        tracks = result.tracks
        if not tracks:
            return EnrollFrame(0, False, None, self.liveness, fb.NO_FACE, result=result)
        if len(tracks) > 1:
            return EnrollFrame(len(tracks), False, tracks[0].quality, self.liveness, fb.MULTIPLE_FACES, result=result,
                               track=tracks[0])
        obs = tracks[0]
        restarted = self.track_id is not None and obs.track_id != self.track_id
        if restarted:
            self.samples.clear()  # a different face (or the face was lost): start over
        self.track_id = obs.track_id
        self.liveness = obs.liveness
        problem = fb.quality_feedback(obs.quality, self.params.quality_threshold)
        if problem is not None:
            return EnrollFrame(1, False, obs.quality, obs.liveness, fb.with_prompt(problem, obs.liveness), restarted,
                               result, obs)
        angle = fb.angle_of(obs.angle)
        accepted = obs.sample is not None and (not self.samples_done or angle in self.missing_angles)
        if accepted:
            assert obs.sample is not None
            self.samples.append(Sample(obs.sample, obs.quality.score, angle))
        message = fb.progress_feedback(
            self.missing_angles, self.samples_done, self.params.require_liveness and not self.liveness_verified
        )
        if self.params.require_liveness:
            message = fb.with_prompt(message, obs.liveness)
        return EnrollFrame(1, accepted, obs.quality, obs.liveness, message, restarted, result, obs)
