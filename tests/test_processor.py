"""The frame processor between detector runs: tracks follow the face by its landmarks."""

from __future__ import annotations

import json
from dataclasses import replace

from engine.face_engine import FaceEngine
from facestream.config import load_config
from recognition.payloads import faces_payload
from recognition.processor import FrameProcessor
from tests.media import letterbox, video_frames


def test_tracks_follow_the_face_between_detections(engine: FaceEngine) -> None:
    cfg = load_config(env={})
    processor = FrameProcessor(engine, replace(cfg.recognition, detect_every=3), cfg.liveness)
    frames = [(t, letterbox(img)) for t, img in video_frames(15.0, 4.0)]
    detected_runs = 0
    for t, img in frames:
        result = processor.process(img, t)
        (track,) = result.tracks
        assert track.track_id == 1  # one identity, one track over the whole clip
        payload = json.loads(json.dumps(faces_payload(None, (640, 480), result.tracks, {})))
        box = payload["faces"][0]["box"]
        (truth,) = engine.detector.detect(img, pad_retry=False)
        # A followed box stays on the face the detector would have found on this very frame.
        inter_w = min(box[2], truth.box.x2) - max(box[0], truth.box.x1)
        inter_h = min(box[3], truth.box.y2) - max(box[1], truth.box.y1)
        inter = max(0.0, inter_w) * max(0.0, inter_h)
        union = (box[2] - box[0]) * (box[3] - box[1]) + truth.box.width * truth.box.height - inter
        assert inter / union > 0.8, (t, box, truth.box)
        detected_runs += result.detected
    assert detected_runs == -(-len(frames) // 3)
