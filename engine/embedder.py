"""ArcFace embeddings (insightface's ArcFaceONNX), L2-normalised float32[512]."""

from __future__ import annotations

import numpy as np
from insightface.model_zoo.arcface_onnx import ArcFaceONNX

from engine.alignment import norm_crop
from engine.models import open_session
from engine.settings import EngineSettings
from engine.types import Detection, FloatArray


class FaceEmbedder:
    def __init__(self, model_path: str, settings: EngineSettings) -> None:
        self._arcface = ArcFaceONNX(model_path, session=open_session(model_path, settings))  # type: ignore[arg-type]
        self.input_size = int(self._arcface.input_size[0])

    def align(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        return norm_crop(image, detection.keypoints, self.input_size)

    def embed_crops(self, crops: list[np.ndarray]) -> list[FloatArray]:
        """Embed aligned crops in one batch."""
        if not crops:
            return []
        feats = np.asarray(self._arcface.get_feat(crops), dtype=np.float32)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        feats = feats / np.maximum(norms, 1e-12)
        return [feats[i] for i in range(feats.shape[0])]

    def embed(self, image: np.ndarray, detection: Detection) -> FloatArray:
        return self.embed_crops([self.align(image, detection)])[0]
