"""Face embeddings from any recogniser a profile names: align, normalise as its input spec
says, run the ONNX graph in one batch, L2-normalise. The dimension is the recogniser's
(ArcFace w600k_mbf: 512, Open Model Zoo re-identification: 256)."""

from __future__ import annotations

import numpy as np

from engine.alignment import norm_crop
from engine.models import open_session
from engine.profiles import RecognizerSpec
from engine.settings import EngineSettings
from engine.types import Detection, FloatArray


class FaceEmbedder:
    def __init__(self, spec: RecognizerSpec, settings: EngineSettings) -> None:
        self.spec = spec
        self._session = open_session(spec.model.path, settings)
        self._input = self._session.get_inputs()[0].name
        self.input_size = spec.input_size
        self.dim = spec.dim
        self.model_id = spec.model_id
        self._template = np.asarray(spec.template, np.float32)
        out_dim = self._session.get_outputs()[0].shape[-1]
        if isinstance(out_dim, int) and out_dim != spec.dim:
            raise ValueError(f"{spec.model.path.name} outputs {out_dim} values, the profile says {spec.dim}")

    def align(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        return norm_crop(image, detection.keypoints, self.input_size, self._template)

    def embed_crops(self, crops: list[np.ndarray]) -> list[FloatArray]:
        """Embed aligned crops in one batch."""
        if not crops:
            return []
        batch = np.stack(crops).astype(np.float32)
        if self.spec.rgb:
            batch = batch[..., ::-1]
        batch = ((batch - self.spec.mean) / self.spec.std).transpose(0, 3, 1, 2)
        feats = np.asarray(self._session.run(None, {self._input: np.ascontiguousarray(batch)})[0], dtype=np.float32)
        feats = feats.reshape(len(crops), -1)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        feats = feats / np.maximum(norms, 1e-12)
        return [feats[i] for i in range(feats.shape[0])]

    def embed(self, image: np.ndarray, detection: Detection) -> FloatArray:
        return self.embed_crops([self.align(image, detection)])[0]
