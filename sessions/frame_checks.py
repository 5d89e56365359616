"""A posted frame too poor to use (POOR_IMAGE_QUALITY, user_guide.md's error handling example):
said as an error with what to change, instead of the "no face" feedback a usable frame without a
face gets. Only for one frame posted alone (REST frames, process-image): a batch or a stream
simply moves on to its next frame."""

from __future__ import annotations

import numpy as np

from engine.face_engine import FaceEngine
from engine.quality import image_problems
from sessions.errors import SessionError

SUGGESTIONS = {
    "too_dark": "Improve the lighting: the whole image is too dark to find a face",
    "too_bright": "Avoid direct light or a bright background: the image is overexposed",
    "image_too_small": "Send a larger image: a face needs at least {min_size} px",
}


def frame_problems(engine: FaceEngine, pixels: np.ndarray, faces: int) -> tuple[str, ...]:
    """Worker-thread side: the problems of a frame in which no face was found (none otherwise)."""
    return () if faces else image_problems(pixels, engine.quality_settings)


def poor_image(engine: FaceEngine, problems: tuple[str, ...]) -> SessionError:
    min_size = engine.quality_settings.min_face_size
    return SessionError("POOR_IMAGE_QUALITY", "The image is too poor to find a face in: " + ", ".join(problems), {
        "problems": list(problems),
        "suggestions": [SUGGESTIONS[p].format(min_size=min_size) for p in problems],
    })
