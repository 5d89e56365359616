"""Liveness and tracking on real frames: the blink video passes, its still photo never does."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pytest

from engine.face_engine import FaceEngine
from engine.face_geometry import eye_aspect_ratio, planar_residual
from engine.liveness import LivenessState, LivenessTracker
from engine.liveness_settings import LivenessSettings
from engine.tracking import IouTracker
from engine.types import Box, FloatArray
from testkit.media import letterbox, still_frames, video_frames

Observation = tuple[float, Box, FloatArray, FloatArray]  # t, box, keypoints, landmarks


def observe(engine: FaceEngine, frames: Iterable[tuple[float, np.ndarray]]) -> list[Observation]:
    out = []
    for t, img in frames:
        dets = engine.detector.detect(img, pad_retry=False)
        if dets:
            out.append((t, dets[0].box, dets[0].keypoints, engine.landmarks.predict(img, dets[0].box)))
    return out


def replay(
    obs: list[Observation], settings: LivenessSettings, challenges: tuple[str, ...] = (), seed: int = 1
) -> list[LivenessState]:
    """Run the tracker + per-track liveness exactly as the frame loop does."""
    tracker = IouTracker()
    per_track: dict[int, LivenessTracker] = {}
    states = []
    for t, box, kps, lmk in obs:
        (tid,) = tracker.update([box], t).assignments
        live = per_track.setdefault(tid, LivenessTracker(tid, settings, challenges, random.Random(seed)))
        states.append(live.update(t, lmk, kps))
    return states


@pytest.fixture(scope="module")
def video_obs(engine: FaceEngine) -> list[Observation]:
    return observe(engine, video_frames(15.0))


@pytest.fixture(scope="module")
def warped_obs(engine: FaceEngine) -> list[Observation]:
    return observe(engine, still_frames(15.0, 10.0, moving=True))


def test_video_blinks_and_passes(video_obs: list[Observation]) -> None:
    assert len(video_obs) >= 200  # a face in every frame of the 14 s clip at 15 fps
    states = replay(video_obs, LivenessSettings())
    final = states[-1]
    assert {s.track_id for s in states} == {1}
    # Six short blinks (0.4, 1.7, 3.4, 4.7, 9.3, 10.0 s); the long closures (5.8-8.2 s,
    # 11.0-13.7 s) are not blinks.
    assert final.blink_count == 6
    assert final.nonrigid_events >= 2
    assert final.passed and final.liveness_score >= 0.7
    first_pass = next(s for (t, *_), s in zip(video_obs, states) if s.passed)
    assert first_pass.blink_count == 1  # one blink by default (liveness.required_blinks)
    assert first_pass.t < 1.0
    assert 0.30 < final.baseline_ear < 0.37


def test_video_letterboxed_to_640x480_still_passes(engine: FaceEngine) -> None:
    obs = observe(engine, ((t, letterbox(img)) for t, img in video_frames(15.0, 6.0)))
    final = replay(obs, LivenessSettings())[-1]
    assert final.blink_count >= 3
    assert final.passed


def test_static_photo_never_passes(engine: FaceEngine) -> None:
    obs = observe(engine, still_frames(15.0, 4.0, moving=False))
    assert len(obs) == 60
    states = replay(obs, LivenessSettings())
    assert not any(s.passed for s in states)
    final = states[-1]
    assert final.blink_count == 0 and final.nonrigid_events == 0 and final.static
    assert final.nonrigid_residual < 1e-3
    assert final.liveness_score < 0.1


def test_photo_moved_as_a_plane_never_passes(warped_obs: list[Observation]) -> None:
    assert len(warped_obs) == 150
    states = replay(warped_obs, LivenessSettings())
    assert not any(s.passed for s in states)
    final = states[-1]
    assert final.blink_count == 0
    assert final.nonrigid_events == 0, final.nonrigid_residual
    assert final.head_movement > 5  # it did move: only its planarity gives it away
    assert final.liveness_score < 0.4


def test_planar_residual_is_zero_for_an_exact_homography(video_obs: list[Observation]) -> None:
    lmk = video_obs[0][3]
    h = np.array([[0.9, 0.1, 20], [-0.05, 1.1, -10], [1e-4, 2e-4, 1]])
    pts = np.c_[lmk, np.ones(len(lmk))] @ h.T
    moved = (pts[:, :2] / pts[:, 2:]).astype(np.float32)
    assert planar_residual(lmk, moved) < 1e-4
    # Closing the eyes is a deformation no homography explains.
    closed = lmk.copy()
    closed[33:43, 1] = closed[33:43, 1].mean()
    closed[87:97, 1] = closed[87:97, 1].mean()
    assert planar_residual(lmk, closed) > 0.02
    assert eye_aspect_ratio(closed) < 0.05 < 0.3 < eye_aspect_ratio(lmk)


def test_blink_challenge_is_answered_after_the_prompt(video_obs: list[Observation]) -> None:
    states = replay(video_obs, LivenessSettings(), challenges=("blink",))
    issued = next(s.challenge for s in states if s.challenge is not None)
    assert issued.kind == "blink" and issued.prompt == "please_blink"
    done = next(s for s in states if s.challenges_completed)
    assert done.challenges_completed == ("blink",) and done.challenge is None
    assert states[-1].passed


def test_unanswered_turn_challenge_blocks_passing(video_obs: list[Observation]) -> None:
    settings = replace(LivenessSettings(), challenge_timeout_s=3.0, challenge_pool=("turn_left", "turn_right"),
                       max_challenge_failures=3)
    states = replay(video_obs, settings, challenges=("blink", "turn_left"), seed=3)
    final = states[-1]
    # The person in the clip blinks but never turns: each turn prompt times out and another is
    # issued, until the third miss fails the sequence (never a pass).
    assert final.blink_count == 6
    assert set(final.challenges_completed) <= {"blink"}
    kinds = {s.challenge.kind for s in states if s.challenge is not None}
    assert {"turn_left", "turn_right"} <= kinds
    assert final.challenges_failed == 3 and final.sequence_failed and final.challenge is None
    assert not any(s.passed for s in states)


def test_unknown_challenge_is_rejected() -> None:
    with pytest.raises(ValueError, match="smile_wide"):
        LivenessTracker(1, LivenessSettings(), ("blink", "smile_wide"))


def test_iou_tracker_keeps_ids_and_drops_stale_tracks() -> None:
    tracker = IouTracker(max_age_s=1.0)
    a, b = Box(0, 0, 100, 100), Box(300, 0, 400, 100)
    assert tracker.update([a, b], 0.0).assignments == (1, 2)
    moved = tracker.update([Box(305, 5, 405, 105), Box(5, 0, 105, 100)], 0.1)
    assert moved.assignments == (2, 1)
    only_a = tracker.update([Box(8, 0, 108, 100)], 1.5)
    assert only_a.assignments == (1,) and only_a.dropped == (2,)
    # A face far away is a new person with a new id; ids are never reused.
    assert tracker.update([Box(300, 300, 400, 400)], 1.6).assignments == (3,)
