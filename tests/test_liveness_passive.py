"""The passive policy of door cameras (nobody to prompt): a blink in the approach window,
non-rigid motion and MiniFASNet as an advisory share of one liveness_score; chosen by the
session service for rtsp sessions, challenge-response for screens."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from api.keys import SESSION_SERVICES, STORE
from engine.antispoof import PassiveAntiSpoof, content_window, crop_window, unsuitable
from engine.face_engine import FaceEngine
from engine.liveness_settings import LivenessSettings
from engine.types import Box
from recognition.processor import FrameProcessor
from recognition.settings import RecognitionSettings
from sessions.live import open_live
from tests.conftest import FaceClient
from testkit.liveness_sources import LiveUser, Photo, Replay, drive
from testkit.media import letterbox, still_image, video_frames


def passive(engine: FaceEngine) -> FrameProcessor:
    return FrameProcessor(engine, RecognitionSettings(detect_every=3), LivenessSettings(), policy="passive")


def states(engine: FaceEngine, frames: Any) -> list[Any]:
    processor = passive(engine)
    try:
        return [processor.process(img, t).tracks[0].liveness for t, img in frames]
    finally:
        processor.close()


def test_live_video_passes_passively_with_an_advisory_pad_score(engine: FaceEngine) -> None:
    out = states(engine, video_frames(15.0, 2.5))
    assert all(s.challenge is None and s.challenges_required == 0 and s.policy == "passive" for s in out)
    first = next(i for i, s in enumerate(out) if s.passed)
    assert out[first].blink_count >= 1 and out[first].nonrigid_events >= 1
    assert out[first].t < 1.5
    parts = dict(out[-1].signals)
    assert set(parts) == {"blink", "nonrigid", "pad"}
    assert parts["pad"] > 0.9 and out[-1].pad_real is not None and out[-1].pad_real > 0.9  # live colour video
    assert out[-1].liveness_score >= 0.9


@pytest.mark.parametrize("moving", [False, True])
def test_photo_never_passes_passively(engine: FaceEngine, moving: bool) -> None:
    # (bench/liveness.py: 0 of 50 for each)
    run = drive(passive(engine), Photo(moving, random.Random(1)), 10.0, 4.0)
    assert run.passed_after is None and run.prompts == ()


def test_pad_never_decides_alone(engine: FaceEngine) -> None:
    # Letterboxed frames would score spoof on MiniFASNet (it reads the bars as a bezel): it is
    # shown the frame inside the bars, where the live face scores real, and passes.
    out = states(engine, ((t, letterbox(img)) for t, img in video_frames(15.0, 2.5)))
    assert all(s.pad_real is not None and s.pad_real > 0.9 for s in out[1:]) and not out[-1].presentation_attack
    assert any(s.passed for s in out)
    # A replayed recording blinks and deforms: passive liveness alone does not stop it (doors
    # have no prompt), which is why screens use challenges (BENCHMARKS.md).
    run = drive(passive(engine), Replay(random.Random(3)), 10.0, 5.0)
    assert run.passed_after is not None


def test_minifasnet_crop_rule_and_input_checks(engine: FaceEngine) -> None:
    # The box scaled about its centre, shifted (not padded) into the frame.
    assert crop_window(Box(10, 10, 49, 49), 640, 480, 2.7) == (0, 0, 108, 108)
    x1, y1, x2, y2 = crop_window(Box(300, 200, 339, 239), 640, 480, 4.0)
    assert (x2 - x1, y2 - y1) == (160, 160) and (x1 + x2) / 2 == pytest.approx(320, abs=1)
    img = still_image()
    assert unsuitable(img) is None
    assert unsuitable(letterbox(img)) == "padded"
    grey = np.repeat(img.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert unsuitable(grey) == "grayscale"
    model = PassiveAntiSpoof(engine.settings)
    box = engine.detector.detect(img, pad_retry=False)[0].box
    p = model.real_probability(img, box)
    assert p is not None and p > 0.9  # frame 0 of the live clip, as a digital file
    boxed = letterbox(img)
    boxed_face = engine.detector.detect(boxed, pad_retry=False)[0].box
    raw = model.score(boxed, boxed_face)
    assert raw is not None and raw < 0.1  # with the black bars in its window: "a screen"
    inside = model.real_probability(boxed, boxed_face)
    assert inside is not None and inside > 0.9  # cut to the content inside the bars: real
    assert content_window(boxed) is not None and content_window(np.zeros_like(img)) is None
    assert model.real_probability(grey, box) is None  # grayscale: never asked


@dataclass
class Frame:
    """A frame as a transport hands it to a live session."""

    img: np.ndarray
    pts: int | None
    time: float | None

    def pixels(self) -> np.ndarray:
        return self.img


async def test_door_camera_sessions_get_the_passive_policy(face_client: FaceClient) -> None:
    client, auth = await face_client()
    svc = client.app[SESSION_SERVICES]
    made = await client.app[STORE].client_by_key(auth["Authorization"].split()[1].split(":")[0])
    assert made is not None
    door = await open_live(svc, made.id, mode="identification", user_ref=None, require_liveness=True,
                           challenges=(), timeout_s=30, transport="rtsp", continuous=True)
    screen = await open_live(svc, made.id, mode="identification", user_ref=None, require_liveness=True,
                             challenges=(), timeout_s=30, transport="webrtc", continuous=True)
    assert door.params.policy == "passive" and door.params.challenges == ()
    assert screen.params.policy == "challenge" and screen.params.challenges == ("blink",)  # conftest's pool
    events: list[dict[str, Any]] = []
    door.add_listener(events.append)
    user = LiveUser(random.Random(1))
    for i in range(25):
        t = i / 10
        await door.handle(Frame(user.frame(t, None), i, t))
    updates = [e["payload"] for e in events if e["type"] == "liveness_update"]
    assert updates and all(u["liveness_policy"] == "passive" and u["challenge"] is None for u in updates)
    assert updates[-1]["pad_score"] > 0.9 and set(updates[-1]["signals"]) == {"blink", "nonrigid", "pad"}
    await door.close("closed_by_client")
    await screen.close("closed_by_client")
