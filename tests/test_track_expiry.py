"""Tracks end when their face leaves or another person takes its place, and `faces` says so:
an overlay must never keep a departed person's box or name on the next one."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from engine.face_engine import FaceEngine
from facestream.config import load_config
from recognition.payloads import faces_payload
from recognition.processor import FrameProcessor
from testkit.data import DATA
from testkit.media import letterbox, video_frames


def _processor(engine: FaceEngine, **changes: object) -> FrameProcessor:
    cfg = load_config(env={})
    settings = replace(cfg.recognition, detect_every=3, track_max_missed=3, **changes)  # type: ignore[arg-type]
    return FrameProcessor(engine, settings, cfg.liveness)


def test_a_face_that_leaves_is_dropped_within_max_missed_frames(engine: FaceEngine) -> None:
    processor = _processor(engine)
    for t, img in video_frames(15.0, 1.5):
        result = processor.process(letterbox(img), t)
    assert [tr.track_id for tr in result.tracks] == [1]
    empty = np.zeros((480, 640, 3), np.uint8)
    left: list[tuple[int, tuple[int, ...]]] = []
    detector_ran = False
    for i in range(8):
        result = processor.process(empty, 2.0 + i / 15)
        detector_ran = detector_ran or result.detected
        if detector_ran:  # once the detector has missed it, the face is no longer followed
            assert result.tracks == ()
        payload = json.loads(json.dumps(faces_payload(None, (640, 480), result.tracks, {}, result.dropped_tracks)))
        if payload["left"]:
            left.append((i, tuple(payload["left"])))
    # At most detect_every - 1 followed frames, then track_max_missed frames unseen: said once,
    # long before the tracker's 1 s media-time age limit (15 frames here).
    assert len(left) == 1 and left[0][1] == (1,), left
    assert left[0][0] <= 2 + 3 - 1, left


@pytest.mark.parametrize("cap", [8, 3])
def test_another_person_in_the_same_place_gets_a_new_track(engine: FaceEngine, cap: int) -> None:
    """With cap 3 the first track has stopped sampling before the cut: the periodic identity
    check is what notices the new face."""
    processor = _processor(engine, max_samples=cap)
    for t, img in video_frames(15.0, 1.5):
        result = processor.process(letterbox(img), t)
    (first,) = result.tracks
    assert first.samples >= 3
    other = letterbox(cv2.imread(str(DATA / "faces" / "angelina_jolie" / "img5.jpg")))
    ids: list[int] = []
    dropped: list[int] = []
    for i in range(8):
        result = processor.process(other, 2.0 + i / 15)
        ids += [tr.track_id for tr in result.tracks]
        dropped += result.dropped_tracks
    assert 1 in dropped  # the first person's track ended at the cut...
    assert ids and ids[-1] != 1  # ...and the face now in view is a track of its own
    assert dropped.count(1) == 1
