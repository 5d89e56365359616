"""Responsive people built from the real motion clips (shared/data/video/motions/, README there).

`Responder` plays one clip's idle footage between prompts and, when the server asks for a kind
it has footage for, waits a human-like reaction delay and plays that kind's segment once. A
prompt it has no footage for runs out, as with a person who does not follow it. Every source
answers `frame(t, asked)` like testkit/liveness_sources.py's sources (drive() runs any of them).

Segments are clip times (s) read off the per-frame signals of the real models (SCRFD +
MediaPipe Face Landmarker; `python -m testkit.motion_sources CLIP` prints them):

- smile_pyfeat.mp4: neutral 0-0.55 (mouthSmile 0.00, eye closure <= 0.10); smile >= 0.5 from
  0.63 to 2.30 (0.80-0.91 at its height); one real blink inside the smile: closure 0.54-0.58 at
  0.87-0.90, open again (< 0.3) at 1.00. One person who can blink and smile.
- turns_intel_female.gif (12.5 fps, face ~60 px): yaw +50 (turned to her right) at 0.25, frontal
  (-1.3) at 0.75, -29 (her left) at 1.08, frontal (+1.3) at 1.58, +23 at 1.83. She never blinks
  (closure <= 0.22).
- tilts_wink_tfjs.mp4: head tilts toward each shoulder and a wink; negatives only (tests).
No clip shows a nod: `nod` is covered by the simulator tests of engine/liveness.py only.
"""

from __future__ import annotations

import bisect
import random
import sys
from dataclasses import dataclass, field
from functools import cache

import av
import numpy as np

from testkit.data import DATA
from testkit.liveness_sources import Asked

MOTIONS = DATA / "video" / "motions"
SMILE_CLIP = "smile_pyfeat.mp4"
TURN_CLIP = "turns_intel_female.gif"
TILT_CLIP = "tilts_wink_tfjs.mp4"


@cache
def motion_frames(name: str) -> tuple[tuple[float, np.ndarray], ...]:
    """Every decoded frame of a motion clip: (clip time, BGR), decoded once per process."""
    with av.open(str(MOTIONS / name)) as container:
        return tuple((float(f.time or 0.0), f.to_ndarray(format="bgr24")) for f in container.decode(video=0))


@cache
def _times(name: str) -> tuple[float, ...]:
    return tuple(t for t, _ in motion_frames(name))


def motion_frame(name: str, clip_t: float) -> np.ndarray:
    """The frame of clip `name` showing at `clip_t`."""
    i = bisect.bisect_right(_times(name), clip_t + 1e-6) - 1
    return motion_frames(name)[max(i, 0)][1]


@dataclass(frozen=True)
class Footage:
    """One person's clip: what they show while waiting, and the segment that answers each kind."""

    clip: str
    idle: tuple[float, float]
    answers: dict[str, tuple[float, float]] = field(default_factory=dict)
    # kind -> (another clip, start, end): another person's footage of a motion this one lacks.
    # For signal-level runs only (bench/liveness.py): on frames, the tracker sees a new face.
    borrowed: dict[str, tuple[str, float, float]] = field(default_factory=dict)


# The smile clip's person: a blink (0.80-1.10 holds the blink with open eyes around it) and a
# smile from neutral (0.55-1.60: the rise, then the held smile).
SMILER = Footage(SMILE_CLIP, (0.0, 0.55), {"blink": (0.80, 1.10), "smile": (0.55, 1.60)})
# The turn clip's person: frontal at 0.75; to her left (yaw down to -29) 0.75-1.17, to her right
# (yaw from +1.3 up to +23) 1.58-1.91. Idle is the one frontal frame, held.
TURNER = Footage(TURN_CLIP, (0.75, 0.80), {"turn_left": (0.75, 1.17), "turn_right": (1.58, 1.91)})


class Responder:
    """A responsive person from one clip. `rng` draws the reaction delay of each answer."""

    def __init__(self, footage: Footage, rng: random.Random, delay: tuple[float, float] = (0.3, 0.8)) -> None:
        self.footage = footage
        self._rng = rng
        self._delay = delay
        self._answered: set[float] = set()
        self._playing: tuple[float, str, float, float] | None = None  # (session t it starts, clip, start, end)
        self._idle_start: float | None = None
        self.answered: list[str] = []  # kinds whose segment started

    def frame(self, t: float, asked: Asked | None) -> np.ndarray:
        return motion_frame(*self.moment(t, asked))

    def moment(self, t: float, asked: Asked | None) -> tuple[str, float]:
        """Which clip, and which moment of it, the person shows at session time `t`."""
        f = self.footage
        if asked is not None and asked.issued_at not in self._answered and self._playing is None \
                and (asked.kind in f.answers or asked.kind in f.borrowed):
            self._answered.add(asked.issued_at)
            self.answered.append(asked.kind)
            clip, start, end = (f.clip, *f.answers[asked.kind]) if asked.kind in f.answers else f.borrowed[asked.kind]
            self._playing = (t + self._rng.uniform(*self._delay), clip, start, end)
        if self._playing is not None and t >= self._playing[0]:
            began, clip, start, end = self._playing
            clip_t = start + (t - began)
            if clip_t <= end:
                return clip, clip_t
            self._playing = None
            self._idle_start = None
        if self._idle_start is None:
            self._idle_start = t
        start, end = f.idle
        span = max(end - start, 1e-3)
        return f.clip, start + (t - self._idle_start) % span


class Linear:
    """A clip (or one segment of it) played forward once, deaf to prompts; holds its last frame."""

    def __init__(self, clip: str, start: float = 0.0, end: float | None = None) -> None:
        self.clip, self.start = clip, start
        self.end = _times(clip)[-1] if end is None else end

    def frame(self, t: float, asked: Asked | None) -> np.ndarray:
        return motion_frame(self.clip, min(self.start + t, self.end))


def _print_signals(name: str) -> None:
    """Per-frame signals of a clip through the real models: how the segments above were read."""
    from engine.face_engine import FaceEngine
    from engine.liveness import FaceSignals
    from engine.mediapipe_landmarks import MeshLandmarker
    from facestream.config import load_config

    cfg = load_config(env={})
    engine = FaceEngine(cfg.engine, cfg.quality)
    with MeshLandmarker() as mesh:
        for t, img in motion_frames(name):
            dets = engine.detector.detect(img)
            obs = mesh.observe(img, dets[0].box, t) if dets else None
            if obs is None:
                print(f"{t:5.2f} no face")
                continue
            s = FaceSignals.from_mesh(obs)
            print(f"{t:5.2f} yaw {s.pose.yaw:6.1f} pitch {s.pose.pitch:6.1f} roll {s.pose.roll:6.1f} "
                  f"closure {s.eye_closure or 0:.2f} ear {s.eye_ratio:.3f} smile {s.smile or 0:.2f}")


if __name__ == "__main__":
    for clip_name in sys.argv[1:]:
        print("==", clip_name)
        _print_signals(clip_name)
