"""Per-track liveness over frames: blinks, head pose, non-rigid motion and server challenges.

Why these signals: a printed or on-screen photo held in front of a camera can be moved, tilted
and scaled, but it moves as a plane and its eyes never close. So a track is live when
(1) its eyes close and reopen like a blink (eye aspect ratio against an adaptive per-track
baseline), (2) its landmarks deform in a way no homography explains (a head is not a plane),
and (3) it answered every server-issued challenge after the prompt and before the deadline.

Pure numpy + OpenCV, synchronous, no clocks: the caller passes the frame time `t` (seconds),
so tests replay recorded frames deterministically and the streaming layer passes media time.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.quality import estimate_pose
from engine.types import FloatArray, Pose

if TYPE_CHECKING:
    from engine.mediapipe_landmarks import MeshObservation

# Points outlining the two eyes in the 2d106 layout (DESIGN §3).
LEFT_EYE = slice(33, 43)
RIGHT_EYE = slice(87, 97)

CHALLENGES = ("blink", "turn_left", "turn_right", "nod", "head_movement")
LANDMARK_BACKENDS = ("mediapipe", "2d106")


@dataclass(frozen=True)
class LivenessSettings:
    """Liveness thresholds; defaults measured on shared/data/video (see config.yaml)."""

    # Landmark backend of liveness: "mediapipe" (Face Landmarker: blendshape eye closure checked
    # against the mesh EAR, smile, 3D head pose; engine/mediapipe_landmarks.py) or "2d106"
    # (insightface contour EAR, SCRFD keypoint pose; no smile).
    landmarks: str = "mediapipe"
    mediapipe_model: str = ""  # path of face_landmarker.task; empty = models/mediapipe/ of the repository
    closure_closed: float = 0.5  # mediapipe: eyes closed at this blendshape closure (open ~0.08, blink ~0.75)...
    closure_open: float = 0.35  # ...and open again below this
    mesh_nonrigid_threshold: float = 0.017  # mediapipe mesh: photos stay <= 0.0135, live blinks 0.018-0.024
    threshold: float = 0.7  # liveness_score needed (with the hard requirements below) to pass
    required_blinks: int = 2
    blink_close_ratio: float = 0.6  # eye closed when EAR < ratio x baseline
    blink_open_ratio: float = 0.8  # reopened when EAR > ratio x baseline
    blink_min_s: float = 0.05
    blink_max_s: float = 0.8  # longer closures are not blinks (eyes shut, or a photo swap)
    baseline_window_s: float = 4.0
    baseline_min_samples: int = 3
    nonrigid_ref_s: float = 0.4  # compare landmarks with the frame this long ago
    nonrigid_threshold: float = 0.02  # homography residual / inter-ocular distance = a deformation
    nonrigid_min_frames: int = 2  # consecutive frames above it: one-frame codec/landmark jitter is not one
    required_nonrigid_events: int = 1
    challenge_timeout_s: float = 10.0
    turn_degrees: float = 15.0
    nod_degrees: float = 10.0
    # A session that requires liveness and names no challenges gets `random_challenges` drawn
    # from this pool by the server. Blink alone by default: it is the one response measured on
    # the shared live video; widen the pool once head-turn responses are calibrated.
    challenge_pool: tuple[str, ...] = ("blink",)
    random_challenges: int = 1


@dataclass(frozen=True)
class Challenge:
    """One server prompt; a response counts only between `issued_at` and `expires_at`."""

    kind: str
    issued_at: float
    expires_at: float

    @property
    def prompt(self) -> str:
        return f"please_{self.kind}"


@dataclass(frozen=True)
class FaceSignals:
    """One frame of one track as liveness reads it, from either landmark backend."""

    points: FloatArray  # landmarks for the planar (non-rigid) test, image pixels
    interocular: float  # pixels: scale of the planar residual
    eye_ratio: float  # eye aspect ratio (larger = more open), judged against the track's own baseline
    pose: Pose
    eye_closure: float | None = None  # calibrated closure 0..1 (mediapipe blendshapes); None: EAR alone
    smile: float | None = None  # mediapipe mouthSmile* mean; None: the backend has no smile signal
    backend: str = "2d106"

    @classmethod
    def from_2d106(cls, landmarks: FloatArray, keypoints: FloatArray) -> FaceSignals:
        """106 insightface landmarks + the 5 SCRFD keypoints (pose), in pixels."""
        return cls(landmarks, interocular(landmarks), eye_aspect_ratio(landmarks), estimate_pose(keypoints))

    @classmethod
    def from_mesh(cls, mesh: MeshObservation) -> FaceSignals:
        return cls(mesh.landmarks, mesh.interocular, mesh.eye_aspect_ratio, mesh.pose, mesh.eye_closure,
                   mesh.smile, "mediapipe")


@dataclass(frozen=True)
class LivenessState:
    """Snapshot of one track's liveness after a frame (what `liveness_update` carries)."""

    track_id: int
    frames: int
    ear: float
    baseline_ear: float
    eye_closure: float | None  # mediapipe blendshape closure of this frame (None on 2d106)
    smile: float | None  # mediapipe mouthSmile* of this frame (None on 2d106)
    blink_detected: bool
    blink_count: int
    head_movement: float  # degrees: the largest yaw or pitch range seen on the track
    pose: Pose
    nonrigid_residual: float  # largest residual seen, fraction of the inter-ocular distance
    nonrigid_events: int
    challenge: Challenge | None
    challenges_completed: tuple[str, ...]
    challenges_failed: int
    liveness_score: float
    passed: bool

    @property
    def static(self) -> bool:
        """No deformation evidence: what a photo looks like."""
        return self.nonrigid_events == 0


def eye_aspect_ratio(landmarks: FloatArray) -> float:
    """Mean height/width of both eye contours, measured along the inter-ocular axis (roll-proof)."""
    left, right = landmarks[LEFT_EYE].astype(np.float64), landmarks[RIGHT_EYE].astype(np.float64)
    axis = right.mean(0) - left.mean(0)
    norm = float(np.linalg.norm(axis))
    if norm < 1e-6:
        return 0.0
    axis /= norm
    perp = np.array([-axis[1], axis[0]])
    ratios = []
    for eye in (left, right):
        along, across = eye @ axis, eye @ perp
        width = float(along.max() - along.min())
        ratios.append(float(across.max() - across.min()) / width if width > 1e-6 else 0.0)
    return float(np.mean(ratios))


def interocular(landmarks: FloatArray) -> float:
    return float(np.linalg.norm(landmarks[LEFT_EYE].mean(0) - landmarks[RIGHT_EYE].mean(0)))


def planar_residual(before: FloatArray, after: FloatArray, eye_distance: float | None = None) -> float:
    """RMS distance of `after` from `before` mapped by the best least-squares homography,
    as a fraction of the inter-ocular distance (of the 2d106 layout unless given). ~0 for a
    photo moved as a plane."""
    src, dst = before.astype(np.float64), after.astype(np.float64)
    homography, _ = cv2.findHomography(src, dst, 0)
    if homography is None:
        return 0.0
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
    rms = float(np.sqrt(((mapped - dst) ** 2).sum(axis=1).mean()))
    return rms / max(interocular(after) if eye_distance is None else eye_distance, 1e-6)


@dataclass
class _BlinkDetector:
    """Open -> closed -> open state machine against a rolling high-percentile baseline."""

    settings: LivenessSettings
    history: deque[tuple[float, float]] = field(default_factory=deque)
    closed_since: float | None = None
    baseline: float = 0.0
    blinks: list[tuple[float, float]] = field(default_factory=list)  # (closed at, reopened at)

    def update(self, t: float, ear: float, closure: float | None = None) -> tuple[float, float] | None:
        """`closure` (mediapipe blendshapes) decides closed/open; the EAR must agree that the
        eyes closed (cross-check), so one noisy blendshape frame is not a blink."""
        s = self.settings
        if len(self.history) >= s.baseline_min_samples:
            self.baseline = float(np.percentile([e for _, e in self.history], 90))
        ready = self.baseline > 0
        if closure is None:
            closed = ear < s.blink_close_ratio * self.baseline
            opened = ear > s.blink_open_ratio * self.baseline
        else:
            closed = closure >= s.closure_closed and ear < s.blink_close_ratio * self.baseline
            opened = closure < s.closure_open
        blink = None
        if ready and self.closed_since is None and closed:
            self.closed_since = t
        elif ready and self.closed_since is not None and opened:
            duration = t - self.closed_since
            if s.blink_min_s <= duration <= s.blink_max_s:
                blink = (self.closed_since, t)
                self.blinks.append(blink)
            self.closed_since = None
        # Closed-eye samples stay out of the baseline so a long closure cannot drag it down.
        if self.closed_since is None:
            self.history.append((t, ear))
        while self.history and self.history[0][0] < t - s.baseline_window_s:
            self.history.popleft()
        return blink


class LivenessTracker:
    """Liveness evidence for one tracked face. Feed it every processed frame of that track.

    `challenges` are the kinds the session asked for; they are issued one at a time in an
    order drawn from `rng` (a SystemRandom by default, so a client cannot predict them).
    """

    def __init__(
        self,
        track_id: int,
        settings: LivenessSettings,
        challenges: Sequence[str] = (),
        rng: random.Random | None = None,
    ) -> None:
        unknown = [c for c in challenges if c not in CHALLENGES]
        if unknown:
            raise ValueError(f"unknown liveness challenge(s): {', '.join(unknown)}")
        self.track_id = track_id
        self.settings = settings
        self._pending = list(challenges)
        (rng or random.SystemRandom()).shuffle(self._pending)
        self._requested = len(self._pending)
        self._blink = _BlinkDetector(settings)
        self._recent: deque[tuple[float, FloatArray]] = deque()
        self._frames = 0
        self._max_residual = 0.0
        self._max_ratio = 0.0  # largest residual / the backend's threshold
        self._nonrigid_events = 0
        self._above_run = 0
        self._yaws: list[float] = []
        self._pitches: list[float] = []
        self._pose = Pose(0.0, 0.0, 0.0)
        self._challenge: Challenge | None = None
        self._challenge_ref: Pose | None = None
        self._completed: list[str] = []
        self._failed = 0
        self._passed = False
        self._last_ear = 0.0
        self._last_closure: float | None = None
        self._last_smile: float | None = None

    def update(self, t: float, landmarks: FloatArray, keypoints: FloatArray) -> LivenessState:
        """Add one frame of this track: 106 landmarks and the 5 detector keypoints, in pixels."""
        return self.observe(t, FaceSignals.from_2d106(landmarks, keypoints))

    def observe(self, t: float, signals: FaceSignals) -> LivenessState:
        """Add one frame of this track, from either landmark backend."""
        s = self.settings
        self._frames += 1
        ear = signals.eye_ratio
        self._last_ear = ear
        self._last_closure = signals.eye_closure
        self._last_smile = signals.smile
        blink = self._blink.update(t, ear, signals.eye_closure)
        self._pose = signals.pose
        self._yaws.append(self._pose.yaw)
        self._pitches.append(self._pose.pitch)
        threshold = s.mesh_nonrigid_threshold if signals.backend == "mediapipe" else s.nonrigid_threshold
        self._update_nonrigid(t, signals.points, signals.interocular, threshold)
        self._update_challenge(t, blink)
        score = self._score()
        if not self._passed:
            self._passed = (
                score >= s.threshold
                and len(self._blink.blinks) >= s.required_blinks
                and self._nonrigid_events >= s.required_nonrigid_events
                and not self._pending
                and self._challenge is None
            )
        return self.state(score)

    def state(self, score: float | None = None) -> LivenessState:
        return LivenessState(
            track_id=self.track_id,
            frames=self._frames,
            ear=round(self._last_ear, 4),
            baseline_ear=round(self._blink.baseline, 4),
            eye_closure=None if self._last_closure is None else round(self._last_closure, 3),
            smile=None if self._last_smile is None else round(self._last_smile, 3),
            blink_detected=bool(self._blink.blinks),
            blink_count=len(self._blink.blinks),
            head_movement=round(self._head_movement(), 2),
            pose=self._pose,
            nonrigid_residual=round(self._max_residual, 5),
            nonrigid_events=self._nonrigid_events,
            challenge=self._challenge,
            challenges_completed=tuple(self._completed),
            challenges_failed=self._failed,
            liveness_score=round(self._score() if score is None else score, 4),
            passed=self._passed,
        )

    def _head_movement(self) -> float:
        if not self._yaws:
            return 0.0
        return max(float(np.ptp(self._yaws)), float(np.ptp(self._pitches)))

    def _update_nonrigid(self, t: float, landmarks: FloatArray, eye_distance: float, threshold: float) -> None:
        """Count deformation events: residual above threshold for a few frames, once per excursion."""
        s = self.settings
        self._recent.append((t, landmarks.copy()))
        ref = None
        while len(self._recent) > 1 and self._recent[0][0] <= t - s.nonrigid_ref_s:
            ref = self._recent.popleft()
        if ref is not None:
            self._recent.appendleft(ref)  # keep the newest frame that is old enough as reference
            residual = planar_residual(ref[1], landmarks, eye_distance)
            self._max_residual = max(self._max_residual, residual)
            self._max_ratio = max(self._max_ratio, residual / threshold)
            self._above_run = self._above_run + 1 if residual >= threshold else 0
            if self._above_run == s.nonrigid_min_frames:
                self._nonrigid_events += 1

    def _update_challenge(self, t: float, blink: tuple[float, float] | None) -> None:
        s = self.settings
        if self._challenge is None:
            if not self._pending or self._blink.baseline <= 0:
                return
            kind = self._pending[0]
            self._challenge = Challenge(kind, t, t + s.challenge_timeout_s)
            self._challenge_ref = None
            return
        ch = self._challenge
        if t > ch.expires_at:
            # Missed: a fresh prompt of the same kind, counted as a failure.
            self._failed += 1
            self._challenge = Challenge(ch.kind, t, t + s.challenge_timeout_s)
            self._challenge_ref = None
            return
        if self._challenge_ref is None:
            self._challenge_ref = self._pose  # first pose seen after the prompt
            return
        ref, pose = self._challenge_ref, self._pose
        done = {
            "blink": blink is not None and blink[0] >= ch.issued_at,
            "turn_left": pose.yaw - ref.yaw >= s.turn_degrees,
            "turn_right": ref.yaw - pose.yaw >= s.turn_degrees,
            "nod": abs(pose.pitch - ref.pitch) >= s.nod_degrees,
            "head_movement": max(abs(pose.yaw - ref.yaw), abs(pose.pitch - ref.pitch)) >= s.nod_degrees,
        }[ch.kind]
        if done:
            self._completed.append(ch.kind)
            self._pending.pop(0)
            self._challenge = None

    def _score(self) -> float:
        s = self.settings
        blink_s = min(len(self._blink.blinks) / max(s.required_blinks, 1), 1.0)
        nonrigid_s = float(np.clip((self._max_ratio - 0.5) / 0.5, 0.0, 1.0))
        if self._nonrigid_events < s.required_nonrigid_events:
            nonrigid_s = min(nonrigid_s, 0.5)
        if not self._requested:
            return 0.55 * blink_s + 0.45 * nonrigid_s
        challenge_s = len(self._completed) / self._requested
        return 0.4 * blink_s + 0.3 * nonrigid_s + 0.3 * challenge_s
