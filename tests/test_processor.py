"""The frame processor between detector runs: tracks follow the face by its landmarks."""

from __future__ import annotations

import json
from dataclasses import replace

from engine.face_engine import FaceEngine
from engine.gallery_index import Gallery, GalleryEntry
from facestream.config import load_config
from recognition.authentication import StreamRecognizer
from recognition.decision import Judge
from recognition.payloads import faces_payload
from recognition.processor import FrameProcessor
from testkit.media import letterbox, video_frames


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


def test_a_track_waiting_for_liveness_is_judged_again_only_when_its_evidence_moves(engine: FaceEngine) -> None:
    """The clip's person is enrolled but asked for a challenge the clip never performs: the
    track waits for liveness. It is judged when it first has enough samples and again only when
    a sample is added (not on every frame: each judgement is a gallery fetch and a search)."""
    cfg = load_config(env={})
    frames = [(t, letterbox(img)) for t, img in video_frames(15.0, 6.0)]
    gallery = Gallery()
    gallery.add([GalleryEntry(1, "blinker", "Blinker", engine.embedding_of(frames[0][1]))])
    judge = Judge("identification", None, True, 0.6, 5, cfg.recognition)
    recognizer = StreamRecognizer(FrameProcessor(engine, cfg.recognition, cfg.liveness, ("turn_left",)), judge)
    judged: list[int] = []
    for t, img in frames:
        result = recognizer.observe(img, t)
        ready = recognizer.ready(result)
        assert recognizer.judge_tracks(ready, gallery) == []  # never live: never decided
        judged += [tr.samples for tr in ready]
    (track,) = result.tracks
    assert not track.liveness.passed and track.samples == cfg.recognition.max_samples
    decide_from = cfg.recognition.decide_samples
    assert judged == list(range(decide_from, cfg.recognition.max_samples + 1))  # once per new sample
    assert judge.judge(track, gallery, final=True) is not None  # the end of the session still answers
