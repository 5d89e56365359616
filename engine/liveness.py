"""Per-track liveness over frames: blinks, head pose, non-rigid motion and server challenges.

Why these signals: a printed or on-screen photo held in front of a camera can be moved, tilted
and scaled, but it moves as a plane and its eyes never close. So a track is live when
(1) its eyes close and reopen like a blink (eye aspect ratio against an adaptive per-track
baseline), (2) its landmarks deform in a way no homography explains (a head is not a plane),
and (3) it answered every server-issued challenge after the prompt and before the deadline.

Why challenges on screens: a replayed recording of the enrolled person blinks and deforms too;
it cannot answer a random prompt on cue. So screen sessions ("challenge" policy) must answer a
random sequence (by default two different kinds, so at most one blink: a recording blinks by
chance), while door cameras ("passive" policy, nobody to prompt) fuse a recent blink, non-rigid
motion and MiniFASNet: a face it scores spoof over several consecutive frames is refused
(`presentation_attack`) whether or not it blinks, since a phone replaying a video blinks too.
Eyes come from either landmark backend (FaceSignals):
MediaPipe blendshapes cross-checked by the mesh EAR, or the 2d106 contour EAR.

Pure numpy + OpenCV, synchronous, no clocks: the caller passes the frame time `t` (seconds),
so tests replay recorded frames deterministically and the streaming layer passes media time.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.challenges import Challenge, answerable
from engine.face_geometry import eye_aspect_ratio, interocular, planar_residual
from engine.liveness_settings import CHALLENGES, POLICIES, LivenessSettings
from engine.quality import estimate_pose
from engine.types import FloatArray, Pose

if TYPE_CHECKING:
    from engine.mediapipe_landmarks import MeshObservation

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
    pad_real: float | None = None  # MiniFASNet real-class probability (passive policy), advisory
    eye_asymmetry: float = 0.0  # mediapipe |left - right| eye closure: a wink closes one eye

    @classmethod
    def from_2d106(cls, landmarks: FloatArray, keypoints: FloatArray) -> FaceSignals:
        """106 insightface landmarks + the 5 SCRFD keypoints (pose), in pixels."""
        return cls(landmarks, interocular(landmarks), eye_aspect_ratio(landmarks), estimate_pose(keypoints))

    @classmethod
    def from_mesh(cls, mesh: MeshObservation) -> FaceSignals:
        return cls(mesh.landmarks, mesh.interocular, mesh.eye_aspect_ratio, mesh.pose, mesh.eye_closure,
                   mesh.smile, "mediapipe", eye_asymmetry=mesh.eye_asymmetry)


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
    policy: str = "challenge"
    t: float = 0.0  # media time of the frame this state follows
    challenges_required: int = 0  # correct answers the sequence needs
    sequence_failed: bool = False  # max_challenge_failures wrong/late answers: a decided liveness failure
    pad_real: float | None = None  # latest MiniFASNet real probability (passive policy)
    # MiniFASNet scored pad_spoof_frames consecutive frames under pad_spoof_threshold (passive
    # policy): a print or a screen; decided for good, the track never passes.
    presentation_attack: bool = False
    signals: tuple[tuple[str, float], ...] = ()  # per-signal parts of liveness_score (0..1 each)

    @property
    def challenge_time_left(self) -> float | None:
        return None if self.challenge is None else round(max(self.challenge.expires_at - self.t, 0.0), 3)

    @property
    def static(self) -> bool:
        """No deformation evidence: what a photo looks like."""
        return self.nonrigid_events == 0


@dataclass
class _BlinkDetector:
    """Open -> closed -> open state machine against a rolling high-percentile baseline."""

    settings: LivenessSettings
    history: deque[tuple[float, float]] = field(default_factory=deque)
    closed_since: float | None = None
    baseline: float = 0.0
    blinks: list[tuple[float, float]] = field(default_factory=list)  # (closed at, reopened at)
    asymmetry: float = 0.0  # the largest left/right closure difference of the closure under way

    def update(self, t: float, ear: float, closure: float | None = None,
               asymmetry: float = 0.0) -> tuple[float, float] | None:
        """`closure` (mediapipe blendshapes) decides closed/open; the EAR must agree that the
        eyes closed (cross-check), so one noisy blendshape frame is not a blink. A closure during
        which one eye stayed much more open than the other (`asymmetry`, mediapipe) is a wink."""
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
            self.asymmetry = asymmetry
        elif ready and self.closed_since is not None and not opened:
            self.asymmetry = max(self.asymmetry, asymmetry)
        elif ready and self.closed_since is not None and opened:
            duration = t - self.closed_since
            if s.blink_min_s <= duration <= s.blink_max_s and self.asymmetry <= s.wink_asymmetry:
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

    Policies: "challenge" (screens) issues the session's `challenges` one at a time, in an order
    drawn from `rng` (a SystemRandom by default, so a client cannot predict them), each with a
    deadline; a wrong or late answer issues another kind from the pool, and after
    `max_challenge_failures` the sequence has failed (`sequence_failed`). "passive" (door cameras)
    asks nothing: a blink, non-rigid motion and a MiniFASNet score, fused; MiniFASNet also vetoes
    (`presentation_attack`) and, where it scores the frames at all, must have seen
    `pad_spoof_frames` of them before the track passes.
    """

    def __init__(
        self,
        track_id: int,
        settings: LivenessSettings,
        challenges: Sequence[str] = (),
        rng: random.Random | None = None,
        policy: str = "challenge",
    ) -> None:
        unknown = [c for c in challenges if c not in CHALLENGES]
        if unknown:
            raise ValueError(f"unknown liveness challenge(s): {', '.join(unknown)}")
        if policy not in POLICIES:
            raise ValueError(f"unknown liveness policy {policy!r}")
        self.track_id = track_id
        self.settings = settings
        self.policy = policy
        self._rng = rng or random.SystemRandom()
        self._pending = list(challenges) if policy == "challenge" else []
        self._rng.shuffle(self._pending)
        self._requested = len(self._pending)
        self._blink = _BlinkDetector(settings)
        self._recent: deque[tuple[float, FloatArray]] = deque()
        self._frames = 0
        self._first_t: float | None = None
        self._t = 0.0
        self._max_residual = 0.0
        self._max_ratio = 0.0  # largest residual / the backend's threshold
        self._nonrigid_events = 0
        self._above_run = 0
        self._yaws: list[float] = []
        self._pitches: list[float] = []
        self._pose = Pose(0.0, 0.0, 0.0)
        self._challenge: Challenge | None = None
        self._challenge_ref: Pose | None = None
        self._smile_low_seen = False
        self._completed: list[str] = []
        self._failed = 0
        self._sequence_failed = False
        self._passed = False
        self._last_ear = 0.0
        self._last_closure: float | None = None
        self._last_smile: float | None = None
        self._pad: list[float] = []
        self._pad_under = 0  # consecutive scored frames under pad_spoof_threshold
        self._attack = False

    def update(self, t: float, landmarks: FloatArray, keypoints: FloatArray) -> LivenessState:
        """Add one frame of this track: 106 landmarks and the 5 detector keypoints, in pixels."""
        return self.observe(t, FaceSignals.from_2d106(landmarks, keypoints))

    def observe(self, t: float, signals: FaceSignals) -> LivenessState:
        """Add one frame of this track, from either landmark backend."""
        s = self.settings
        self._frames += 1
        self._t = t
        if self._first_t is None:
            self._first_t = t
        ear = signals.eye_ratio
        self._last_ear = ear
        self._last_closure = signals.eye_closure
        self._last_smile = signals.smile
        if signals.pad_real is not None:
            self._pad.append(signals.pad_real)
            self._pad_under = self._pad_under + 1 if signals.pad_real < s.pad_spoof_threshold else 0
            if self.policy == "passive" and 0 < s.pad_spoof_frames <= self._pad_under:
                self._attack, self._passed = True, False
        blink = self._blink.update(t, ear, signals.eye_closure, signals.eye_asymmetry)
        self._pose = signals.pose
        self._yaws.append(self._pose.yaw)
        self._pitches.append(self._pose.pitch)
        threshold = s.mesh_nonrigid_threshold if signals.backend == "mediapipe" else s.nonrigid_threshold
        self._update_nonrigid(t, signals.points, signals.interocular, threshold)
        if blink is not None and signals.eye_closure is not None:
            # A blink seen by both the blendshapes and the mesh EAR (which collapses to ~0.1 of
            # its open level) is itself a deformation no plane makes; the global mesh residual
            # dilutes the eyelids among 478 points and at 10-15 fps can stay under its threshold.
            self._nonrigid_events += 1
        if self.policy == "challenge":
            self._update_challenge(t, blink, signals.smile)
        parts = self._parts()
        score = self._fuse(parts)
        if not self._passed and not self._sequence_failed and not self._attack:
            if self._requested:  # every prompt answered, and a blink (asked or natural): photos never blink
                proven = not self._pending and self._challenge is None and len(self._blink.blinks) >= s.required_blinks
            elif self.policy == "passive":  # blinks within the approach window, and MiniFASNet has looked
                proven = sum(1 for _, end in self._blink.blinks if t - end <= s.approach_window_s) >= s.required_blinks
                proven = proven and (not self._pad or len(self._pad) >= s.pad_spoof_frames)
            else:
                proven = len(self._blink.blinks) >= s.required_blinks
            self._passed = (
                proven and score >= s.threshold and self._nonrigid_events >= s.required_nonrigid_events
            )
        return self.state(score, parts)

    def state(self, score: float | None = None, parts: dict[str, float] | None = None) -> LivenessState:
        parts = self._parts() if parts is None else parts
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
            liveness_score=round(self._fuse(parts) if score is None else score, 4),
            passed=self._passed,
            policy=self.policy,
            t=self._t,
            challenges_required=self._requested,
            sequence_failed=self._sequence_failed,
            pad_real=round(self._pad[-1], 4) if self._pad else None,
            presentation_attack=self._attack,
            signals=tuple((k, round(v, 4)) for k, v in parts.items()),
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

    # -- challenge-response -------------------------------------------------------------------

    def _issue(self, t: float, kind: str) -> None:
        self._challenge = Challenge(kind, t, t + self.settings.challenge_timeout_s)
        self._challenge_ref = self._pose  # the pose when prompted: turns and nods are measured from it
        self._smile_low_seen = False

    def _update_challenge(self, t: float, blink: tuple[float, float] | None, smile: float | None) -> None:
        s = self.settings
        assert self._first_t is not None
        if self._sequence_failed:
            return
        if self._challenge is None:
            if not self._pending or self._blink.baseline <= 0:
                return
            if s.natural_blink_s > 0 and not self._completed and not self._failed and blink is not None \
                    and blink[1] <= self._first_t + s.natural_blink_s:
                self._pending.clear()  # a natural blink in time stands in for the challenges (replay-unsafe)
                self._requested = 0
                return
            if t < self._first_t + max(s.challenge_after_s, s.natural_blink_s):
                return
            self._issue(t, self._pending[0])
            return
        ch = self._challenge
        ref = self._challenge_ref or self._pose
        pose = self._pose
        reacted = t - ch.issued_at >= s.min_reaction_s
        if smile is not None and smile < s.smile_threshold:
            self._smile_low_seen = True
        done = reacted and {
            # the closure must begin after the person could have reacted to the prompt
            "blink": blink is not None and blink[0] >= ch.issued_at + s.min_reaction_s,
            # yaw grows as the person turns to *their* right (both backends; measured on
            # shared/data/video/motions/turns_intel_female.gif: +50 deg turned to her right, -29
            # deg to her left). Prompts name the person's own side, as a mirror-free camera sees it.
            "turn_left": ref.yaw - pose.yaw >= s.turn_degrees,
            "turn_right": pose.yaw - ref.yaw >= s.turn_degrees,
            "nod": abs(pose.pitch - ref.pitch) >= s.nod_degrees,
            "smile": smile is not None and smile >= s.smile_threshold and self._smile_low_seen,
            "head_movement": max(abs(pose.yaw - ref.yaw), abs(pose.pitch - ref.pitch)) >= s.nod_degrees,
        }[ch.kind]
        wrong = {  # the opposite movement: an answer, and not the one asked for
            "turn_left": pose.yaw - ref.yaw >= s.turn_degrees,
            "turn_right": ref.yaw - pose.yaw >= s.turn_degrees,
        }.get(ch.kind, False)
        if done:
            self._completed.append(ch.kind)
            self._pending.pop(0)
            self._challenge = None
            if self._pending:  # the next prompt follows at once
                self._issue(t, self._pending[0])
        elif wrong or t > ch.expires_at:
            self._miss(t, ch.kind)

    def _miss(self, t: float, kind: str) -> None:
        """A wrong or late answer: count it, then another kind (or fail the sequence)."""
        s = self.settings
        self._failed += 1
        self._challenge = None
        if self._failed >= s.max_challenge_failures:
            self._sequence_failed = True
            return
        # A missed blink is asked again; any other kind is replaced by another non-blink kind: a
        # replayed recording blinks by chance, so a blink must never replace what it cannot do.
        others = [k for k in answerable(s.challenge_pool, s) if k not in (kind, "blink")]
        self._pending[0] = self._rng.choice(others) if kind != "blink" and others else kind
        self._issue(t, self._pending[0])

    # -- score ----------------------------------------------------------------------------------

    def _parts(self) -> dict[str, float]:
        """Each signal's evidence in 0..1: what `liveness_update.signals` reports."""
        s = self.settings
        parts = {
            "blink": min(len(self._blink.blinks) / max(s.required_blinks, 1), 1.0),
            "nonrigid": float(np.clip((self._max_ratio - 0.5) / 0.5, 0.0, 1.0)),
        }
        if self._nonrigid_events < s.required_nonrigid_events:
            parts["nonrigid"] = min(parts["nonrigid"], 0.5)
        else:  # a counted deformation (a verified blink is one) is full evidence
            parts["nonrigid"] = 1.0
        if self._requested:
            parts["challenges"] = len(self._completed) / self._requested
        if self._pad:
            parts["pad"] = float(np.median(self._pad[-15:]))
        return parts

    def _fuse(self, parts: dict[str, float]) -> float:
        """One liveness_score. Challenges dominate when asked; MiniFASNet ("pad") adds a
        `pad_weight` share here (its veto is `presentation_attack`, on consecutive frames)."""
        s = self.settings
        if "challenges" in parts:
            core = 0.6 * parts["challenges"] + 0.2 * parts["blink"] + 0.2 * parts["nonrigid"]
            if parts["challenges"] >= 1.0 and parts["nonrigid"] >= 1.0:
                core = max(core, 0.8)  # all answered with a deforming face: live without a natural blink
        else:
            core = 0.55 * parts["blink"] + 0.45 * parts["nonrigid"]
        if "pad" in parts:
            return (1 - s.pad_weight) * core + s.pad_weight * parts["pad"]
        return core
