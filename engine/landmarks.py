"""106-point 2D landmarks (insightface's Landmark model): eyes, brows, nose, mouth, contour."""

from __future__ import annotations

import numpy as np
from insightface.app.common import Face as _InsightFace
from insightface.model_zoo.landmark import Landmark

from engine.models import open_session
from engine.settings import EngineSettings
from engine.types import Box, FloatArray

# Points outlining the two eyes in the 2d106 layout (see DESIGN §3).
LEFT_EYE = tuple(range(33, 43))
RIGHT_EYE = tuple(range(87, 97))


class LandmarkModel:
    def __init__(self, model_path: str, settings: EngineSettings) -> None:
        self._model = Landmark(model_path, session=open_session(model_path, settings))  # type: ignore[arg-type]

    def predict(self, image: np.ndarray, box: Box) -> FloatArray:
        """(106, 2) points in image pixels."""
        holder = _InsightFace(bbox=np.array([box.x1, box.y1, box.x2, box.y2], dtype=np.float32))
        return np.asarray(self._model.get(image, holder), dtype=np.float32)[:, :2]
