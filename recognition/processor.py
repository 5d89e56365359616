"""The synchronous per-session frame processor: detection, tracking, liveness and per-track
embedding aggregation. It runs in the app's inference thread pool, one frame at a time per
session (the session's loop awaits each call), so it needs no locks.

Why aggregate per track: one frame's embedding is noisy (blur, a blink, a half turn); the mean of
several good-quality frames of the same tracked face is what we match, and decisions are taken
per track, never per frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from engine import quality as quality_mod
from engine.face_engine import FaceEngine
from engine.antispoof import PassiveAntiSpoof, shared_antispoof
from engine.liveness import FaceSignals, LivenessState, LivenessTracker
from engine.liveness_settings import LivenessSettings
from engine.mediapipe_landmarks import MeshLandmarker, MeshPool, shared_pool
from engine.timings import StageTimer
from engine.tracking import IouTracker
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
    dropped_tracks: tuple[int, ...]  # tracks that ended on this frame: left the frame, or replaced by another person
    processing_time: float
    # Milliseconds per stage of this frame (engine/timings.py): detect, landmarks, embed here;
    # the session adds decode and search.
    timings: dict[str, float | None] = field(default_factory=dict)


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
    mesh: MeshLandmarker | None = None  # liveness.landmarks = mediapipe: this track's own landmarker
    pool: MeshPool | None = None  # where the landmarker goes back when the track ends
    missed: int = 0  # consecutive processed frames without this track
    last_embed_t: float = -1e9
    # Liveness decided (passed, or the sequence failed; both final) and the landmarker given back:
    # 2d106 follows the box from then on and the liveness state stays as it was decided.
    settled: bool = False

    def close(self) -> None:
        mesh, self.mesh = self.mesh, None
        if mesh is not None and self.pool is not None:
            self.pool.give_back(mesh)

    def embedding(self) -> FloatArray | None:
        if self.total is None:
            return None
        return (self.total / max(float(np.linalg.norm(self.total)), 1e-12)).astype(np.float32)


def angle_bin(yaw: float, pitch: float, degrees: float = 10.0) -> str:
    """The pose bin in the person's own directions, as enrollment hints name them ("turn your
    head slightly to the left"): yaw > 0 is a turn to their right (measured on
    shared/data/video/motions/turns_intel_female.gif)."""
    if yaw > degrees:
        return "right"
    if yaw < -degrees:
        return "left"
    if pitch > degrees:
        return "down"
    if pitch < -degrees:
        return "up"
    return "frontal"


def every_frame(settings: RecognitionSettings) -> RecognitionSettings:
    """Settings for frames that arrive one request at a time (REST sessions, WebSocket
    process_frame): consecutive uploads need not show the same scene, so detect on each."""
    return replace(settings, detect_every=1, track_det_size=0)


SMALL_MIN_FACE = 64  # px a held face must have at recognition.track_det_size for the small input


class FrameProcessor:
    """Frames of one session in order. With `liveness.landmarks: mediapipe` every track leases a
    MediaPipe landmarker (~22 MiB) from `meshes` (default: the process's shared pool) until its
    liveness is decided (then 2d106, ~0.7x the CPU, follows it, where the profile has it):
    `close()` gives them back (the owner of the processor calls it; dropped and decided tracks
    give theirs at once)."""

    def __init__(
        self,
        engine: FaceEngine,
        settings: RecognitionSettings,
        liveness: LivenessSettings,
        challenges: Sequence[str] = (),
        *,
        min_quality: float | None = None,
        sample_cap: int | None = None,
        meshes: MeshPool | None = None,
        policy: str = "challenge",
    ) -> None:
        """`min_quality` and `sample_cap` let a REST enrollment session apply its own
        quality_threshold and target; the stream session uses the streaming settings."""
        if engine.landmarks is None and liveness.landmarks != "mediapipe":  # the config refuses it too
            raise ValueError("this engine profile has no 2d106 landmark model: liveness.landmarks must be mediapipe")
        self._engine = engine
        self._settings = settings
        self._liveness = liveness
        self._challenges = tuple(challenges)
        self._tracker = IouTracker()
        self._tracks: dict[int, _TrackAggregate] = {}
        self._frames = 0
        self._detections = 0  # detector runs: every full_detect_every-th one is at full size
        self._sample_cap = sample_cap or settings.max_samples
        self._min_quality = settings.min_embed_quality if min_quality is None else min_quality
        self._meshes = meshes
        self._policy = policy
        # Door cameras (passive policy): MiniFASNet, a share of the score and a veto on consecutive spoof frames.
        self._pad: PassiveAntiSpoof | None = (
            shared_antispoof(engine.settings, liveness.pad_model_dir) if policy == "passive" else None)
        self._lock = threading.Lock()  # close() from another thread waits for a frame in progress
        self._closed = False

    def close(self) -> None:
        """Free every track's landmarker; idempotent. Later frames are refused."""
        with self._lock:
            self._closed = True
            for agg in self._tracks.values():
                agg.close()
            self._tracks.clear()

    def process(self, pixels: np.ndarray, t: float) -> FrameResult:
        """One BGR frame at media time t (seconds)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("frame processor is closed")
            return self._process(pixels, t)

    def _process(self, pixels: np.ndarray, t: float) -> FrameResult:
        started = time.perf_counter()
        timer = StageTimer()
        followed = any(a.missed == 0 for a in self._tracks.values())
        detect = self._frames % self._settings.detect_every == 0 or not followed
        self._frames += 1
        with timer.stage("detect"):
            dets = self._detect(pixels) if detect else self._follow()
        dets = dets[: self._settings.max_faces]
        update = self._tracker.update([d.box for d in dets], t)
        dropped = list(update.dropped)
        seen = set(update.assignments)
        for tid, agg in list(self._tracks.items()):
            if tid in seen:
                agg.missed = 0
                continue
            agg.missed += 1
            if agg.missed >= self._settings.track_max_missed and tid not in dropped:
                self._tracker.forget(tid)
                dropped.append(tid)
        for tid in dropped:
            self._end_track(tid)
        observations = []
        for tid, det in zip(update.assignments, dets):
            obs = self._observe(self._aggregate(tid, det), pixels, det, t, len(dets), timer, detect)
            if obs is None:  # another person stands where this track was: end it, start anew
                self._tracker.forget(tid)
                self._end_track(tid)
                dropped.append(tid)
                tid = self._tracker.start(det.box, t)
                obs = self._observe(self._aggregate(tid, det), pixels, det, t, len(dets), timer, detect)
                assert obs is not None  # a fresh track has no mean to disagree with
            observations.append(obs)
        h, w = pixels.shape[:2]
        return FrameResult(
            t, w, h, detect, tuple(observations), tuple(dropped), time.perf_counter() - started, timer.as_dict()
        )

    def _landmarks(self, agg: _TrackAggregate, pixels: np.ndarray, det: Detection, t: float
                   ) -> tuple[FloatArray | None, FaceSignals | None]:
        """This track's landmarks (for following its box) and liveness signals, from the backend."""
        if agg.mesh is None:
            model = self._engine.landmarks
            assert model is not None  # without a 2d106 model every track has a mesh (__init__)
            landmarks = model.predict(pixels, det.box)
            return landmarks, None if agg.settled else FaceSignals.from_2d106(landmarks, det.keypoints)
        mesh = agg.mesh.observe(pixels, det.box, t)
        return (None, None) if mesh is None else (mesh.landmarks, FaceSignals.from_mesh(mesh))

    def _needs_landmarks(self, agg: _TrackAggregate, t: float, detected: bool) -> bool:
        """Landmarks feed liveness until it is decided, and move the box between detector runs so
        a due sample is aligned (detector frames set the baseline for that). A decided track
        whose samples are all taken needs neither: it keeps the detector's box until the next run
        (at most detect_every - 1 frames), and the landmark model, most of such a frame's CPU,
        does not run. Identity re-checks align with the detector's own keypoints."""
        if not agg.settled or agg.mesh is not None:
            return True
        if agg.samples >= self._sample_cap:
            agg.landmarks = None  # no baseline left behind for a box that no longer follows
            return False
        return detected or t - agg.last_sample_t >= self._settings.sample_spacing_s

    def _with_pad(self, signals: FaceSignals | None, pixels: np.ndarray, det: Detection) -> FaceSignals | None:
        if signals is None or self._pad is None:
            return signals
        return replace(signals, pad_real=self._pad.real_probability(pixels, det.box))

    def _aggregate(self, tid: int, det: Detection) -> _TrackAggregate:
        agg = self._tracks.get(tid)
        if agg is None:
            agg = self._tracks[tid] = _TrackAggregate(
                LivenessTracker(tid, self._liveness, self._challenges, policy=self._policy), det
            )
            if self._liveness.landmarks == "mediapipe":
                agg.pool = self._meshes or shared_pool(self._liveness.mediapipe_model)
                agg.mesh = agg.pool.lease()
        return agg

    def _end_track(self, tid: int) -> None:
        gone = self._tracks.pop(tid, None)
        if gone is not None:
            gone.close()  # its MediaPipe landmarker goes back to the pool

    def _detect(self, pixels: np.ndarray) -> list[Detection]:
        """While a track is held, most detector runs are at the small tracking size; the full size
        re-acquires (no track, or the small run found nothing) and runs periodically for faces
        that enter small. No padded retry: video frames have context, and the retry doubles
        the cost of empty frames."""
        small = self._settings.track_det_size
        held = [a.detection.box for a in self._tracks.values() if a.missed == 0]
        # Faces under ~64 px at the small input lose keypoint precision (embeddings drift) or vanish.
        large = bool(held) and min(b.height for b in held) * small >= SMALL_MIN_FACE * max(pixels.shape[:2])
        full = not small or not large or self._detections % self._settings.full_detect_every == 0
        self._detections += 1
        detector = self._engine.detector
        found = [] if full else detector.detect(pixels, input_size=small, pad_retry=False)
        # Fewer faces than tracks held: one may be missed at the small size, look at full size.
        full_size = self._settings.det_size or None  # a door camera's det_size, else the engine's
        return found if len(found) >= len(held) and found else detector.detect(pixels, full_size, pad_retry=False)

    def _follow(self) -> list[Detection]:
        """Between detector runs, move each track's last detection with its landmarks' centroid.
        Only tracks seen on the last frame are followed: following a face the detector no longer
        finds would keep a departed person's box (and name) on screen."""
        return [agg.detection for agg in self._tracks.values() if agg.missed == 0]

    def _observe(
        self, agg: _TrackAggregate, pixels: np.ndarray, det: Detection, t: float, count: int,
        timer: StageTimer, detected: bool,
    ) -> TrackObservation | None:
        """None when this frame's face embeds as someone else than the track's mean so far."""
        engine = self._engine
        landmarks, signals = None, None
        if self._needs_landmarks(agg, t, detected):
            with timer.stage("landmarks"):
                landmarks, signals = self._landmarks(agg, pixels, det, t)
        if landmarks is not None and agg.landmarks is not None and det is agg.detection:
            dx, dy = (float(v) for v in landmarks.mean(axis=0) - agg.landmarks.mean(axis=0))
            shift = np.array([dx, dy], np.float32)
            b = det.box
            det = replace(
                det,
                box=Box(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy),
                keypoints=(det.keypoints + shift).astype(np.float32),
            )
        agg.detection, agg.landmarks = det, landmarks if landmarks is not None else agg.landmarks
        # A frame where the mesh finds no face (the box drifted) adds no liveness evidence.
        signals = self._with_pad(signals, pixels, det)
        live = agg.liveness.observe(t, signals) if signals is not None else agg.liveness.state()
        decided = live.passed or live.sequence_failed or live.presentation_attack
        if agg.mesh is not None and decided and engine.landmarks is not None:
            # Decided for good: MediaPipe (~1.5x the CPU of 2d106) is only needed to prove it.
            agg.close()
            agg.settled, agg.landmarks = True, None  # no centroid shift across the two backends
        quality = quality_mod.assess(pixels, det, engine.quality_settings, face_count=count)
        s = self._settings
        angle = angle_bin(quality.pose.yaw, quality.pose.pitch)
        sample = None
        usable = (
            quality.score >= self._min_quality
            and "extreme_pose" not in quality.obstacles
            and "face_too_small" not in quality.obstacles
        )
        take = (
            usable
            and agg.samples < self._sample_cap
            and t - agg.last_sample_t >= s.sample_spacing_s
            # not mid-blink (closed eyes embed worse); once settled no eye signal is read any more
            and (agg.settled or live.ear >= 0.8 * live.baseline_ear)
        )
        # After the sample cap (or while blinks keep vetoing samples), still embed now and then:
        # only an embedding tells that another person stepped into this track's place. On
        # detector frames: their keypoints, not ones moved with the landmarks, align the face.
        check = (usable and detected and agg.total is not None
                 and t - agg.last_embed_t >= s.identity_check_s)
        if take or check:
            with timer.stage("embed"):
                vec = engine.embedder.embed(pixels, det)
            agg.last_embed_t = t
            mean = agg.embedding()
            if mean is not None and float(np.dot(mean, vec)) < s.track_split_similarity:
                return None
        if take:
            sample = vec
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
