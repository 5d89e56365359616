"""106-point 2D landmarks (insightface's Landmark model): eyes, brows, nose, mouth, contour."""

from __future__ import annotations

import numpy as np

from engine.models import open_session
from engine.settings import EngineSettings
from engine.types import Box, FloatArray

# Points outlining the two eyes in the 2d106 layout (see DESIGN §3).
LEFT_EYE = tuple(range(33, 43))
RIGHT_EYE = tuple(range(87, 97))


class LandmarkModel:
    def __init__(self, model_path: str, settings: EngineSettings) -> None:
        # insightface is imported here, not at module level: the permissive profile never needs it.
        from insightface.app.common import Face as InsightFace
        from insightface.model_zoo.landmark import Landmark

        self._holder = InsightFace
        self._model = Landmark(model_path, session=open_session(model_path, settings))

    def predict(self, image: np.ndarray, box: Box) -> FloatArray:
        """(106, 2) points in image pixels."""
        holder = self._holder(bbox=np.array([box.x1, box.y1, box.x2, box.y2], dtype=np.float32))
        return np.asarray(self._model.get(image, holder), dtype=np.float32)[:, :2]
