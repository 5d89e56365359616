"""Cosine matching: 1:1 comparison and caller-supplied embeddings; the 1:N gallery lives in
engine/gallery_index.py (re-exported here for its many importers)."""

from __future__ import annotations

import numpy as np

from engine.errors import InvalidEmbeddingError
from engine.gallery_index import Gallery, GalleryEntry
from engine.types import FloatArray

__all__ = ["Gallery", "GalleryEntry", "cosine", "distance", "parse_embedding"]


def cosine(a: FloatArray, b: FloatArray) -> float:
    """Both inputs are L2-normalised, so the dot product is the cosine."""
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


def distance(a: FloatArray, b: FloatArray) -> float:
    return 1.0 - cosine(a, b)


def parse_embedding(values: object, dim: int, model_id: str = "") -> FloatArray:
    """Validate a caller-supplied embedding (exactly `dim` finite numbers: the recogniser's
    dimension) and normalise it."""
    if not isinstance(values, list) or len(values) != dim:
        got = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        made_by = f" (the size {model_id} embeddings have; /encode on this server makes them)" if model_id else ""
        raise InvalidEmbeddingError(f"encoding must be a JSON array of {dim} numbers{made_by}, got {got}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise InvalidEmbeddingError("encoding must contain only numbers")
    vec = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    if not np.isfinite(vec).all() or norm == 0.0:
        raise InvalidEmbeddingError("encoding must be finite and non-zero")
    return vec / norm
