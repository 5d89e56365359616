"""The synchronous per-session frame processor: detection, tracking, liveness and per-track
embedding aggregation. It runs in the app's inference thread pool, one frame at a time per
session (the session's loop awaits each call), so it needs no locks.

Why aggregate per track: one frame's embedding is noisy (blur, a blink, a half turn); the mean of
several good-quality frames of the same tracked face is what we match, and decisions are taken
per track, never per frame.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from engine import quality as quality_mod
from engine.face_engine import FaceEngine
from engine.liveness import LivenessSettings, LivenessState, LivenessTracker
from engine.tracking import IouTracker, TrackUpdate
from engine.types import Box, Detection, FloatArray, Quality
from recognition.settings import RecognitionSettings


@dataclass(frozen=True)
class TrackObservation:
    """One track in one processed frame, plus what its aggregate holds so far."""

    track_id: int
    box: Box
    quality: Quality
    liveness: LivenessState
    samples: int
    embedding: FloatArray | None  # mean of the sampled embeddings, L2-normalised
    mean_quality: float
    angles: tuple[str, ...]
    angle: str = "frontal"  # this frame's pose bin
    sample: FloatArray | None = None  # the embedding sampled on this frame, if one was


@dataclass(frozen=True)
class FrameResult:
    t: float
    width: int
    height: int
    detected: bool  # the detector ran on this frame (else boxes follow landmarks)
    tracks: tuple[TrackObservation, ...]
    dropped_tracks: tuple[int, ...]
    processing_time: float


@dataclass
class _TrackAggregate:
    liveness: LivenessTracker
    detection: Detection
    landmarks: FloatArray | None = None
    total: FloatArray | None = None
    samples: int = 0
    qualities: list[float] = field(default_factory=list)
    last_sample_t: float = -1e9
    angles: set[str] = field(default_factory=set)

    def embedding(self) -> FloatArray | None:
        if self.total is None:
            return None
        return (self.total / max(float(np.linalg.norm(self.total)), 1e-12)).astype(np.float32)


def angle_bin(yaw: float, pitch: float, degrees: float = 10.0) -> str:
    if yaw > degrees:
        return "left"
    if yaw < -degrees:
        return "right"
    if pitch > degrees:
        return "down"
    if pitch < -degrees:
        return "up"
    return "frontal"


def every_frame(settings: RecognitionSettings) -> RecognitionSettings:
    """Settings for frames that arrive one request at a time (REST sessions, WebSocket
    process_frame): consecutive uploads need not show the same scene, so detect on each."""
    return replace(settings, detect_every=1)


class FrameProcessor:
    def __init__(
        self,
        engine: FaceEngine,
        settings: RecognitionSettings,
        liveness: LivenessSettings,
        challenges: Sequence[str] = (),
        *,
        min_quality: float | None = None,
        sample_cap: int | None = None,
    ) -> None:
        """`min_quality` and `sample_cap` let a REST enrollment session apply its own
        quality_threshold and target; the stream session uses the streaming settings."""
        self._engine = engine
        self._settings = settings
        self._liveness = liveness
        self._challenges = tuple(challenges)
        self._tracker = IouTracker()
        self._tracks: dict[int, _TrackAggregate] = {}
        self._frames = 0
        self._sample_cap = sample_cap or settings.max_samples
        self._min_quality = settings.min_embed_quality if min_quality is None else min_quality

    def process(self, pixels: np.ndarray, t: float) -> FrameResult:
        """One BGR frame at media time t (seconds)."""
        started = time.perf_counter()
        detect = self._frames % self._settings.detect_every == 0 or not self._tracks
        self._frames += 1
        dets = self._detect(pixels) if detect else self._follow()
        dets = dets[: self._settings.max_faces]
        if detect:
            update = self._tracker.update([d.box for d in dets], t)
        else:  # following between detector runs keeps the ids without refreshing them in the tracker, so a
            # face that left (a ghost followed over an empty scene) ages out at the next detector runs
            update = TrackUpdate(tuple(self._tracks)[: len(dets)], ())
        for tid in update.dropped:
            self._tracks.pop(tid, None)
        observations = []
        for tid, det in zip(update.assignments, dets):
            agg = self._tracks.get(tid)
            if agg is None:
                agg = self._tracks[tid] = _TrackAggregate(
                    LivenessTracker(tid, self._liveness, self._challenges), det
                )
            observations.append(self._observe(agg, pixels, det, t, len(dets)))
            if not detect:
                self._tracker.move(tid, agg.detection.box)
        h, w = pixels.shape[:2]
        return FrameResult(
            t, w, h, detect, tuple(observations), update.dropped, time.perf_counter() - started
        )

    def _detect(self, pixels: np.ndarray) -> list[Detection]:
        # No padded retry: video frames have context, and the retry doubles the cost of empty frames.
        return self._engine.detector.detect(pixels, pad_retry=False)

    def _follow(self) -> list[Detection]:
        """Between detector runs, move each track's last detection with its landmarks' centroid."""
        return [agg.detection for agg in self._tracks.values()]

    def _observe(self, agg: _TrackAggregate, pixels: np.ndarray, det: Detection, t: float, count: int) -> TrackObservation:
        engine = self._engine
        landmarks = engine.landmarks.predict(pixels, det.box)
        if agg.landmarks is not None and det is agg.detection:
            dx, dy = (float(v) for v in landmarks.mean(axis=0) - agg.landmarks.mean(axis=0))
            shift = np.array([dx, dy], np.float32)
            b = det.box
            det = replace(
                det,
                box=Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy),
                keypoints=(det.keypoints + shift).astype(np.float32),
            )
        agg.detection, agg.landmarks = det, landmarks
        live = agg.liveness.update(t, landmarks, det.keypoints)
        quality = quality_mod.assess(pixels, det, engine.quality_settings, face_count=count)
        s = self._settings
        angle = angle_bin(quality.pose.yaw, quality.pose.pitch)
        sample = None
        if (
            quality.score >= self._min_quality
            and "extreme_pose" not in quality.obstacles
            and "face_too_small" not in quality.obstacles
            and agg.samples < self._sample_cap
            and t - agg.last_sample_t >= s.sample_spacing_s
            and live.ear >= 0.8 * live.baseline_ear  # not mid-blink: closed eyes embed worse
        ):
            vec = sample = engine.embedder.embed(pixels, det)
            agg.total = vec.copy() if agg.total is None else agg.total + vec
            agg.samples += 1
            agg.qualities.append(quality.score)
            agg.last_sample_t = t
            agg.angles.add(angle)
        return TrackObservation(
            track_id=live.track_id,
            box=det.box,
            quality=quality,
            liveness=live,
            samples=agg.samples,
            embedding=agg.embedding(),
            mean_quality=float(np.mean(agg.qualities)) if agg.qualities else 0.0,
            angles=tuple(sorted(agg.angles)),
            angle=angle,
            sample=sample,
        )
