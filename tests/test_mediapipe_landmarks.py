"""The MediaPipe Face Landmarker backend on real frames: blendshape blinks with the mesh EAR as a
cross-check, its planar test on the still photo, smile and pose fields, and explicit closing."""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pytest

from engine.face_engine import FaceEngine
from engine.liveness import FaceSignals, LivenessState, LivenessTracker
from engine.liveness_settings import LivenessSettings
from engine.mediapipe_landmarks import MeshLandmarker, MeshObservation, MeshPool, default_model_path
from facestream.config import ConfigError, load_config
from recognition.processor import FrameProcessor
from recognition.settings import RecognitionSettings
from testkit.media import still_frames, video_frames

MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"


def mesh_track(engine: FaceEngine, frames: Iterable[tuple[float, np.ndarray]]) -> list[tuple[float, MeshObservation]]:
    out = []
    with MeshLandmarker() as mesh:
        for t, img in frames:
            dets = engine.detector.detect(img, pad_retry=False)
            if dets:
                obs = mesh.observe(img, dets[0].box, t)
                if obs is not None:
                    out.append((t, obs))
    return out


def liveness(obs: list[tuple[float, MeshObservation]], settings: LivenessSettings | None = None) -> list[LivenessState]:
    tracker = LivenessTracker(1, settings or LivenessSettings())
    return [tracker.observe(t, FaceSignals.from_mesh(o)) for t, o in obs]


@pytest.fixture(scope="module")
def video_mesh(engine: FaceEngine) -> list[tuple[float, MeshObservation]]:
    return mesh_track(engine, video_frames(15.0))


def test_shipped_model_is_the_published_bundle() -> None:
    path = default_model_path()
    assert path.parent.name == "mediapipe" and path.parent.parent.name == "models"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256
    assert (path.parent / "README.md").read_text().count("Apache-2.0") >= 1


def test_video_blinks_from_blendshapes_checked_by_the_mesh(video_mesh: list[tuple[float, MeshObservation]]) -> None:
    assert len(video_mesh) >= 200
    first = video_mesh[0][1]
    assert first.landmarks.shape == (478, 2) and first.keypoints.shape == (5, 2)
    closures = np.array([o.eye_closure for _, o in video_mesh])
    ears = np.array([o.eye_aspect_ratio for _, o in video_mesh])
    assert np.median(closures) < 0.15 and closures.max() > 0.7
    # The two signals agree: closed frames by the blendshapes have a collapsed mesh EAR.
    assert ears[closures > 0.6].max() < 0.35 * np.median(ears)
    assert max(o.smile for _, o in video_mesh) < 0.2  # nobody smiles in the clip
    assert all(abs(o.pose.yaw) < 10 and abs(o.pose.pitch) < 10 for _, o in video_mesh)
    states = liveness(video_mesh)
    final = states[-1]
    # The six short blinks; the two long closures (5.8-8.2 s, 11.0-13.7 s) are not blinks.
    assert final.blink_count == 6
    assert final.nonrigid_events >= 2
    assert final.passed
    assert final.eye_closure is not None and final.smile is not None
    first_pass = next(i for i, s in enumerate(states) if s.passed)
    assert video_mesh[first_pass][0] < 2.5  # two blinks by 1.8 s


def test_video_at_10_fps_still_finds_every_blink(engine: FaceEngine) -> None:
    states = liveness(mesh_track(engine, video_frames(10.0, 5.2)))
    assert states[-1].blink_count == 4  # 0.4, 1.7, 3.4, 4.7 s


def test_blendshapes_alone_are_not_a_blink_when_the_mesh_disagrees(
        video_mesh: list[tuple[float, MeshObservation]]) -> None:
    # The cross-check: with an EAR threshold no closed mesh can reach, no blink is counted.
    states = liveness(video_mesh, replace(LivenessSettings(), blink_close_ratio=0.01))
    assert states[-1].blink_count == 0 and not states[-1].passed


@pytest.mark.parametrize("moving", [False, True])
def test_still_photo_never_passes_on_the_mesh(engine: FaceEngine, moving: bool) -> None:
    obs = mesh_track(engine, still_frames(15.0, 4.0, moving=moving))
    assert len(obs) == 60
    states = liveness(obs)
    assert not any(s.passed for s in states)
    final = states[-1]
    assert final.blink_count == 0 and final.nonrigid_events == 0
    assert final.nonrigid_residual < LivenessSettings().mesh_nonrigid_threshold
    if moving:
        assert final.head_movement > 5  # it moved; only its planarity gives it away


def test_landmarker_is_closed_explicitly(engine: FaceEngine) -> None:
    t, img = video_frames(15.0)[0]
    box = engine.detector.detect(img, pad_retry=False)[0].box
    mesh = MeshLandmarker()
    assert mesh.observe(img, box, t) is not None
    # An empty corner of the frame holds no face.
    from engine.types import Box
    assert mesh.observe(img, Box(0, 0, 40, 40), t + 0.1) is None
    mesh.close()
    mesh.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        mesh.observe(img, box, t + 0.2)


def test_a_landmarker_dropped_without_close_is_closed_by_its_finaliser(engine: FaceEngine) -> None:
    """A landmarker lost in a reference cycle (a teardown cancelled before it gave its tracks'
    landmarkers back) is closed when the collector finds it, through our finaliser: MediaPipe's own
    __del__ could run with its dispatcher already collected and hang the collecting thread (seen:
    the event loop stuck in `Garbage-collecting` -> FaceLandmarker.__del__ -> Future.result)."""
    t, img = video_frames(15.0)[0]
    box = engine.detector.detect(img, pad_retry=False)[0].box

    class Holder:  # a cycle, as tracks, processors and sessions make
        def __init__(self) -> None:
            self.mesh = MeshLandmarker()
            self.me = self

    holder = Holder()
    assert holder.mesh.observe(img, box, t) is not None
    inner = holder.mesh._landmarker  # MediaPipe's own object, kept to see it closed
    del holder
    gc.collect()
    assert inner._handle is None  # closed by the finaliser while its dispatcher still ran
    inner.__del__()  # what the collector will do later returns at once: nothing left to close


def test_processor_leases_a_landmarker_per_track_and_gives_it_back(engine: FaceEngine) -> None:
    pool = MeshPool(max_idle=1)
    # A turn the clip never makes: liveness stays undecided, so the track keeps its landmarker.
    processor = FrameProcessor(engine, RecognitionSettings(detect_every=3), LivenessSettings(), ("turn_left",),
                               meshes=pool)
    for t, img in video_frames(15.0, 1.0):
        result = processor.process(img, t)
    (track,) = result.tracks
    assert track.liveness.eye_closure is not None and track.liveness.baseline_ear > 0.2
    (agg,) = processor._tracks.values()
    mesh = agg.mesh
    assert mesh is not None and pool._idle == []
    processor.close()
    assert pool._idle == [mesh] and not mesh._closed
    with pytest.raises(RuntimeError, match="closed"):
        processor.process(img, 2.0)
    # The next session's track gets the same landmarker; its media time starts again at 0.
    again = FrameProcessor(engine, RecognitionSettings(), LivenessSettings(), meshes=pool)
    (track,) = again.process(video_frames(15.0, 1.0)[0][1], 0.0).tracks
    assert track.liveness.eye_closure is not None and track.liveness.eye_closure < 0.3
    assert pool._idle == []
    again.close()
    pool.close()
    assert mesh._closed and pool._idle == []
    legacy = FrameProcessor(engine, RecognitionSettings(), LivenessSettings(landmarks="2d106"))
    (track,) = legacy.process(img, 0.0).tracks
    assert track.liveness.eye_closure is None and track.liveness.smile is None
    legacy.close()


def test_a_track_whose_liveness_is_decided_gives_its_landmarker_back(engine: FaceEngine) -> None:
    """MediaPipe is what proves liveness; once a track has passed (final), 2d106 follows it."""
    pool = MeshPool(max_idle=1)
    processor = FrameProcessor(engine, RecognitionSettings(detect_every=3), LivenessSettings(), ("blink",), meshes=pool)
    states = []
    for t, img in video_frames(15.0, 4.0):
        (track,) = processor.process(img, t).tracks
        states.append(track.liveness)
    passed_at = next(i for i, s in enumerate(states) if s.passed)
    assert passed_at < len(states) - 10  # the clip blinks within its first 2 s
    assert all(s.passed for s in states[passed_at:])  # a decided liveness stays decided
    assert states[-1].frames == states[passed_at].frames  # ...and is no longer fed
    (agg,) = processor._tracks.values()
    assert agg.mesh is None and agg.settled and len(pool._idle) == 1
    assert track.track_id == 1 and track.samples >= 3  # the same track goes on sampling
    processor.close()
    pool.close()


def test_a_decided_track_with_all_its_samples_runs_no_landmark_model(engine: FaceEngine) -> None:
    """After liveness is decided and the sample cap is reached, the box comes from the detector
    alone (kept between its runs) and the landmark model no longer runs; sampling before the cap
    still runs it on detector frames and on frames where a sample is due."""
    cap = 12  # more than the track has when its liveness passes: some sampling follows
    processor = FrameProcessor(engine, RecognitionSettings(detect_every=3), LivenessSettings(), ("blink",),
                               sample_cap=cap)
    calls: list[int] = []
    predict = engine.landmarks.predict

    def counted(*args: object) -> object:
        calls.append(processor._frames - 1)  # the index of the frame being processed
        return predict(*args)  # type: ignore[arg-type]

    engine.landmarks.predict = counted  # type: ignore[method-assign]
    try:
        results = [processor.process(img, t) for t, img in video_frames(15.0, 6.0)]
    finally:
        del engine.landmarks.predict
    (agg,) = processor._tracks.values()
    assert agg.settled and agg.samples == cap
    passed = next(i for i, r in enumerate(results) if r.tracks[0].liveness.passed)
    done = next(i for i, r in enumerate(results) if r.tracks[0].samples == cap)
    assert passed < done < len(results) - 30
    assert calls and max(calls) == done  # 2d106 ran while samples were due, not after the last one
    assert all(i in calls for i, r in enumerate(results) if passed < i <= done and r.detected)
    assert all(r.timings.get("landmarks") is None for r in results[done + 1:])
    later = results[done + 1:]
    moved = [i for i in range(1, len(later)) if later[i].tracks[0].box != later[i - 1].tracks[0].box]
    assert moved and all(later[i].detected for i in moved)  # the box changes only when the detector ran
    assert [r.tracks[0].track_id for r in results] == [1] * len(results)
    processor.close()


def test_config_names_the_backend() -> None:
    assert load_config(env={}).liveness.landmarks == "mediapipe"
    assert load_config(env={"FACESTREAM__LIVENESS__LANDMARKS": "2d106"}).liveness.landmarks == "2d106"
    with pytest.raises(ConfigError, match="liveness.landmarks"):
        load_config(env={"FACESTREAM__LIVENESS__LANDMARKS": "dlib"})
