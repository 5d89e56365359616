"""Frozen result types the engine hands to the outer layers (never loose dicts)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Box:
    """Axis-aligned face box in source-image pixels."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def as_list(self, ndigits: int = 1) -> list[float]:
        return [round(float(v), ndigits) for v in (self.x1, self.y1, self.x2, self.y2)]


@dataclass(frozen=True)
class Detection:
    """One detection (SCRFD or YuNet): box, confidence and the five keypoints (eyes, nose, mouth corners)."""

    box: Box
    score: float
    keypoints: FloatArray  # shape (5, 2)


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees estimated from landmarks; yaw > 0 means the face turned to its left."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Quality:
    """Quality verdict for one face; `score` in 0..1 and the obstacles that lowered it."""

    score: float
    sharpness: float
    brightness: float
    face_size: float
    pose: Pose
    obstacles: tuple[str, ...] = ()

    @property
    def acceptable(self) -> bool:
        return not self.obstacles


@dataclass(frozen=True)
class Face:
    """A detected face with its embedding (L2-normalised float32, the recogniser's dimension) and quality."""

    detection: Detection
    embedding: FloatArray
    quality: Quality
    landmarks: FloatArray | None = None  # (106, 2) when computed

    @property
    def box(self) -> Box:
        return self.detection.box


@dataclass(frozen=True)
class Match:
    """One gallery hit: cosine similarity and distance (1 - cosine)."""

    entry_id: int
    user_id: str
    name: str
    similarity: float

    @property
    def distance(self) -> float:
        return 1.0 - self.similarity


@dataclass(frozen=True)
class Analysis:
    """Everything found in one image, largest face first."""

    width: int
    height: int
    faces: tuple[Face, ...] = field(default_factory=tuple)

    @property
    def largest(self) -> Face | None:
        return self.faces[0] if self.faces else None


@dataclass(frozen=True)
class Sample:
    """One embedding kept for an enrollment template, with the quality and pose bin it came from."""

    embedding: FloatArray
    quality: float
    angle: str | None
