"""Liveness test sources built from the real clip (blink_live.mp4) and its still photo.

- `LiveUser`: a responsive live person. Between prompts it shows the clip's open-eye footage (a
  person looking at the screen, not blinking); when a *blink* challenge appears it waits a
  human-like 0.3-0.8 s and then plays one of the clip's real blink segments. It cannot answer a
  challenge the clip has no footage for (turns, nods, smiles): those prompts run out.
- `Replay`: the clip played linearly (a recording held to the camera) from a random offset,
  whatever is asked.
- `Photo`: the still photo, held still or moved as a plane.

Every source answers `frame(t, challenge)` with a BGR image; `challenge` is what the server
last asked (kind and the media time it was issued), as a client would read it from a
`liveness_update` or a REST frame response.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from testkit.media import plane_warp, still_image, video_frames

if TYPE_CHECKING:
    from recognition.processor import FrameProcessor

CLIP_FPS = 30.0
# Clip times (s) measured on the MediaPipe blendshape closure at 30 fps (eyes closed ~0.07-0.2 s
# in each): every short blink with ~0.1 s of open eyes around it. The long closures (5.8-8.2 s,
# 11.0-13.8 s) are not blinks and are never shown by the live user.
BLINKS = ((0.30, 0.75), (1.55, 1.95), (3.30, 3.70), (4.55, 4.95), (9.15, 9.55), (9.90, 10.30))
OPEN = ((0.80, 1.50), (2.00, 3.25), (3.75, 4.50), (5.00, 5.70), (8.45, 9.10), (10.40, 10.90))


@dataclass(frozen=True)
class Asked:
    """The server's current prompt as the client saw it."""

    kind: str
    issued_at: float  # media time the prompt was issued (identifies it)


@cache
def clip() -> tuple[tuple[float, np.ndarray], ...]:
    """The clip at 30 fps (media time, BGR), decoded once per process."""
    return video_frames(CLIP_FPS, 14.0)


@cache
def _clip_times() -> tuple[float, ...]:
    return tuple(t for t, _ in clip())


def clip_frame(clip_t: float) -> np.ndarray:
    """The clip's frame showing at `clip_t` (its frames are not evenly spaced)."""
    i = bisect.bisect_right(_clip_times(), clip_t) - 1
    return clip()[max(i, 0)][1]


class LiveUser:
    """The responsive live person. `rng` draws reaction delays and which blink segment answers."""

    def __init__(self, rng: random.Random, delay: tuple[float, float] = (0.3, 0.8), answer_after: float = 0.0) -> None:
        """`answer_after`: prompts are ignored before this session time (a person who does not
        blink at first)."""
        self._rng = rng
        self._delay = delay
        self._answer_after = answer_after
        self._answered: set[float] = set()  # prompts (by issue time) already being answered
        self._blink: tuple[float, float, float] | None = None  # (session t it starts, clip start, clip end)
        self._idle = rng.randrange(len(OPEN))
        self._idle_start: float | None = None
        self.answers = 0  # blinks played to the end

    @property
    def prompts_answered(self) -> int:
        """Blink prompts this person started to answer."""
        return len(self._answered)

    def frame(self, t: float, asked: Asked | None) -> np.ndarray:
        return clip_frame(self.clip_time(t, asked))

    def clip_time(self, t: float, asked: Asked | None) -> float:
        """Which moment of the clip the person shows at session time `t`."""
        if asked is not None and asked.kind == "blink" and asked.issued_at not in self._answered \
                and t >= self._answer_after and self._blink is None:  # a blink under way is not restarted
            self._answered.add(asked.issued_at)
            start, end = self._rng.choice(BLINKS)
            self._blink = (t + self._rng.uniform(*self._delay), start, end)
        if self._blink is not None and t >= self._blink[0]:
            began, start, end = self._blink
            clip_t = start + (t - began)
            if clip_t <= end:
                return clip_t
            self._blink = None
            self.answers += 1
            self._idle_start = None
        return self._idle_time(t)

    def _idle_time(self, t: float) -> float:
        """Open-eye footage: one open segment after another, each played forward."""
        if self._idle_start is None:
            self._idle_start = t
        start, end = OPEN[self._idle]
        clip_t = start + (t - self._idle_start)
        if clip_t > end:
            self._idle = (self._idle + 1) % len(OPEN)
            self._idle_start = t
            clip_t = OPEN[self._idle][0]
        return clip_t


class Replay:
    """The clip played linearly from a random offset, looping; deaf to prompts."""

    def __init__(self, rng: random.Random) -> None:
        self._offset = rng.uniform(0.0, 14.0)

    def frame(self, t: float, asked: Asked | None) -> np.ndarray:
        return clip_frame(self.clip_time(t, asked))

    def clip_time(self, t: float, asked: Asked | None) -> float:
        return (self._offset + t) % 13.9


class Photo:
    """The still photo, held still or moved as a plane (shift, rotation, scale, tilt)."""

    def __init__(self, moving: bool, rng: random.Random | None = None) -> None:
        self._moving = moving
        self._phase = (rng or random.Random(0)).uniform(0.0, 10.0)

    def frame(self, t: float, asked: Asked | None) -> np.ndarray:
        img = still_image()
        return plane_warp(img, self.warp_time(t)) if self._moving else img

    def warp_time(self, t: float) -> float:
        """The plane's pose is a function of this time (testkit.media.plane_warp)."""
        return self._phase + t


def jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


class Source(Protocol):
    """Anything that shows a frame at session time `t`, having seen the prompt `asked`
    (these classes, and testkit/motion_sources.py's people on the motion clips)."""

    def frame(self, t: float, asked: Asked | None) -> np.ndarray: ...


@dataclass(frozen=True)
class Run:
    """One source through the frame processor: when liveness passed (media seconds after the
    first frame with a face), or None; and the prompts the server issued."""

    passed_after: float | None
    prompts: tuple[str, ...]
    sequence_failed: bool
    frames: int
    completed: tuple[str, ...] = ()  # the challenges answered, in order


def drive(processor: "FrameProcessor", source: Source, fps: float, seconds: float) -> Run:
    """Frames at `fps` for up to `seconds`, the source seeing each prompt as a client would."""
    asked: Asked | None = None
    first: float | None = None
    prompts: list[str] = []
    failed = False
    completed: tuple[str, ...] = ()
    try:
        for i in range(int(seconds * fps)):
            t = i / fps
            result = processor.process(source.frame(t, asked), t)
            if not result.tracks:
                continue
            live = result.tracks[0].liveness
            first = t if first is None else first
            ch = live.challenge
            if ch is not None and (asked is None or asked.issued_at != ch.issued_at):
                prompts.append(ch.kind)
            asked = Asked(ch.kind, ch.issued_at) if ch is not None else None
            failed = live.sequence_failed
            completed = tuple(live.challenges_completed)
            if live.passed:
                return Run(t - first, tuple(prompts), failed, i + 1, completed)
        return Run(None, tuple(prompts), failed, int(seconds * fps), completed)
    finally:
        processor.close()
